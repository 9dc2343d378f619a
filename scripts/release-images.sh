#!/usr/bin/env bash
# The image steps of the CD workflow (.github/workflows/cd.yml and deploy.yml), runnable by hand
# with the same AWS credentials:
#
#   scripts/release-images.sh digest REPOSITORY TAG
#       print the digest (sha256:...) of REPOSITORY:TAG in ECR; fails if the image is missing
#   scripts/release-images.sh inference-kind INSTANCE_TYPE
#       print the inference image for a SageMaker instance type: cuda for the NVIDIA GPU
#       families, cpu for the others; fails for the AWS Neuron families (no imgcap build). The
#       family lists are read from modules/inference (gpu_families, neuron_families), whose
#       validation refuses a plan with the wrong kind, so the two cannot disagree
#   scripts/release-images.sh promote SOURCE_REPOSITORY TARGET_REPOSITORY TAG DIGEST
#       copy SOURCE@DIGEST to TARGET:TAG byte for byte (docker buildx imagetools), or, if
#       TARGET:TAG exists already (tags are immutable), check it has DIGEST; either way TARGET:TAG
#       ends up being exactly the image that was tested in the source environment
#   scripts/release-images.sh mark-deployed REPOSITORY DIGEST ENVIRONMENT
#       add the tag deployed-<ENVIRONMENT>-<UTC time> to REPOSITORY@DIGEST: the ECR lifecycle
#       policy (modules/registry) never expires images with a deployed- tag it keeps
#
# REPOSITORY is a repository name (imgcap-dev-web); promote needs `docker login` to the registry
# (aws-actions/amazon-ecr-login in the workflow) and REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com.
set -euo pipefail

die() { printf 'release-images: %s\n' "$*" >&2; exit 1; }

INFERENCE_MODULE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/infra/terraform/modules/inference/main.tf"

digest() { # repository tag
  local found
  found="$(aws ecr describe-images --repository-name "$1" --image-ids "imageTag=$2" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null)" || found=""
  [[ "$found" =~ ^sha256:[0-9a-f]{64}$ ]] || die "$1:$2 is not in ECR"
  echo "$found"
}

family_regex() { # local name in modules/inference/main.tf -> its regex, HCL escapes undone
  local re
  re="$(sed -n "s/^ *$1 *= *\"\(.*\)\"\$/\1/p" "$INFERENCE_MODULE" | sed 's/\\\\/\\/g')"
  [ -n "$re" ] || die "no local $1 in $INFERENCE_MODULE"
  echo "$re"
}

inference_kind() { # instance_type
  local neuron gpu
  [[ "$1" =~ ^ml\.[a-z0-9-]+\.[a-z0-9]+$ ]] || die "$1 is not a SageMaker instance type (ml.<family>.<size>)"
  neuron="$(family_regex neuron_families)"
  gpu="$(family_regex gpu_families)"
  if [[ "$1" =~ $neuron ]]; then
    die "$1 needs a Neuron build of imgcap-inference, which does not exist"
  elif [[ "$1" =~ $gpu ]]; then
    echo cuda
  else
    echo cpu
  fi
}

promote() { # source_repository target_repository tag digest
  local source="$1" target="$2" tag="$3" want="$4" have
  [ -n "${REGISTRY:-}" ] || die "REGISTRY is not set (<account>.dkr.ecr.<region>.amazonaws.com)"
  [[ "$want" =~ ^sha256:[0-9a-f]{64}$ ]] || die "$want is not an image digest"
  if have="$(digest "$target" "$tag" 2>/dev/null)"; then
    [ "$have" = "$want" ] || die "$target:$tag is $have, not the tested $source@$want (tags are immutable: release a new commit)"
    echo "$target:$tag is already $want"
    return
  fi
  docker buildx imagetools create --tag "$REGISTRY/$target:$tag" "$REGISTRY/$source@$want"
  have="$(digest "$target" "$tag")"
  [ "$have" = "$want" ] || die "the copy $target:$tag has digest $have, not $want"
  echo "promoted $source@$want to $target:$tag"
}

mark_deployed() { # repository digest environment
  local repository="$1" want="$2" environment="$3" tag manifest media_type
  [[ "$environment" =~ ^[a-z][a-z0-9-]*$ ]] || die "environment $environment is not a plain name"
  tag="deployed-$environment-$(date -u +%Y%m%dT%H%M%SZ)"
  manifest="$(aws ecr batch-get-image --repository-name "$repository" --image-ids "imageDigest=$want" \
    --query 'images[0].imageManifest' --output text)"
  media_type="$(aws ecr batch-get-image --repository-name "$repository" --image-ids "imageDigest=$want" \
    --query 'images[0].imageManifestMediaType' --output text)"
  [ -n "$manifest" ] && [ "$manifest" != None ] || die "$repository@$want is not in ECR"
  aws ecr put-image --repository-name "$repository" --image-tag "$tag" --image-digest "$want" \
    --image-manifest "$manifest" --image-manifest-media-type "$media_type" >/dev/null
  echo "$repository@$want tagged $tag"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  digest) [ $# -eq 2 ] || die "usage: digest REPOSITORY TAG"; digest "$@" ;;
  inference-kind) [ $# -eq 1 ] || die "usage: inference-kind INSTANCE_TYPE"; inference_kind "$1" ;;
  promote) [ $# -eq 4 ] || die "usage: promote SOURCE_REPOSITORY TARGET_REPOSITORY TAG DIGEST"; promote "$@" ;;
  mark-deployed) [ $# -eq 3 ] || die "usage: mark-deployed REPOSITORY DIGEST ENVIRONMENT"; mark_deployed "$@" ;;
  *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
