# shellcheck shell=bash
# Sourced by scripts/acceptance.sh and scripts/fire-alarms.sh (after scripts/lib/env.sh): sets PY
# to a Python that has boto3: IMGCAP_PYTHON, else the tools venv (IMGCAP_VENV, default
# <repo>/.venv, made by scripts/ensure-tools-venv.sh), else python3.
PY="${IMGCAP_PYTHON:-}"
if [ -z "$PY" ]; then
  PY=python3
  if [ -x "${IMGCAP_VENV:-$REPO/.venv}/bin/python" ]; then
    PY="${IMGCAP_VENV:-$REPO/.venv}/bin/python"
  fi
fi
"$PY" -c 'import boto3' 2>/dev/null \
  || die "$PY cannot import boto3 (set IMGCAP_PYTHON, or run scripts/ensure-tools-venv.sh)"
