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

step "Rust workspace: build and run every test (dev profile, built once)"
cargo test --workspace --locked

if [ -x scripts/test-infra.sh ]; then
  step "Infrastructure: terraform validate/fmt, checkov, IAM policy checks, emulator apply"
  scripts/test-infra.sh
fi
