#!/usr/bin/env bash
# Dry runs of scripts/acceptance.sh and scripts/fire-alarms.sh against the emulator stack.
#
#   scripts/lib/emulator-dry-run.sh OUTPUTS_JSON
#
# Called by scripts/test-infra.sh (step 11, emulator) with test-artifacts/infra/emulator.env
# exported (the web app's AWS-mode settings for the resources Terraform created in moto,
# AWS_ENDPOINT_URL=<moto>, dummy credentials) and the emulator root's `terraform output -json`.
#
# Starts the real web app (IMGCAP_WEBAPP_BIN, else imgcap-webapp built with cargo) against those resources on a
# loopback port, with Cognito sign-in pointed at the emulated user pool (its tokens carry the
# real issuer; the app reads the keys from moto's JWKS URL) and the tiny test model as the
# captioner (the emulated SageMaker endpoint cannot caption). Then:
#   1. scripts/acceptance.sh --dry-run against it;
#   2. scripts/fire-alarms.sh --dry-run against the endpoint's alarms in moto, with the faulty
#      requests sent to a local imgcap-inference --fault-injection when one is built
#      (IMGCAP_INFERENCE_BIN, else target/*/imgcap-inference if it knows the flag).
# Both scripts say which steps the emulator cannot serve. Exit 1 if either failed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUTPUTS="${1:?usage: scripts/lib/emulator-dry-run.sh OUTPUTS_JSON}"
[ -f "$OUTPUTS" ] || { echo "no outputs file $OUTPUTS" >&2; exit 2; }
: "${AWS_ENDPOINT_URL:?source test-artifacts/infra/emulator.env first}"
PY="${IMGCAP_PYTHON:-python3}"

output() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["value"])' "$OUTPUTS" "$1"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_http URL PID SECONDS: until URL answers 200, while PID lives.
wait_http() {
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.5
  done
  return 1
}

WORK="$(mktemp -d)"
PIDS=()
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

cd "$REPO"
TARGET="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
WEBAPP_BIN="${IMGCAP_WEBAPP_BIN:-}"
if [ -z "$WEBAPP_BIN" ]; then
  # Integration tests build the binary, with the dependency features of the contract tests that
  # ran just before, so nothing is compiled again; `cargo build` would resolve the features
  # without the dev-dependencies and compile many dependencies a second time.
  cargo test --quiet --locked -p imgcap-webapp --test api --no-run
  WEBAPP_BIN="$TARGET/debug/imgcap-webapp"
fi

POOL="$(output user_pool_id)"
REGION="$(output region)"
CLIENT_ID="$(output user_pool_client_id)"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
(
  export IMGCAP_LISTEN_ADDR="127.0.0.1:$PORT" IMGCAP_PUBLIC_BASE_URL="$BASE" \
    IMGCAP_METRICS_LISTEN_ADDR=127.0.0.1:0 IMGCAP_DATA_DIR="$WORK/data" TMPDIR="$WORK" \
    IMGCAP_AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" \
    IMGCAP_CAPTIONER_CHAIN=embedded IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR="$REPO/models/tests/fixtures/tiny-blip" \
    IMGCAP_OIDC_ISSUER="https://cognito-idp.$REGION.amazonaws.com/$POOL" \
    IMGCAP_OIDC_CLIENT_ID="$CLIENT_ID" \
    IMGCAP_OIDC_REDIRECT_URL="$BASE/auth/callback" \
    IMGCAP_OIDC_AUTHORIZE_URL="$AWS_ENDPOINT_URL/oauth2/authorize" \
    IMGCAP_OIDC_TOKEN_URL="$AWS_ENDPOINT_URL/oauth2/token" \
    IMGCAP_OIDC_JWKS_URL="$AWS_ENDPOINT_URL/$POOL/.well-known/jwks.json"
  unset IMGCAP_OIDC_LOGOUT_URL IMGCAP_OIDC_LOGOUT_REDIRECT_URL
  exec "$WEBAPP_BIN"
) >"$WORK/webapp.log" 2>&1 &
PIDS+=($!)
if ! wait_http "$BASE/readyz" "${PIDS[0]}" 180; then
  echo "the web app did not get ready on $BASE:" >&2
  tail -n 40 "$WORK/webapp.log" >&2
  exit 1
fi
echo "web app (AWS mode on moto, Cognito sign-in) ready on $BASE"

rc=0
echo "==> scripts/acceptance.sh --dry-run"
if ! "$REPO/scripts/acceptance.sh" --dry-run --outputs "$OUTPUTS" --base-url "$BASE"; then
  rc=1
  echo "--- web app log (last 40 lines)"
  tail -n 40 "$WORK/webapp.log"
fi

# The faulty requests go to a real inference server with fault injection on, where one is built
# (the workspace tests build it; this script does not: it would take many minutes).
INFERENCE_BIN="${IMGCAP_INFERENCE_BIN:-$TARGET/debug/imgcap-inference}"
INVOKE=()
if [ -x "$INFERENCE_BIN" ] && "$INFERENCE_BIN" serve --help 2>/dev/null | grep -q -- --fault-injection; then
  IPORT="$(free_port)"
  IMGCAP_HOST=127.0.0.1 IMGCAP_PORT="$IPORT" IMGCAP_DEVICE=cpu IMGCAP_FAULT_INJECTION=1 \
    IMGCAP_MODEL_DIR="$REPO/models/tests/fixtures/tiny-blip" "$INFERENCE_BIN" serve >"$WORK/inference.log" 2>&1 &
  PIDS+=($!)
  if wait_http "http://127.0.0.1:$IPORT/ping" "$!" 120; then
    INVOKE=(--invoke-url "http://127.0.0.1:$IPORT/invocations")
    echo "imgcap-inference (fault injection on) ready on 127.0.0.1:$IPORT"
  else
    echo "imgcap-inference did not get ready:"; tail -n 20 "$WORK/inference.log"; rc=1
  fi
else
  echo "no imgcap-inference with --fault-injection at $INFERENCE_BIN (IMGCAP_INFERENCE_BIN):" \
    "the alarm dry run sends no requests"
fi
ENDPOINT="$(output sagemaker_endpoint_name)"
for fault in 5xx slow; do
  echo "==> scripts/fire-alarms.sh --dry-run --fault $fault"
  "$REPO/scripts/fire-alarms.sh" --dry-run --endpoint-name "$ENDPOINT" --fault "$fault" \
    --requests 5 --interval 1 --timeout 30 "${INVOKE[@]}" || rc=1
done
exit "$rc"
