#!/usr/bin/env python3
"""Black-box tests of scripts/seal-plan.sh against a fake `aws` on PATH that plays KMS: its
data keys are random, a key it "encrypts" can only be decrypted with the same encryption
context, and it refuses a key id it does not know. openssl and the script are the real ones.
scripts/test-infra.sh runs them:

    python3 scripts/test_seal_plan.py
"""
import hashlib
import os
import pathlib
import subprocess
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "seal-plan.sh"
KEY_ID = "alias/imgcap-tfstate"

# The blob is base64 of "<context>|<plaintext key>": decrypt gives the key back only for the
# same context, as KMS does for a ciphertext bound to an encryption context.
FAKE_AWS = r'''
import base64, os, sys
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1] if name in args else None
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
if args[:2] == ["kms", "generate-data-key"]:
    if opt("--key-id") != "alias/imgcap-tfstate":
        sys.stderr.write("An error occurred (NotFoundException): Alias not found\n")
        sys.exit(254)
    plaintext = base64.b64encode(os.urandom(32)).decode()
    blob = base64.b64encode((opt("--encryption-context") + "|" + plaintext).encode()).decode()
    print(plaintext + "\t" + blob)
    sys.exit(0)
if args[:2] == ["kms", "decrypt"]:
    blob = open(opt("--ciphertext-blob")[len("fileb://"):], "rb").read().decode()
    context, _, plaintext = blob.partition("|")
    if context != opt("--encryption-context"):
        sys.stderr.write("An error occurred (InvalidCiphertextException)\n")
        sys.exit(254)
    print(plaintext)
    sys.exit(0)
sys.exit(2)
'''

# Stands in for a saved plan: binary, and with a secret in it.
PLAN_BYTES = b"PK\x03\x04tfplan\x00" + b"session_key=s3cr3t-value-from-the-state\n" * 50


class SealPlanTest(unittest.TestCase):
    def setUp(self):
        self.dir = pathlib.Path(tempfile.mkdtemp())
        bin_dir = self.dir / "bin"
        bin_dir.mkdir()
        aws = bin_dir / "aws"
        aws.write_text("#!/usr/bin/env python3\n" + FAKE_AWS)
        aws.chmod(0o755)
        self.log = self.dir / "aws.log"
        self.env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_LOG=str(self.log))
        self.plan = self.dir / "plan" / "release.tfplan"
        self.plan.parent.mkdir()
        self.plan.write_bytes(PLAN_BYTES)

    def run_script(self, *args):
        return subprocess.run(["bash", str(SCRIPT), *args], env=self.env,
                              capture_output=True, text=True, check=False)

    def seal(self, env="prod"):
        result = self.run_script("seal", "--env", env, "--kms-key", KEY_ID, str(self.plan))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip()

    def test_seal_then_open_gives_back_the_same_plan(self):
        digest = self.seal()
        self.assertEqual(digest, hashlib.sha256(PLAN_BYTES).hexdigest())
        self.assertFalse(self.plan.exists(), "the plaintext plan is removed")
        sealed = pathlib.Path(f"{self.plan}.sealed").read_bytes()
        self.assertNotIn(b"s3cr3t", sealed)
        self.assertNotIn(b"tfplan", sealed)
        result = self.run_script("open", "--env", "prod", "--sha256", digest, str(self.plan))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.plan.read_bytes(), PLAN_BYTES)
        self.assertIn("purpose=terraform-plan,environment=prod", self.log.read_text())

    def test_a_plan_sealed_for_dev_does_not_open_as_prod(self):
        self.seal(env="dev")
        result = self.run_script("open", "--env", "prod", str(self.plan))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("would not decrypt the plan's key for environment prod", result.stderr)
        self.assertFalse(self.plan.exists())

    def test_a_plan_with_another_digest_is_refused_and_removed(self):
        self.seal()
        result = self.run_script("open", "--env", "prod", "--sha256", "0" * 64, str(self.plan))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("not " + "0" * 64, result.stderr)
        self.assertFalse(self.plan.exists(), "a refused plan is not left for terraform apply")

    def test_a_damaged_sealed_plan_is_refused(self):
        self.seal()
        sealed = pathlib.Path(f"{self.plan}.sealed")
        # Cut inside the last cipher block: never a whole number of blocks, never decryptable.
        sealed.write_bytes(sealed.read_bytes()[:-5])
        result = self.run_script("open", "--env", "prod", str(self.plan))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("damaged", result.stderr)
        self.assertFalse(self.plan.exists())

    def test_refusals_before_anything_is_written(self):
        result = self.run_script("seal", "--env", "prod", "--kms-key", "alias/other", str(self.plan))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("KMS gave no data key for alias/other", result.stderr)
        self.assertEqual(self.plan.read_bytes(), PLAN_BYTES, "the plan stays as it was")
        self.assertFalse(pathlib.Path(f"{self.plan}.sealed").exists())
        for args, message in [
            (["seal", "--env", "prod", str(self.plan)], "seal needs --kms-key"),
            (["seal", "--env", "Prod!", "--kms-key", KEY_ID, str(self.plan)], "--env must name"),
            (["seal", "--env", "prod", "--kms-key", KEY_ID, str(self.dir / "absent")], "no plan at"),
            (["open", "--env", "prod", str(self.dir / "absent")], "no sealed plan at"),
        ]:
            result = self.run_script(*args)
            self.assertNotEqual(result.returncode, 0, args)
            self.assertIn(message, result.stderr, args)


if __name__ == "__main__":
    unittest.main(verbosity=2)
