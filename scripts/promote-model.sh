#!/usr/bin/env bash
# Put a model on trial next to the SageMaker endpoint's primary variant, and promote it only
# when the gates pass.
#
#   scripts/promote-model.sh start    --env E [--image-tag TAG] [--model-data-url S3_URL]
#                                     [--instance-type TYPE] [--count N] [--mode weighted|shadow] [--weight W]
#   scripts/promote-model.sh check    --env E --report COMPARE.json [--config FILE]
#   scripts/promote-model.sh promote  --env E --report COMPARE.json [--config FILE]
#   scripts/promote-model.sh abort    --env E
#   scripts/promote-model.sh rollback --env E
#   common: [--var-file FILE] [--backend-config FILE] [--dry-run] [--auto-approve]
#
# start     adds the candidate variant (inference_candidate in the variables file): "weighted"
#           answers --weight (default 0.1) of the requests, "shadow" gets a copy of them and its
#           answers are dropped. Give a new model artifact, a new image tag, or both.
# check     evaluates the gates of --config (default scripts/promote-model.conf) with
#           scripts/promotion_gates.py: the CIDEr-D delta of the `imgcap-inference eval compare
#           PRIMARY CANDIDATE --json` report, and both variants' p95 ModelLatency, 5xx rate and
#           invocation count from CloudWatch. Missing figures fail. Exit 0 pass, 1 fail.
# promote   runs check, then makes the candidate's image, model artifact and instance type the
#           primary's (one blue/green update; the primary keeps its current instance count) and
#           drops the candidate. The variables file before it is kept as FILE.before-promotion.
# abort     drops the candidate; the primary is left as it is.
# rollback  after promote: the primary of FILE.before-promotion again, without the candidate.
#
# Every step applies with the running image tags pinned, waits for the endpoint and checks it
# runs the new configuration (SageMaker rolls an update back when an alarm fires during the
# bake). --dry-run shows the plan and changes nothing.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '5,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ACTION="${1:-}"
[ $# -gt 0 ] && shift
case "$ACTION" in start|check|promote|abort|rollback) ;; -h|--help|"") usage ;; *) echo "unknown action: $ACTION" >&2; usage ;; esac

ENV_NAME="" IMAGE_TAG="" MODEL_URL="" TYPE="" COUNT="" MODE="" WEIGHT="" REPORT="" DRY_RUN=0 APPROVE=()
CONFIG="$REPO/scripts/promote-model.conf"
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --image-tag) IMAGE_TAG="${2:-}"; shift 2 ;;
    --model-data-url) MODEL_URL="${2:-}"; shift 2 ;;
    --instance-type) TYPE="${2:-}"; shift 2 ;;
    --count) COUNT="${2:-}"; shift 2 ;;
    --mode) MODE="${2:-}"; shift 2 ;;
    --weight) WEIGHT="${2:-}"; shift 2 ;;
    --report) REPORT="${2:-}"; shift 2 ;;
    --config) CONFIG="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --auto-approve) APPROVE=(-auto-approve); shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

