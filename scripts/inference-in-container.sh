#!/usr/bin/env bash
# Runs `imgcap-inference ARGS...` inside the built CPU image instead of on this machine, for the
# black-box tests (inference/tests/server/) to target the container:
#
#   IMGCAP_INFERENCE_TEST_RUNNER="$PWD/scripts/inference-in-container.sh" \
#       cargo test -p imgcap-inference --test server
#
# The tests pass host paths (the tiny checkpoint, their temp dirs) and ports on 127.0.0.1, so
# the container uses host networking and sees the repository (read-only) and the temp dir at the
# same paths. It runs as the calling user rather than the image's 10001: the tests' temp dirs
# are private to their owner, and the checkpoint tools write into them. The tests' environment
# (IMGCAP_*, HF_*, SAGEMAKER_*, OTEL_*, AWS_*, RUST_LOG, NO_PROXY) is passed through; the image's own ENV
# applies to everything they do not set. The docker client stays in the foreground (exec), so
# signals reach the server (sig-proxy) and its exit status is the server's.
#
# IMGCAP_INFERENCE_IMAGE: the image (default imgcap-inference:local); DOCKER: the client.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMGCAP_INFERENCE_IMAGE:-imgcap-inference:local}"
DOCKER="${DOCKER:-docker}"
TMP="$(cd "${TMPDIR:-/tmp}" && pwd -P)"
NAME="imgcap-inference-test-$$-$RANDOM"

env_args=()
for name in $(compgen -e); do
  case "$name" in
    HF_HOME) ;; # the image's cache location, not this machine's
    IMGCAP_* | HF_* | SAGEMAKER_* | OTEL_* | AWS_* | RUST_LOG | NO_PROXY) env_args+=(--env "$name") ;;
  esac
done

# A test that kills the docker client (SIGKILL, e.g. in Drop) would leave the container
# running: this watcher removes it once the client process ($$ after exec) is gone.
(
  while kill -0 "$$" 2>/dev/null; do sleep 1; done
  "$DOCKER" rm -f "$NAME" >/dev/null 2>&1 || true
) </dev/null >/dev/null 2>&1 &

exec "$DOCKER" run --rm --name "$NAME" --label imgcap-inference-test=1 \
  --network=host --read-only --user "$(id -u):$(id -g)" \
  --volume "$REPO:$REPO:ro" --volume "$TMP:$TMP" --env "TMPDIR=$TMP" \
  "${env_args[@]}" "$IMAGE" "$@"
