#!/usr/bin/env python3
"""One-shot provisioning for docker-compose.yml: the emulated AWS resources, then the web app's
environment for them.

1. waits for moto (the AWS-protocol emulator) on MOTO_ENDPOINT;
2. `terraform apply` of infra/terraform/envs/emulator against it - the same modules as
   production - with its state in STATE_DIR (a named volume: a second `docker compose up`
   refreshes it, and re-creates whatever a restarted moto lost);
3. lifts the image bucket's policy: moto evaluates its conditional Deny statements as
   unconditional and would refuse every object call (real S3 evaluates them correctly;
   scripts/tf/emulator_verify.py checks the policy before lifting it in the test suite);
4. writes the web app's AWS-mode settings (terraform output web_environment) to ENV_FILE in
   docker's --env-file format; the web service names it in IMGCAP_ENV_FILE and starts once this
   service has completed.

Standard library only: the image is a Python base with terraform beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ENDPOINT = os.environ.get("MOTO_ENDPOINT", "http://127.0.0.1:5000")
ROOT = Path(os.environ.get("TERRAFORM_ROOT", "/opt/imgcap/infra/terraform/envs/emulator"))
STATE = Path(os.environ.get("STATE_DIR", "/var/lib/imgcap-provision")) / "terraform.tfstate"
ENV_FILE = Path(os.environ.get("ENV_FILE", "/run/imgcap-aws/web.env"))
# What the web service takes from Terraform: the names of the emulated resources. The rest of
# web_environment stays as docker-compose.yml sets it: the captioner chain is the inference
# server (the emulated SageMaker endpoint cannot caption), and sign-in uses local accounts (the
# emulated Cognito's issuer URL is not reachable).
RESOURCE_NAMES = (
    "IMGCAP_RETENTION_DAYS", "IMGCAP_S3_BUCKET", "IMGCAP_S3_KMS_KEY_ARN",
    "IMGCAP_DYNAMODB_TABLE", "IMGCAP_DYNAMODB_JOBS_INDEX", "IMGCAP_SQS_QUEUE_URL",
    "IMGCAP_SQS_DLQ_URL", "IMGCAP_SAGEMAKER_ENDPOINT", "IMGCAP_SESSION_KEY_SECRET_ARN",
    "IMGCAP_REKOGNITION_LABELS", "IMGCAP_METRICS_CLOUDWATCH_NAMESPACE",
    "IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT",
)


def log(message: str) -> None:
    print(f"provision: {message}", flush=True)


def wait_for_moto(seconds: int = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{ENDPOINT}/moto-api/", timeout=2):
                return
        except (urllib.error.URLError, OSError) as err:
            if time.monotonic() > deadline:
                sys.exit(f"provision: moto does not answer on {ENDPOINT} after {seconds} s: {err}")
            time.sleep(1)


def terraform(*args: str, capture: bool = False) -> str:
    cmd = ["terraform", f"-chdir={ROOT}", *args]
    result = subprocess.run(cmd, check=False, text=True,
                            stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        sys.exit(f"provision: `{' '.join(cmd)}` failed with exit status {result.returncode}")
    return result.stdout or ""


def lift_bucket_policy(bucket: str) -> None:
    # moto accepts unsigned requests, so no SDK is needed for this one call.
    request = urllib.request.Request(f"{ENDPOINT}/{bucket}?policy", method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status not in (200, 204):
            sys.exit(f"provision: deleting the policy of {bucket} answered {response.status}")


def write_env(environment: dict[str, object]) -> None:
    missing = [key for key in RESOURCE_NAMES if key not in environment]
    if missing:
        sys.exit(f"provision: terraform output web_environment lacks {', '.join(missing)}")
    # Names, ARNs and URLs: no newlines, so a plain NAME=value line each.
    lines = [f"{key}={environment[key]}" for key in RESOURCE_NAMES]
    ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: the web app never reads half a file.
    partial = ENV_FILE.with_suffix(".partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.chmod(0o644)
    partial.replace(ENV_FILE)


def main() -> None:
    log(f"waiting for moto on {ENDPOINT}")
    wait_for_moto()
    STATE.parent.mkdir(parents=True, exist_ok=True)
    variables = ["-var", f"emulator_endpoint={ENDPOINT}", f"-state={STATE}"]
    log("terraform apply envs/emulator")
    terraform("apply", "-auto-approve", "-input=false", "-no-color", *variables)
    outputs = json.loads(terraform("output", f"-state={STATE}", "-json", capture=True))
    bucket = outputs["bucket_name"]["value"]
    lift_bucket_policy(bucket)
    log(f"lifted the bucket policy of {bucket} (moto mis-evaluates conditional Deny)")
    write_env(outputs["web_environment"]["value"])
    log(f"the web app's environment is in {ENV_FILE}")


if __name__ == "__main__":
    main()
