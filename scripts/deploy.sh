#!/usr/bin/env bash
# Deploy a release of imgcap to one AWS environment, check it end to end, roll back on failure.
#
#   scripts/deploy.sh --env dev|prod --web-tag TAG --inference-tag TAG
#                     [--var-file FILE] [--backend-config FILE] [--auto-approve]
#                     [--no-smoke] [--no-rollback]
#
# 1. terraform init for infra/terraform/envs/<env> (backend: --backend-config, default
#    envs/<env>/backend.hcl) and note the image tags running now (the rollback point);
# 2. terraform apply with the environment's variables (--var-file, default
#    envs/<env>/terraform.tfvars) and the two new tags: a new task definition revision rolls the
#    ECS service (circuit breaker with rollback), a new model + endpoint configuration updates
#    the SageMaker endpoint blue/green (automatic rollback on its 5xx / latency alarms);
#    The inference tag follows the instance type of the variables file: <tag>-cuda on NVIDIA GPU
#    types, <tag> on CPU types (CI pushes both). The new endpoint configuration starts with as
#    many primary instances as run now (autoscaling's count), not fewer;
# 3. wait until the service is stable and the endpoint InService, check the endpoint runs the
#    configuration just applied (SageMaker rolls the update back when an alarm fires during the
#    bake; Terraform then stops before deleting the previous model and configuration) and both
#    run the new tags;
# 4. run tests/e2e_smoke against `terraform output app_url` with the API token in
#    IMGCAP_E2E_TOKEN (a user kept for the smoke test: its data is deleted by the test);
# 5. if any of 2-4 fails: Terraform's state adopts the endpoint configuration SageMaker kept,
#    then apply again with the previous tags (the previous task definition; the endpoint
#    configuration the endpoint runs) and exit 1.
#
# Refused while a candidate model is on trial (scripts/promote-model.sh: promote or abort it).
#
# The images must exist in the environment's ECR repositories (imgcap-<env>-web,
# imgcap-<env>-inference) with these tags. IMGCAP_E2E_SMOKE_BIN: a built imgcap-e2e-smoke
# binary (default: cargo run -p imgcap-e2e-smoke). The CD workflow (.github/workflows/deploy.yml)
# applies its reviewed plan with scripts/apply-release.sh instead, and runs this script only to
# roll a failed release back.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '3,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" WEB_TAG="" INFERENCE_TAG="" APPROVE=() SMOKE=1 ROLLBACK=1
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --web-tag) WEB_TAG="${2:-}"; shift 2 ;;
    --inference-tag) INFERENCE_TAG="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --auto-approve) APPROVE=(-auto-approve); shift ;;
    --no-smoke) SMOKE=0; shift ;;
    --no-rollback) ROLLBACK=0; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
valid_tag "$WEB_TAG" || die "--web-tag is required (an image tag)"
valid_tag "$INFERENCE_TAG" || die "--inference-tag is required (an image tag)"
if [ "$SMOKE" = 1 ] && [ -z "${IMGCAP_E2E_TOKEN:-}" ]; then
  die "IMGCAP_E2E_TOKEN is not set (the smoke test's API token); --no-smoke deploys without the test"
fi

env_init
[ -z "$(tf_output sagemaker_candidate_variant_name)" ] \
  || die "a candidate model is on trial on the endpoint: scripts/promote-model.sh promote or abort it first"
instance_type="$(var_value inference_instance_type | tr -d '"')"
tagged="$(tag_for_type "$INFERENCE_TAG" "${instance_type:-ml.c6i.xlarge}")"
if [ "$tagged" != "$INFERENCE_TAG" ]; then
  log "inference instance type ${instance_type:-ml.c6i.xlarge}: deploying image $tagged for $INFERENCE_TAG"
  INFERENCE_TAG="$tagged"
fi
deployed_tags
PREVIOUS_WEB_TAG="$DEPLOYED_WEB_TAG" PREVIOUS_INFERENCE_TAG="$DEPLOYED_INFERENCE_TAG"
log "running now: web ${PREVIOUS_WEB_TAG:-none}, inference ${PREVIOUS_INFERENCE_TAG:-none}"
log "deploying:   web $WEB_TAG, inference $INFERENCE_TAG"

keep_capacity

apply_tags() { # web_tag inference_tag
  log "terraform apply (web $1, inference $2)"
  tf apply -input=false "${APPROVE[@]}" -var-file="$VAR_FILE" "${CAPACITY[@]}" \
    -var "web_image_tag=$1" -var "inference_image_tag=$2"
}

running_tags() { # web_tag inference_tag
  deployed_tags
  if [ "$DEPLOYED_WEB_TAG" != "$1" ] || [ "$DEPLOYED_INFERENCE_TAG" != "$2" ]; then
    log "running web ${DEPLOYED_WEB_TAG:-none}, inference ${DEPLOYED_INFERENCE_TAG:-none} instead of web $1, inference $2"
    return 1
  fi
}

release() {
  if ! apply_tags "$WEB_TAG" "$INFERENCE_TAG"; then
    endpoint_runs_applied_config || true  # says so when SageMaker rolled back
    return 1
  fi
  wait_stable || return 1
  endpoint_runs_applied_config || return 1
  running_tags "$WEB_TAG" "$INFERENCE_TAG" || return 1
  if [ "$SMOKE" = 1 ]; then
    smoke_test || return 1
  fi
}

# A failed earlier update (SageMaker rolled it back, Terraform stopped) leaves the state on a
# configuration the endpoint does not run: follow the endpoint first.
adopt_running_config -var-file="$VAR_FILE" "${CAPACITY[@]}" \
  -var "web_image_tag=$WEB_TAG" -var "inference_image_tag=$INFERENCE_TAG"

if release; then
  log "deployed web $WEB_TAG, inference $INFERENCE_TAG to $ENV_NAME"
  exit 0
fi

log "the deployment to $ENV_NAME failed"
if [ "$ROLLBACK" = 0 ]; then
  log "--no-rollback: leaving it as it is"
elif [ -z "$PREVIOUS_WEB_TAG" ] || [ -z "$PREVIOUS_INFERENCE_TAG" ]; then
  log "no previous release is recorded (first deployment): nothing to roll back to"
else
  log "rolling back to web $PREVIOUS_WEB_TAG, inference $PREVIOUS_INFERENCE_TAG"
  if adopt_running_config -var-file="$VAR_FILE" "${CAPACITY[@]}" \
    -var "web_image_tag=$PREVIOUS_WEB_TAG" -var "inference_image_tag=$PREVIOUS_INFERENCE_TAG" \
    && apply_tags "$PREVIOUS_WEB_TAG" "$PREVIOUS_INFERENCE_TAG" && wait_stable \
    && running_tags "$PREVIOUS_WEB_TAG" "$PREVIOUS_INFERENCE_TAG"; then
    log "rolled back; the previous release runs again"
  else
    log "ROLLBACK FAILED: follow RUNBOOK.md, 'Roll back a release'"
  fi
fi
exit 1
