#!/usr/bin/env bash
# The one command that runs every test of the project (README: "Run the tests").
# On a fresh machine it first installs what the tests need, then runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CHECKPOINT_DISABLE=1

step() { printf '\n==> %s\n' "$*"; }

step "Python tools the tests use (moto AWS emulator, checkov, awscli) into .venv"
scripts/ensure-tools-venv.sh
# The web app's browser end-to-end test drives headless Chromium; it skips (saying so) without it.
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "Installing chromium and chromium-driver for the browser end-to-end test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver ||
      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }
  else
    echo "note: chromium/chromedriver missing and not root: the browser end-to-end test will skip"
  fi
fi

step "Rust workspace: build and run every test (dev profile, built once)"
cargo test --workspace --locked

if [ -x scripts/test-infra.sh ]; then
  step "Infrastructure: terraform validate/fmt, checkov, IAM policy checks, emulator apply"
  scripts/test-infra.sh
fi