if [ "$ACTION" = start ]; then
  [ -n "$IMAGE_TAG$MODEL_URL" ] || die "start needs --image-tag, --model-data-url or both (what differs from the primary)"
  [ -z "$IMAGE_TAG" ] || valid_tag "$IMAGE_TAG" || die "--image-tag is an image tag such as 0123abc or 0123abc-cuda"
  [ -z "$MODEL_URL" ] || [[ "$MODEL_URL" =~ ^s3://[a-z0-9][a-z0-9.-]+/.+\.tar\.gz$ ]] || die "--model-data-url looks like s3://bucket/path/model.tar.gz"
  [ -z "$TYPE" ] || [[ "$TYPE" =~ ^ml\.[a-z0-9]+\.[a-z0-9]+$ ]] || die "--instance-type looks like ml.c6i.xlarge or ml.g5.xlarge"
  [ -z "$COUNT" ] || [[ "$COUNT" =~ ^[1-9][0-9]*$ ]] || die "--count is a whole number >= 1"
  [ -z "$MODE" ] || [[ "$MODE" =~ ^(weighted|shadow)$ ]] || die "--mode is weighted or shadow"
  [ -z "$WEIGHT" ] || [[ "$WEIGHT" =~ ^(0?\.[0-9]+|1|1\.0+)$ ]] || die "--weight is a share of the requests between 0 and 1, e.g. 0.1"
fi
if [ "$ACTION" = check ] || [ "$ACTION" = promote ]; then
  [ -f "$REPORT" ] || die "--report must name the eval compare --json report (A = primary, B = candidate)"
  [ -f "$CONFIG" ] || die "no gate config $CONFIG"
fi

env_init
ENDPOINT="$(tf_output sagemaker_endpoint_name)"
[ -n "$ENDPOINT" ] || die "the $ENV_NAME stack has no SageMaker endpoint yet (deploy it first)"
BEFORE="$VAR_FILE.before-promotion"

# candidate_on_endpoint: sets CANDIDATE_MODEL and CANDIDATE_TYPE from the configuration the
# endpoint runs (a weighted or a shadow variant named "candidate"); empty without one.
candidate_on_endpoint() {
  local config query line
  CANDIDATE_MODEL="" CANDIDATE_TYPE=""
  config="$(aws sagemaker describe-endpoint --endpoint-name "$ENDPOINT" --query EndpointConfigName --output text)"
  for query in ProductionVariants ShadowProductionVariants; do
    line="$(aws sagemaker describe-endpoint-config --endpoint-config-name "$config" \
      --query "${query}[?VariantName=='candidate'].[ModelName, InstanceType] | [0]" --output text)"
    if [ -n "$line" ] && [ "$line" != None ]; then
      read -r CANDIDATE_MODEL CANDIDATE_TYPE <<<"$line"
      return 0
    fi
  done
}

gates() {
  # The aws this shell runs: a python3 launcher (pyenv) may put another one first on PATH.
  python3 "$REPO/scripts/promotion_gates.py" --config "$CONFIG" --report "$REPORT" \
    --endpoint "$ENDPOINT" --aws "$(command -v aws)"
}

# apply_step DESCRIPTION VAR_ARGS...: plan (--dry-run) or apply with the variables file, the
# running image tags and capacity, then wait and check the endpoint runs what was applied.
apply_step() {
  local what="$1"; shift
  pin_running_tags
  keep_capacity
  local args=(-var-file="$VAR_FILE" "${PINS[@]}" "${CAPACITY[@]}" "$@")
  if [ "$DRY_RUN" = 1 ]; then
    log "--dry-run: the plan to $what (nothing applied, the variables file unchanged)"
    tf plan -input=false "${args[@]}"
    exit 0
  fi
  log "$what"
  if tf apply -input=false "${APPROVE[@]}" "${args[@]}" \
    && aws sagemaker wait endpoint-in-service --endpoint-name "$ENDPOINT" && endpoint_runs_applied_config; then
    return 0
  fi
  # SageMaker rolled the update back (or the apply failed before it): Terraform's state follows
  # the configuration the endpoint runs, described by the variables before this step.
  adopt_running_config -var-file="${PREVIOUS_VAR_FILE:-$VAR_FILE}" "${PINS[@]}" "${CAPACITY[@]}"
  die "the endpoint kept its previous configuration; see RUNBOOK.md, \"SageMaker rolled a release back\""
}

case "$ACTION" in
  start)
    candidate_on_endpoint
    [ -z "$CANDIDATE_MODEL" ] || die "a candidate ($CANDIDATE_MODEL) is on trial already: promote or abort it first"
    # The image kind follows the candidate's instance type (CUDA on NVIDIA GPU types).
    deployed_tags
    kind_type="${TYPE:-$(var_value inference_instance_type | tr -d '"')}"
    if [ -n "$IMAGE_TAG" ] && [ -n "$kind_type" ] && [ "$(tag_for_type "$IMAGE_TAG" "$kind_type")" != "$IMAGE_TAG" ]; then
      die "--image-tag $IMAGE_TAG does not fit $kind_type, which needs $(tag_for_type "$IMAGE_TAG" "$kind_type")"
    fi
    if [ -z "$IMAGE_TAG" ] && [ -n "$TYPE" ] && [ -n "$DEPLOYED_INFERENCE_TAG" ] \
      && [ "$(tag_for_type "$DEPLOYED_INFERENCE_TAG" "$TYPE")" != "$DEPLOYED_INFERENCE_TAG" ]; then
      IMAGE_TAG="$(tag_for_type "$DEPLOYED_INFERENCE_TAG" "$TYPE")"
      log "$TYPE runs the other build of the primary's image: $IMAGE_TAG"
    fi
    fields=()
    [ -z "$IMAGE_TAG" ] || fields+=("image_tag = \"$IMAGE_TAG\"")
    [ -z "$MODEL_URL" ] || fields+=("model_data_url = \"$MODEL_URL\"")
    [ -z "$TYPE" ] || fields+=("instance_type = \"$TYPE\"")
    [ -z "$COUNT" ] || fields+=("instance_count = $COUNT")
    [ -z "$MODE" ] || fields+=("mode = \"$MODE\"")
    [ -z "$WEIGHT" ] || fields+=("weight = $WEIGHT")
    candidate="{ $(IFS=,; echo "${fields[*]}" | sed 's/,/, /g') }"
    apply_step "adding the candidate variant $candidate" -var "inference_candidate=$candidate"
    set_var inference_candidate "$candidate"
    log "candidate on trial; $VAR_FILE has inference_candidate. Next: eval compare, then check / promote"
    ;;
  check)
    gates
    ;;
  promote)
    candidate_on_endpoint
    [ -n "$CANDIDATE_MODEL" ] || die "no candidate variant on $ENDPOINT (start one first)"
    gates || die "the gates failed: the candidate stays a candidate (abort drops it)"
    read -r image model_url < <(aws sagemaker describe-model --model-name "$CANDIDATE_MODEL" \
      --query '[PrimaryContainer.Image, PrimaryContainer.ModelDataUrl]' --output text)
    tag="${image##*:}"
    valid_tag "$tag" || die "the candidate's image $image carries no tag"
    promoted=(-var "inference_candidate=null" -var "model_data_url=$model_url" -var "inference_instance_type=$CANDIDATE_TYPE")
    # The running tags are pinned first; the candidate's tag then overrides the inference one.
    apply_step "promoting the candidate: image $tag, model $model_url on $CANDIDATE_TYPE" "${promoted[@]}" -var "inference_image_tag=$tag"
    cp "$VAR_FILE" "$BEFORE"
    echo "# promote-model.sh: the inference image tag before the promotion" >>"$BEFORE"
    echo "# previous_inference_image_tag = $DEPLOYED_INFERENCE_TAG" >>"$BEFORE"
    unset_var inference_candidate
    set_var model_data_url "\"$model_url\""
    set_var inference_instance_type "\"$CANDIDATE_TYPE\""
    set_var inference_image_tag "\"$tag\""
    log "promoted; the previous variables are in $BEFORE (rollback returns to them)"
    ;;
  abort)
    apply_step "dropping the candidate variant" -var "inference_candidate=null"
    unset_var inference_candidate
    log "candidate dropped; the primary is unchanged"
    ;;
  rollback)
    [ -f "$BEFORE" ] || die "no $BEFORE: nothing was promoted from this variables file"
    previous="$(sed -n 's/^# previous_inference_image_tag = //p' "$BEFORE" | tail -n 1)"
    valid_tag "$previous" || die "$BEFORE does not record the previous inference image tag"
    # The variables before the promotion, without a candidate; they replace the file only
    # once the endpoint runs them.
    real_var_file="$VAR_FILE" PREVIOUS_VAR_FILE="$VAR_FILE"
    VAR_FILE="$(mktemp)"
    trap 'rm -f "$VAR_FILE"' EXIT
    grep -v '^# promote-model.sh: \|^# previous_inference_image_tag = ' "$BEFORE" >"$VAR_FILE"
    unset_var inference_candidate
    set_var inference_image_tag "\"$previous\""
    apply_step "rolling the promotion back: inference image $previous" -var "inference_image_tag=$previous"
    cp "$real_var_file" "$real_var_file.after-promotion"
    cp "$VAR_FILE" "$real_var_file"
    log "rolled back; the promoted variables are in $real_var_file.after-promotion"
    ;;
esac
