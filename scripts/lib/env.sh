# shellcheck shell=bash
# Shared by scripts/deploy.sh, destroy.sh, create-admin.sh and resize-endpoint.sh (sourced, not
# run): the Terraform root of one environment and what is deployed in it.
#
# Each script sets ENV_NAME (dev or prod), and optionally VAR_FILE and BACKEND_CONFIG, then calls
# env_init. Terraform runs with the caller's AWS credentials (the deploying identity of
# infra/README_infra.md, "Permissions of the deploying identity").

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# env_init: checks the environment's root and files, runs `terraform init` with its backend.
env_init() {
  [[ "${ENV_NAME:-}" =~ ^[a-z][a-z0-9-]*$ ]] || die "--env is required (dev or prod)"
  ENV_DIR="$REPO/infra/terraform/envs/$ENV_NAME"
  [ -f "$ENV_DIR/env.tf" ] || die "no environment root $ENV_DIR (envs: dev, prod)"
  VAR_FILE="$(realpath -m "${VAR_FILE:-$ENV_DIR/terraform.tfvars}")"
  BACKEND_CONFIG="$(realpath -m "${BACKEND_CONFIG:-$ENV_DIR/backend.hcl}")"
  [ -f "$VAR_FILE" ] || die "no variables file $VAR_FILE (copy terraform.tfvars.example)"
  [ -f "$BACKEND_CONFIG" ] || die "no backend file $BACKEND_CONFIG (copy backend.hcl.example)"
  command -v terraform >/dev/null || die "terraform is not on PATH"
  command -v aws >/dev/null || die "the AWS CLI (aws) is not on PATH"
  export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
  log "terraform init ($ENV_NAME, backend $BACKEND_CONFIG)"
  tf init -input=false -lockfile=readonly -backend-config="$BACKEND_CONFIG" >/dev/null
}

tf() { terraform -chdir="$ENV_DIR" "$@"; }

# tf_output NAME: one output of the environment, empty when it does not exist (yet).
tf_output() { tf output -raw "$1" 2>/dev/null || true; }

# shellcheck disable=SC2034  # DEPLOYED_*_TAG are read by the scripts that source this file
# deployed_tags: sets DEPLOYED_WEB_TAG and DEPLOYED_INFERENCE_TAG to the image tags the ECS
# service and the SageMaker endpoint run now (empty before the first deployment).
deployed_tags() {
  DEPLOYED_WEB_TAG="" DEPLOYED_INFERENCE_TAG=""
  local cluster service endpoint task_def image config model
  cluster="$(tf_output ecs_cluster_name)"
  service="$(tf_output ecs_service_name)"
  endpoint="$(tf_output sagemaker_endpoint_name)"
  if [ -n "$cluster" ] && [ -n "$service" ]; then
    task_def="$(aws ecs describe-services --cluster "$cluster" --services "$service" \
      --query 'services[0].taskDefinition' --output text 2>/dev/null || true)"
    if [ -n "$task_def" ] && [ "$task_def" != None ]; then
      image="$(aws ecs describe-task-definition --task-definition "$task_def" \
        --query 'taskDefinition.containerDefinitions[0].image' --output text)"
      DEPLOYED_WEB_TAG="${image##*:}"
    fi
  fi
  if [ -n "$endpoint" ]; then
    config="$(aws sagemaker describe-endpoint --endpoint-name "$endpoint" \
      --query EndpointConfigName --output text 2>/dev/null || true)"
    if [ -n "$config" ] && [ "$config" != None ]; then
      model="$(aws sagemaker describe-endpoint-config --endpoint-config-name "$config" \
        --query 'ProductionVariants[0].ModelName' --output text)"
      image="$(aws sagemaker describe-model --model-name "$model" \
        --query PrimaryContainer.Image --output text)"
      DEPLOYED_INFERENCE_TAG="${image##*:}"
    fi
  fi
}

# wait_stable: waits until the web service has finished its deployment and the endpoint is
# InService (after a blue/green update, including SageMaker's own rollback on alarms).
wait_stable() {
  local cluster service endpoint
  cluster="$(tf_output ecs_cluster_name)"
  service="$(tf_output ecs_service_name)"
  endpoint="$(tf_output sagemaker_endpoint_name)"
  log "waiting for ECS service $service to be stable"
  aws ecs wait services-stable --cluster "$cluster" --services "$service" || return 1
  log "waiting for SageMaker endpoint $endpoint to be InService"
  aws sagemaker wait endpoint-in-service --endpoint-name "$endpoint" || return 1
}

valid_tag() { [[ "$1" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; }
