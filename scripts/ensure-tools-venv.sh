#!/usr/bin/env bash
# Creates the tools venv (default <repo>/.venv) and installs the pinned Python tools the tests
# need (moto for the AWS adapter tests, checkov/boto3/awscli for the infra checks) when a pin is
# not satisfied. Idempotent and quick when everything is already there.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IMGCAP_VENV:-$REPO/.venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  python3 -m venv "$VENV"
fi
# Install only when a pin is not satisfied (idempotent; leaves other packages in the venv alone).
if "$VENV/bin/python" - "$REPO/infra/requirements-infra.txt" <<'PY'
import re, sys
from importlib.metadata import PackageNotFoundError, version
missing = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line)
    if not m:
        sys.exit(f"unsupported requirement line: {line}")
    try:
        if version(m.group(1)) != m.group(3):
            missing.append(line)
    except PackageNotFoundError:
        missing.append(line)
print("tools venv: " + ("missing " + ", ".join(missing) if missing else "all pins satisfied"))
sys.exit(1 if missing else 0)
PY
then :; else
  "$VENV/bin/python" -m pip install --quiet -r "$REPO/infra/requirements-infra.txt"
fi
