#!/usr/bin/env bash
# Black-box test of scripts/release-images.sh (the CD workflow's image steps) with fake `aws`
# and `docker` commands on PATH that keep an ECR registry in a directory: one file per
# repository/tag holding the digest. No AWS, no Docker, no network.
#
#   scripts/test-release-images.sh        (exit 1 if a case fails)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/ecr"

# aws ecr describe-images / batch-get-image / put-image over $FAKE_ECR/<repository>/<tag>.
cat >"$WORK/bin/aws" <<'FAKE'
#!/usr/bin/env bash
set -euo pipefail
op="$2"; shift 2
repo="" tag="" digest="" query=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repository-name) repo="$2"; shift 2 ;;
    --image-ids) case "$2" in imageTag=*) tag="${2#imageTag=}" ;; imageDigest=*) digest="${2#imageDigest=}" ;; esac; shift 2 ;;
    --image-tag) tag="$2"; shift 2 ;;
    --image-digest) digest="$2"; shift 2 ;;
    --query) query="$2"; shift 2 ;;
    *) shift ;;
  esac
done
case "$op" in
  describe-images) [ -f "$FAKE_ECR/$repo/$tag" ] || { echo "ImageNotFoundException" >&2; exit 254; }; cat "$FAKE_ECR/$repo/$tag" ;;
  batch-get-image)
    grep -qlx "$digest" "$FAKE_ECR/$repo"/* 2>/dev/null || { echo None; exit 0; }
    case "$query" in *MediaType*) echo application/vnd.oci.image.manifest.v1+json ;; *) echo '{"manifest":1}' ;; esac ;;
  put-image) [ ! -e "$FAKE_ECR/$repo/$tag" ] || { echo "ImageTagAlreadyExistsException" >&2; exit 254; }; echo "$digest" >"$FAKE_ECR/$repo/$tag" ;;
  *) echo "fake aws: $op" >&2; exit 2 ;;
esac
FAKE
# docker buildx imagetools create --tag REGISTRY/REPO:TAG REGISTRY/SOURCE@DIGEST: copies the digest
# (FAKE_COPY_DIGEST overrides what lands in the target, to simulate a rewritten manifest).
cat >"$WORK/bin/docker" <<'FAKE'
#!/usr/bin/env bash
set -euo pipefail
[ "$1 $2 $3 $4" = "buildx imagetools create --tag" ] || { echo "fake docker: $*" >&2; exit 2; }
target="${5#*/}" source="${6#*@}"
mkdir -p "$FAKE_ECR/${target%%:*}"
echo "${FAKE_COPY_DIGEST:-$source}" >"$FAKE_ECR/${target%%:*}/${target#*:}"
FAKE
chmod +x "$WORK/bin/aws" "$WORK/bin/docker"
export PATH="$WORK/bin:$PATH" FAKE_ECR="$WORK/ecr" REGISTRY=123456789012.dkr.ecr.eu-west-1.amazonaws.com

D1="sha256:$(printf 'a%.0s' {1..64})"
D2="sha256:$(printf 'b%.0s' {1..64})"
mkdir -p "$WORK/ecr/imgcap-dev-inference" "$WORK/ecr/imgcap-prod-inference"
echo "$D1" >"$WORK/ecr/imgcap-dev-inference/c0ffee"
echo "$D2" >"$WORK/ecr/imgcap-prod-inference/old"

RI="$REPO/scripts/release-images.sh"
passed=0 failed=0
ok() { # description command...
  local what="$1"; shift
  if "$@" >"$WORK/out" 2>&1; then passed=$((passed + 1)); echo "ok   $what"
  else failed=$((failed + 1)); echo "FAIL $what"; sed 's/^/       /' "$WORK/out"; fi
}
fails() { # description command... (must exit non-zero)
  local what="$1"; shift
  if "$@" >"$WORK/out" 2>&1; then failed=$((failed + 1)); echo "FAIL $what (it succeeded)"; sed 's/^/       /' "$WORK/out"
  else passed=$((passed + 1)); echo "ok   $what"; fi
}
is() { [ "$("${@:2}")" = "$1" ]; }

ok "ml.g5.xlarge gets the cuda image" is cuda "$RI" inference-kind ml.g5.xlarge
ok "ml.p4d.24xlarge gets the cuda image" is cuda "$RI" inference-kind ml.p4d.24xlarge
ok "ml.c6i.xlarge gets the cpu image" is cpu "$RI" inference-kind ml.c6i.xlarge
ok "ml.m7g.large gets the cpu image" is cpu "$RI" inference-kind ml.m7g.large
ok "ml.g6e.2xlarge gets the cuda image" is cuda "$RI" inference-kind ml.g6e.2xlarge
ok "ml.g4ad (AMD GPU, no CUDA) gets the cpu image" is cpu "$RI" inference-kind ml.g4ad.xlarge
fails "Inferentia has no image" "$RI" inference-kind ml.inf2.xlarge
fails "Trainium has no image" "$RI" inference-kind ml.trn1.2xlarge
fails "a non-SageMaker type is refused" "$RI" inference-kind g5.xlarge

ok "digest of an existing tag" is "$D1" "$RI" digest imgcap-dev-inference c0ffee
fails "digest of a missing tag fails" "$RI" digest imgcap-dev-inference nope

ok "promote copies dev's digest to prod" "$RI" promote imgcap-dev-inference imgcap-prod-inference c0ffee "$D1"
ok "the promoted tag has dev's digest" is "$D1" "$RI" digest imgcap-prod-inference c0ffee
ok "promote again is a no-op when the digest matches" "$RI" promote imgcap-dev-inference imgcap-prod-inference c0ffee "$D1"
fails "promote refuses a tag that holds another digest" "$RI" promote imgcap-dev-inference imgcap-prod-inference old "$D1"
fails "promote notices a copy with another digest" env FAKE_COPY_DIGEST="$D2" "$RI" promote imgcap-dev-inference imgcap-prod-inference new "$D1"
fails "promote refuses a non-digest" "$RI" promote imgcap-dev-inference imgcap-prod-inference c0ffee latest

ok "mark-deployed adds a deployed-<env>- tag" "$RI" mark-deployed imgcap-prod-inference "$D1" prod
ok "the deployed tag points at the digest" bash -c 'grep -lx "$1" "$2"/deployed-prod-* >/dev/null' _ "$D1" "$WORK/ecr/imgcap-prod-inference"
fails "mark-deployed of an unknown digest fails" "$RI" mark-deployed imgcap-prod-inference "sha256:$(printf 'c%.0s' {1..64})" prod

echo "release-images: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
