#!/usr/bin/env bash
# compose-smoke: the whole system in containers on this machine, checked end to end. Not part of
# scripts/test.sh (it builds three images: tens of minutes on two cores). Needs root.
#
#   1. tools      docker.io, docker-compose, debootstrap (apt-get install when missing)
#   2. engine     start dockerd unless one answers: --iptables=false --ip6tables=false
#                 --bridge=none --storage-driver=overlay2 (every service uses host networking)
#   3. bases      Debian bookworm images made with debootstrap + docker import, because public
#                 images cannot be pulled here (skipped when they exist; IMGCAP_SMOKE_REBASE=1
#                 remakes them):
#                   imgcap-base-runtime:bookworm    minbase + ca-certificates
#                   imgcap-base-python:bookworm     + python3, python3-venv
#                   imgcap-base-builder:bookworm    + build-essential, pkg-config and this
#                                                   machine's Rust toolchain (rustc --print sysroot)
#                   imgcap-base-terraform:bookworm  runtime + this machine's terraform, with the
#                                                   /opt/tf-plugins provider mirror as its implied
#                                                   local mirror (the registry is not reachable)
#                 python and builder also get this machine's CA bundle (IMGCAP_SMOKE_CA_BUNDLE,
#                 default /etc/ssl/certs/ca-certificates.crt) for pip and cargo only
#   4. images     docker build --network=host with those bases as ARGs: imgcap-web:local
#                 (Dockerfile.web), imgcap-inference:local (Dockerfile.inference, cpu),
#                 imgcap-moto:local (compose/moto.Dockerfile), imgcap-provision:local
#                 (compose/provision.Dockerfile)
#   5. inference  the inference server's black-box tests (inference/tests/server/) against
#                 imgcap-inference:local (scripts/inference-in-container.sh)
#   6. up         `docker-compose up -d`, nothing else: moto, provision (terraform apply
#                 envs/emulator, the web app's environment), inference, web in AWS mode; wait
#                 for provision to complete, /readyz and the web HEALTHCHECK
#   7. smoke      tests/e2e_smoke against http://127.0.0.1:8080: upload, both captions, record in
#                 the history, signed URLs serve the image, delete my data, gone
#   8. embedded   `docker-compose --profile embedded up web-embedded` and the same smoke test
#                 against http://127.0.0.1:8090
#   9. teardown   docker-compose down -v (moto, and with it every emulated resource, and the
#                 provision state), the dockerd it started stopped
#
# API tokens: IMGCAP_SMOKE_TOKEN (AWS mode) / IMGCAP_SMOKE_EMBEDDED_TOKEN when set, else
# `imgcap-webapp create-token --user smoke-test` inside the running web container.
# Model: IMGCAP_COMPOSE_MODEL_DIR (here by default the tiny test checkpoint, offline; compose's
# own default is the hub model). IMGCAP_SMOKE_KEEP=1 leaves
# the stack running. Logs: test-artifacts/compose/. Exit status 1 if any step failed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
ART="$REPO/test-artifacts/compose"
VENV="${IMGCAP_VENV:-$REPO/.venv}"
SUITE=bookworm
MIRROR="${IMGCAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_RUNTIME=imgcap-base-runtime:$SUITE
BASE_PYTHON=imgcap-base-python:$SUITE
BASE_BUILDER=imgcap-base-builder:$SUITE
BASE_TERRAFORM=imgcap-base-terraform:$SUITE
WEB_PORT="${IMGCAP_COMPOSE_WEB_PORT:-8080}"
EMBEDDED_PORT="${IMGCAP_COMPOSE_EMBEDDED_PORT:-8090}"
mkdir -p "$ART"
rm -f "$ART"/[0-9][0-9]-*.log

# Debian's docker.io client: its built-in BuildKit handles RUN --mount without buildx.
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1
export IMGCAP_BUILDER_IMAGE=$BASE_BUILDER IMGCAP_RUNTIME_IMAGE=$BASE_RUNTIME IMGCAP_PYTHON_IMAGE=$BASE_PYTHON \
  IMGCAP_TERRAFORM_IMAGE=$BASE_TERRAFORM
export IMGCAP_COMPOSE_MODEL_DIR="${IMGCAP_COMPOSE_MODEL_DIR:-$REPO/models/tests/fixtures/tiny-blip}"
compose() { docker-compose --project-directory "$REPO" -f "$REPO/docker-compose.yml" "$@"; }

[ "$(id -u)" = 0 ] || { echo "compose-smoke: run as root (dockerd, debootstrap)" >&2; exit 1; }

