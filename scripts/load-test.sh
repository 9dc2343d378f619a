#!/usr/bin/env bash
# load-test: the embedded default web app on this machine under N concurrent users
# (docs/load-test.md). Builds the web app and the load test in release, starts the app in a
# temporary data directory, creates one API token per user, runs the load test once per user
# count, stops the app and removes the directory.
#
#   scripts/load-test.sh [USERS...]          default: 10 50
#
# IMGCAP_LOAD_PORT         port of the app (default 8085)
# IMGCAP_LOAD_DURATION     seconds each run keeps uploading (default 60)
# IMGCAP_LOAD_RESULTS      file the JSON lines are appended to (default test-artifacts/load-test.jsonl)
# IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR   model (default: the tiny test checkpoint)
# IMGCAP_RATE_LIMIT_UPLOADS_PER_HOUR    default 100000 here: a user uploads faster than the
#                                       app's 60/hour, which would answer 429
# Any other IMGCAP_* setting is passed to the app (e.g. IMGCAP_WORKER_CONCURRENCY).
# Exit status 1 if any run had errors.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
USERS=("$@")
[ ${#USERS[@]} -gt 0 ] || USERS=(10 50)
PORT="${IMGCAP_LOAD_PORT:-8085}"
RESULTS="${IMGCAP_LOAD_RESULTS:-$REPO/test-artifacts/load-test.jsonl}"

# One package at a time: built together, their features unify and every shared crate builds again.
cargo build --release --locked -p imgcap-webapp
cargo build --release --locked -p imgcap-e2e-smoke
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"

DATA="$(mktemp -d)"
APP_PID=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [ -z "$APP_PID" ] || { kill "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null; } || true
  rm -rf "$DATA"
}
trap cleanup EXIT

# A missing configuration file: defaults plus the environment only.
export IMGCAP_CONFIG="$DATA/none.toml"
export IMGCAP_MODE=embedded
export IMGCAP_DATA_DIR="$DATA"
export IMGCAP_LISTEN_ADDR="127.0.0.1:$PORT"
# The metrics listener on a free port: a running compose stack may hold the default 9090.
export IMGCAP_METRICS_LISTEN_ADDR=127.0.0.1:0
export IMGCAP_PUBLIC_BASE_URL="http://127.0.0.1:$PORT"
export IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR="${IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR:-$REPO/models/tests/fixtures/tiny-blip}"
export IMGCAP_RATE_LIMIT_UPLOADS_PER_HOUR="${IMGCAP_RATE_LIMIT_UPLOADS_PER_HOUR:-100000}"
export RUST_LOG="${RUST_LOG:-warn}"

MAX=0
for n in "${USERS[@]}"; do [ "$n" -gt "$MAX" ] && MAX="$n"; done
for i in $(seq 1 "$MAX"); do
  "$BIN/imgcap-webapp" create-token --user "load-$i" | tail -n 1
done >"$DATA/tokens"

"$BIN/imgcap-webapp" >"$DATA/app.log" 2>&1 &
APP_PID=$!

mkdir -p "$(dirname "$RESULTS")"
status=0
for n in "${USERS[@]}"; do
  "$BIN/load_test" --base-url "http://127.0.0.1:$PORT" --tokens-file "$DATA/tokens" \
    --users "$n" --duration-secs "${IMGCAP_LOAD_DURATION:-60}" | tee -a "$RESULTS" || status=1
done
if [ "$status" -ne 0 ]; then
  echo "errors: last lines of the app's log" >&2
  tail -n 40 "$DATA/app.log" >&2
fi
exit "$status"
