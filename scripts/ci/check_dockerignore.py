"""Check what .dockerignore lets into the build context of Dockerfile.web / Dockerfile.inference.

The context is the repository root. Evaluated on the files git tracks plus a few that exist only
locally (.env, state, caches), with Docker's rules: patterns are relative to the root, `*` and `?`
stay within one path element, `**` spans any number, a matched directory excludes everything
below it, `!pattern` re-includes, and the last matching line wins.

Required in the context: the workspace manifest and lock file, and every workspace member's
Cargo.toml and sources (cargo reads every member's manifest and declared targets, even for
`cargo build -p one-crate`). Required out of it: VCS data, build output, virtual environments,
Terraform state and plugins, test artifacts, .env files, the embedded mode's default data
directory (`data/`, with the generated signing key) and the Dockerfiles themselves.

    python scripts/ci/check_dockerignore.py
"""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MUST_EXCLUDE = [
    ".git/HEAD",
    "target/debug/imgcap-webapp",
    "webapp/target/x",
    ".venv/bin/python",
    "infra/terraform/envs/dev/terraform.tfstate",
    "infra/terraform/envs/dev/.terraform/providers/x",
    "test-artifacts/infra/x.log",
    ".env",
    "webapp/.env",
    "data/secrets/signing-key",
    "data/imgcap.sqlite3",
    "Dockerfile.web",
    "Dockerfile.inference",
]


def pattern_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def rules():
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        yield negate, pattern_regex(pattern.strip("/"))


RULES = list(rules())


def excluded(path):
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for negate, regex in RULES:
        if any(regex.match(p) for p in prefixes):
            verdict = not negate
    return verdict


def main():
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    members = manifest["workspace"]["members"]
    required = ["Cargo.toml", "Cargo.lock"]
    for member in members:
        required += [
            f
            for f in tracked
            if f.startswith(f"{member}/") and (f == f"{member}/Cargo.toml" or "/src/" in f
                                               or f.startswith((f"{member}/benches/", f"{member}/examples/")))
        ]
        if f"{member}/Cargo.toml" not in required:
            required.append(f"{member}/Cargo.toml")
    problems = [f"excluded but needed by cargo: {f}" for f in required if excluded(f)]
    problems += [f"not excluded: {f}" for f in MUST_EXCLUDE if not excluded(f)]
    context = [f for f in tracked if not excluded(f)]
    print(f"workspace members: {', '.join(members)}")
    print(f"{len(required)} needed files in the context, {len(MUST_EXCLUDE)} paths kept out; "
          f"context holds {len(context)} of {len(tracked)} repository files")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