# ------------------------------------------------------------------------------------------------
# step runner (as in scripts/test-infra.sh): output to a log, printed on failure
# ------------------------------------------------------------------------------------------------
STEP_NAMES=() STEP_RESULTS=() STEP_SECONDS=()
# shellcheck disable=SC2034  # read by summary (scripts/lib/summary.sh)
T_START=$SECONDS
step() { # name command...
  local name="$1"; shift
  local n=$((${#STEP_NAMES[@]} + 1)) log t0=$SECONDS rc=0
  log="$ART/$(printf '%02d' "$n")-$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-' | sed 's/-$//').log"
  printf '\n==> %s\n' "$name"
  # bash ignores `set -e` in everything run from a condition (`if`, `||`), subshells included,
  # so a failing command inside a step function would not fail the step. Hence steps are never
  # called as conditions (`step ...; passed || exit 1`) and run in a subshell with -e; they
  # keep their state in files under $ART, not in shell variables.
  set +e
  (set -e; "$@") >"$log" 2>&1
  rc=$?
  set -e
  LAST_RC=$rc
  STEP_NAMES+=("$name") STEP_SECONDS+=($((SECONDS - t0)))
  if [ "$rc" -eq 0 ]; then
    tail -n 12 "$log" | sed 's/^/    /'
    printf '    PASS (%ss)\n' "$((SECONDS - t0))"
    STEP_RESULTS+=(PASS)
    return 0
  fi
  tail -n 40 "$log" | sed 's/^/    /'
  printf '    FAIL (exit %s) - full log: %s\n' "$rc" "${log#"$REPO"/}"
  STEP_RESULTS+=(FAIL)
  return 0
}
LAST_RC=0
passed() { [ "$LAST_RC" -eq 0 ]; }
# shellcheck source=scripts/lib/summary.sh
. "$REPO/scripts/lib/summary.sh"

# ------------------------------------------------------------------------------------------------
# teardown, also after a failure or Ctrl-C
# ------------------------------------------------------------------------------------------------
DOCKERD_PIDFILE="$ART/dockerd.pid"
rm -f "$DOCKERD_PIDFILE"
teardown() {
  if [ "${IMGCAP_SMOKE_KEEP:-0}" = 1 ]; then
    echo "IMGCAP_SMOKE_KEEP=1: the stack keeps running (docker-compose down -v to stop it)"
    return 0
  fi
  # -v: moto's resources go with it, and so do provision's state and the web environment.
  compose --profile embedded down -v --remove-orphans || true
  if [ -s "$DOCKERD_PIDFILE" ]; then
    local pid i
    pid="$(cat "$DOCKERD_PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    rm -f "$DOCKERD_PIDFILE"
    echo "dockerd $pid stopped"
  fi
}
finish() {
  local rc=$?
  step "teardown: docker-compose down -v, dockerd stopped" teardown
  summary compose-smoke || rc=1
  exit "$rc"
}
trap finish EXIT

# ------------------------------------------------------------------------------------------------
# 1. tools, 2. engine
# ------------------------------------------------------------------------------------------------
tools() {
  local missing=()
  [ -x /usr/bin/docker ] && command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  for tool in terraform cargo rustc; do
    command -v "$tool" >/dev/null || { echo "$tool is not on PATH"; return 1; }
  done
  [ -x "$VENV/bin/python" ] || { echo "no tools venv at $VENV: run scripts/test-infra.sh once"; return 1; }
  "$DOCKER" --version
  docker-compose --version
  debootstrap --version 2>/dev/null || dpkg-query -W debootstrap
}

engine() {
  if "$DOCKER" info >/dev/null 2>&1; then
    echo "a Docker engine answers already; using it"
    return 0
  fi
  # setsid: the engine outlives this step's subshell; teardown stops it by its pid file.
  setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    >"$ART/dockerd.log" 2>&1 </dev/null &
  echo $! >"$DOCKERD_PIDFILE"
  local i
  for i in $(seq 1 60); do
    if "$DOCKER" info >/dev/null 2>&1; then
      echo "dockerd pid $(cat "$DOCKERD_PIDFILE") answers after ${i}s"
      "$DOCKER" info --format 'storage driver {{.Driver}}, server {{.ServerVersion}}'
      return 0
    fi
    sleep 1
  done
  echo "dockerd did not answer within 60 s; see ${ART#"$REPO"/}/dockerd.log"
  return 1
}

# ------------------------------------------------------------------------------------------------
# 3. base images from debootstrap
# ------------------------------------------------------------------------------------------------
have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# import_rootfs DIR TAG [docker import --change ...]: packs DIR as a single-layer image.
import_rootfs() {
  local dir="$1" tag="$2"; shift 2
  # Trim what no container needs.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
  tar -C "$dir" -c . | "$DOCKER" import "$@" - "$tag"
}

base_images() {
  if [ "${IMGCAP_SMOKE_REBASE:-0}" != 1 ] && have_image "$BASE_RUNTIME" && have_image "$BASE_PYTHON" \
    && have_image "$BASE_BUILDER" && have_image "$BASE_TERRAFORM"; then
    echo "base images exist: $BASE_RUNTIME $BASE_PYTHON $BASE_BUILDER $BASE_TERRAFORM"
    return 0
  fi
  local work cache
  work="$(mktemp -d /var/tmp/imgcap-rootfs.XXXXXX)"
  cache="$ART/debootstrap-cache"
  mkdir -p "$cache"
  local path_env='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  # Build-time trust for cargo and pip: where the registries are reached through a
  # TLS-intercepting proxy, its CA is only in this machine's bundle. It goes into the python
  # and builder images as a separate file that pip and cargo are pointed at, so that Debian's
  # own bundle (which Dockerfile.web copies into the runtime image) stays as it is.
  local build_ca=/usr/local/share/imgcap-build/ca-bundle.crt
  local host_ca="${IMGCAP_SMOKE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
  add_build_ca() { install -D -m 0644 "$host_ca" "$1$build_ca"; }

  debootstrap --variant=minbase --cache-dir="$cache" --include=ca-certificates \
    "$SUITE" "$work/runtime" "$MIRROR"
  import_rootfs "$work/runtime" "$BASE_RUNTIME" --change "$path_env" --change 'CMD ["bash"]'

  debootstrap --variant=minbase --cache-dir="$cache" --include=ca-certificates,python3,python3-venv \
    "$SUITE" "$work/python" "$MIRROR"
  add_build_ca "$work/python"
  import_rootfs "$work/python" "$BASE_PYTHON" --change "$path_env" --change "ENV PIP_CERT=$build_ca" \
    --change 'CMD ["python3"]'

  debootstrap --variant=minbase --cache-dir="$cache" \
    --include=ca-certificates,build-essential,pkg-config,git \
    "$SUITE" "$work/builder" "$MIRROR"
  # This machine's Rust toolchain, laid out like the official rust image (cargo's registry
  # cache under CARGO_HOME=/usr/local/cargo, which the Dockerfiles mount as a cache).
  local sysroot
  sysroot="$(rustc --print sysroot)"
  mkdir -p "$work/builder/usr/local/rust" "$work/builder/usr/local/cargo"
  tar -C "$sysroot" --exclude='./share/doc' --exclude='./lib/rustlib/src' -c . \
    | tar -C "$work/builder/usr/local/rust" -x
  add_build_ca "$work/builder"
  import_rootfs "$work/builder" "$BASE_BUILDER" \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' --change "ENV CARGO_HTTP_CAINFO=$build_ca" \
    --change 'CMD ["bash"]'

  # terraform where the official image has it (/bin/terraform), and the provider mirror in the
  # implied local mirror directory, so that `terraform init` finds the provider offline.
  mkdir -p "$work/terraform"
  cp "$(command -v terraform)" "$work/terraform/terraform"
  cp -a /opt/tf-plugins "$work/terraform/plugins"
  printf '%s\n' "FROM $BASE_RUNTIME" 'COPY terraform /bin/terraform' \
    'COPY plugins /usr/share/terraform/plugins' >"$work/terraform/Dockerfile"
  "$DOCKER" build -t "$BASE_TERRAFORM" "$work/terraform"
  rm -rf "$work"
  "$DOCKER" image ls --filter 'reference=imgcap-base-*'
  "$DOCKER" run --rm "$BASE_BUILDER" cargo --version
}

# ------------------------------------------------------------------------------------------------
# 4. images
# ------------------------------------------------------------------------------------------------
build_images() {
  local moto_version
  moto_version="$(sed -n 's/^moto\[server\]==\([^ ]*\).*/\1/p' infra/requirements-infra.txt)"
  "$DOCKER" build --network=host -f Dockerfile.inference --target cpu \
    --build-arg "BUILDER_IMAGE=$BASE_BUILDER" --build-arg "RUNTIME_IMAGE=$BASE_RUNTIME" \
    -t imgcap-inference:local .
  "$DOCKER" build --network=host -f Dockerfile.web \
    --build-arg "BUILDER_IMAGE=$BASE_BUILDER" --build-arg "RUNTIME_IMAGE=$BASE_RUNTIME" \
    -t imgcap-web:local .
  "$DOCKER" build --network=host -f compose/moto.Dockerfile \
    --build-arg "BASE_IMAGE=$BASE_PYTHON" --build-arg "MOTO_VERSION=$moto_version" \
    -t imgcap-moto:local compose
  "$DOCKER" build --network=host -f compose/provision.Dockerfile \
    --build-arg "TERRAFORM_IMAGE=$BASE_TERRAFORM" --build-arg "BASE_IMAGE=$BASE_PYTHON" \
    -t imgcap-provision:local .
  "$DOCKER" image ls --filter 'reference=imgcap-*:local' --filter 'reference=imgcap-base-*'
}

# 5. the inference server's black-box tests, each server and tool run in the image
inference_container_tests() {
  IMGCAP_INFERENCE_TEST_RUNNER="$REPO/scripts/inference-in-container.sh" DOCKER="$DOCKER" \
    cargo test --locked -p imgcap-inference --test server
}

# ------------------------------------------------------------------------------------------------
# 6. the stack
# ------------------------------------------------------------------------------------------------
wait_http() { # url seconds
  local i
  for i in $(seq 1 "$2"); do
    if "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; then
      echo "$1 answers 200 after ${i}s"
      return 0
    fi
    sleep 1
  done
  echo "$1 did not answer 200 within $2 s"
  return 1
}

wait_healthy() { # service seconds: the image's own HEALTHCHECK, as the engine reports it
  local id i status=""
  id="$(compose ps -q "$1")"
  for i in $(seq 1 "$2"); do
    status="$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$id")"
    if [ "$status" = healthy ]; then
      echo "$1: container healthy after ${i}s (HEALTHCHECK)"
      return 0
    fi
    sleep 1
  done
  echo "$1: container $status after $2 s"
  return 1
}

# Exactly what a user runs: `docker compose up` (detached here), nothing exported.
stack_up() {
  compose up -d --no-build
  local provision i
  provision="$(compose ps -q provision)"
  for i in $(seq 1 300); do
    [ "$("$DOCKER" inspect -f '{{.State.Status}}' "$provision")" = exited ] && break
    sleep 1
  done
  compose logs --no-color provision
  [ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$provision")" = 0 ] || { echo "provision failed"; return 1; }
  wait_http "http://127.0.0.1:$WEB_PORT/readyz" 600
  wait_healthy web 90
  compose ps
}

# ------------------------------------------------------------------------------------------------
# 7.-8. smoke tests
# ------------------------------------------------------------------------------------------------
smoke_bin() {
  printf '%s/debug/imgcap-e2e-smoke\n' "$(cargo metadata --format-version 1 --no-deps \
    | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
}
build_smoke() {
  cargo build --locked -p imgcap-e2e-smoke
  [ -x "$(smoke_bin)" ]
}

token_for() { # service preset
  if [ -n "$2" ]; then
    printf '%s\n' "$2"
  else
    compose exec -T "$1" imgcap-webapp create-token --user smoke-test | tail -n 1
  fi
}

smoke() { # service port preset-token
  local token
  token="$(token_for "$1" "$3")"
  [ -n "$token" ] || { echo "no API token for $1"; return 1; }
  IMGCAP_E2E_TOKEN="$token" "$(smoke_bin)" --base-url "http://127.0.0.1:$2"
}

embedded_up() {
  compose stop web
  compose --profile embedded up -d --no-build web-embedded
  wait_http "http://127.0.0.1:$EMBEDDED_PORT/readyz" 600
  wait_healthy web-embedded 90
}

# ------------------------------------------------------------------------------------------------
step "tools: docker.io, docker-compose, debootstrap, terraform, cargo" tools; passed || exit 1
step "engine: dockerd (no iptables, no bridge, overlay2)" engine; passed || exit 1
step "bases: debootstrap + docker import ($BASE_RUNTIME, $BASE_PYTHON, $BASE_BUILDER, $BASE_TERRAFORM)" base_images
passed || exit 1
step "images: imgcap-inference, imgcap-web, imgcap-moto, imgcap-provision (docker build --network=host)" build_images
passed || exit 1
step "smoke binary: cargo build -p imgcap-e2e-smoke" build_smoke; passed || exit 1
step "inference: black-box tests (inference/tests/server/) against imgcap-inference:local" \
  inference_container_tests
step "up: docker-compose up -d (moto, provision, inference, web in AWS mode), /readyz 200, healthy" stack_up
if passed; then
  step "smoke (AWS mode): upload, captions, history, signed URLs, delete me, gone" \
    smoke web "$WEB_PORT" "${IMGCAP_SMOKE_TOKEN:-}"
fi
step "up: web-embedded (profile embedded), /readyz 200, healthy" embedded_up
if passed; then
  step "smoke (embedded mode): upload, captions, history, signed URLs, delete me, gone" \
    smoke web-embedded "$EMBEDDED_PORT" "${IMGCAP_SMOKE_EMBEDDED_TOKEN:-}"
fi
