#!/usr/bin/env bash
# Resize the SageMaker endpoint of one environment, or switch it between CPU and GPU.
#
#   scripts/resize-endpoint.sh --env dev|prod [--instance-type TYPE] [--count N] [--min N] [--max N]
#                              [--inference-tag TAG] [--var-file FILE] [--backend-config FILE]
#                              [--plan-only] [--auto-approve]
#
# Writes the new values into the environment's variables file (--var-file, default
# envs/<env>/terraform.tfvars: inference_instance_type, inference_instance_count,
# inference_min_instances, inference_max_instances), so the next apply keeps them, then runs
# terraform plan and, after confirmation, applies that plan. The image tags are pinned to those
# running now, so a resize never rolls the images back. Without --count the new configuration
# starts with as many instances as run now.
#
# CPU <-> GPU: NVIDIA GPU types (ml.g*, ml.p*; scripts/release-images.sh inference-kind) run the
# CUDA image <sha>-cuda, CPU types the image <sha> (CI pushes both). Moving between the two switches
# the running tag to the other kind of the same build (refused when ECR lacks it); --inference-tag
# names another tag, refused when its kind does not match the type. ml.inf*/ml.trn* are refused.
#
# SageMaker updates the endpoint blue/green: the new fleet must pass /ping, takes the traffic and
# is watched by the endpoint's 5xx and latency alarms for the baking period; if one fires,
# SageMaker returns to the old fleet and this script fails. Check the account's quota for the
# instance type first. If you keep the variables elsewhere (CD: the GitHub environment's
# TERRAFORM_TFVARS), update them there too.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" TYPE="" COUNT="" MIN="" MAX="" TAG="" PLAN_ONLY=0 AUTO=0
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --instance-type) TYPE="${2:-}"; shift 2 ;;
    --count) COUNT="${2:-}"; shift 2 ;;
    --min) MIN="${2:-}"; shift 2 ;;
    --max) MAX="${2:-}"; shift 2 ;;
    --inference-tag) TAG="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --plan-only) PLAN_ONLY=1; shift ;;
    --auto-approve) AUTO=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$TYPE$COUNT$MIN$MAX" ] || die "nothing to change: give --instance-type, --count, --min or --max"
[ -z "$TYPE" ] || [[ "$TYPE" =~ ^ml\.[a-z0-9]+\.[a-z0-9]+$ ]] || die "--instance-type looks like ml.c6i.xlarge or ml.g5.xlarge"
[ -z "$TAG" ] || valid_tag "$TAG" || die "--inference-tag is an image tag such as 0123abc or 0123abc-cuda"
[[ ! "$TYPE" =~ ^ml\.(inf|trn)[0-9] ]] || die "$TYPE is an AWS Neuron type: imgcap-inference has CPU and CUDA builds only"
for n in "$COUNT" "$MIN" "$MAX"; do
  [ -z "$n" ] || [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "instance counts are whole numbers >= 1 (got $n)"
done

env_init

pin_running_tags
new_type="${TYPE:-$(var_value inference_instance_type | tr -d '"')}"
tag="${TAG:-$DEPLOYED_INFERENCE_TAG}"
if [ -n "$tag" ] && [ -n "$new_type" ]; then
  want="$(tag_for_type "$tag" "$new_type")"
  if [ -n "$TAG" ] && [ "$want" != "$TAG" ]; then
    die "--inference-tag $TAG is the $(gpu_type "$new_type" && echo CPU || echo CUDA) image; $new_type needs ${want}"
  fi
  if [ "$want" != "$DEPLOYED_INFERENCE_TAG" ]; then
    repo="imgcap-$ENV_NAME-inference"
    aws ecr describe-images --repository-name "$repo" --image-ids "imageTag=$want" >/dev/null 2>&1 \
      || die "$repo has no image $want for $new_type (CI pushes <sha> for CPU and <sha>-cuda for GPU types)"
    PINS+=(-var "inference_image_tag=$want")
    log "$new_type runs the $(gpu_type "$new_type" && echo CUDA || echo CPU) image: inference $DEPLOYED_INFERENCE_TAG -> $want"
  fi
fi
CAPACITY=()
[ -n "$COUNT" ] || keep_capacity

cp "$VAR_FILE" "$VAR_FILE.bak"
[ -z "$TYPE" ] || set_var inference_instance_type "\"$TYPE\""
[ -z "$COUNT" ] || set_var inference_instance_count "$COUNT"
[ -z "$MIN" ] || set_var inference_min_instances "$MIN"
[ -z "$MAX" ] || set_var inference_max_instances "$MAX"
terraform fmt "$VAR_FILE" >/dev/null 2>&1 || true   # only files named *.tfvars
log "changed $VAR_FILE (previous version: $VAR_FILE.bak):"
diff -u "$VAR_FILE.bak" "$VAR_FILE" >&2 || true

plan="$(mktemp)"
trap 'rm -f "$plan"' EXIT
tf plan -input=false -var-file="$VAR_FILE" "${PINS[@]}" "${CAPACITY[@]}" -out="$plan"
if [ "$PLAN_ONLY" = 1 ]; then
  log "--plan-only: nothing applied (the variables file keeps the new values)"
  exit 0
fi
if [ "$AUTO" != 1 ]; then
  printf 'Apply this plan to imgcap-%s? Type yes: ' "$ENV_NAME" >&2
  read -r answer
  [ "$answer" = yes ] || die "not applied (the variables file keeps the new values; $VAR_FILE.bak has the old ones)"
fi
if tf apply -input=false "$plan" && wait_stable && endpoint_runs_applied_config; then
  log "the endpoint runs the new configuration"
  exit 0
fi
# SageMaker rolled the update back (or the apply failed before it): the variables file and
# Terraform's state return to the size the endpoint runs.
cp "$VAR_FILE.bak" "$VAR_FILE"
adopt_running_config -var-file="$VAR_FILE" "${PINS[@]}"
die "the endpoint kept its previous size ($VAR_FILE restored); see RUNBOOK.md, \"SageMaker rolled a release back\""
