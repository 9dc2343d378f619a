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
        --query "ProductionVariants[?VariantName=='primary'].ModelName | [0]" --output text)"
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

# gpu_type TYPE: the instance type runs the CUDA image, as CD decides it
# (scripts/release-images.sh inference-kind; Terraform's gpu_families in modules/inference agree).
gpu_type() { [ "$("$REPO/scripts/release-images.sh" inference-kind "$1" 2>/dev/null)" = cuda ]; }

# tag_for_type TAG TYPE: the image tag of the same build for that instance type: <sha>-cuda on
# GPU types, <sha> on CPU types (CI pushes both).
tag_for_type() {
  local base="${1%-cuda}"
  if gpu_type "$2"; then echo "$base-cuda"; else echo "$base"; fi
}

# set_var NAME VALUE: replaces the `NAME = ...` line of the variables file, or appends one.
set_var() {
  local name="$1" value="$2" tmp
  tmp="$(mktemp)"
  awk -v name="$name" -v value="$value" '
    $0 ~ "^[[:space:]]*" name "[[:space:]]*=" { print name " = " value; done = 1; next }
    { print }
    END { if (!done) print name " = " value }
  ' "$VAR_FILE" >"$tmp"
  cat "$tmp" >"$VAR_FILE"
  rm -f "$tmp"
}

# unset_var NAME: removes the `NAME = ...` line of the variables file (the default applies).
unset_var() {
  local tmp
  tmp="$(mktemp)"
  awk -v name="$1" '$0 !~ "^[[:space:]]*" name "[[:space:]]*=" { print }' "$VAR_FILE" >"$tmp"
  cat "$tmp" >"$VAR_FILE"
  rm -f "$tmp"
}

# var_value NAME: the value of the `NAME = ...` line of the variables file, empty when unset.
var_value() {
  awk -v name="$1" '$0 ~ "^[[:space:]]*" name "[[:space:]]*=" { sub("^[^=]*=[[:space:]]*", ""); print; exit }' "$VAR_FILE"
}

# smoke_test: tests/e2e_smoke against `terraform output app_url`, with the API token in
# IMGCAP_E2E_TOKEN; IMGCAP_E2E_SMOKE_BIN: a built imgcap-e2e-smoke (default: cargo run).
smoke_test() {
  local url
  url="$(tf_output app_url)"
  [ -n "$url" ] || { log "terraform output app_url is empty"; return 1; }
  log "end-to-end smoke test against $url"
  if [ -n "${IMGCAP_E2E_SMOKE_BIN:-}" ]; then
    "$IMGCAP_E2E_SMOKE_BIN" --base-url "$url"
  else
    (cd "$REPO" && cargo run --quiet --locked -p imgcap-e2e-smoke -- --base-url "$url")
  fi
}

# shellcheck disable=SC2034  # PINS is read by the scripts that source this file
# pin_running_tags: sets PINS to the -var flags that keep the image tags running now, so that a
# resize or a promotion step never rolls the images back (empty before the first deployment).
pin_running_tags() {
  deployed_tags
  PINS=()
  if [ -n "$DEPLOYED_WEB_TAG" ] && [ -n "$DEPLOYED_INFERENCE_TAG" ]; then
    PINS=(-var "web_image_tag=$DEPLOYED_WEB_TAG" -var "inference_image_tag=$DEPLOYED_INFERENCE_TAG")
    log "image tags pinned to the running ones: web $DEPLOYED_WEB_TAG, inference $DEPLOYED_INFERENCE_TAG"
  fi
}

# shellcheck disable=SC2034  # CAPACITY is read by the scripts that source this file
# keep_capacity: sets CAPACITY to the -var flag that starts the new endpoint configuration with
# as many primary instances as run now (autoscaling's current count) when that is more than the
# variables file says: a new configuration starts at its initial_instance_count, and SageMaker
# shifts all traffic to it after the bake, so a smaller count would drop capacity under load.
keep_capacity() {
  local endpoint running configured
  CAPACITY=()
  endpoint="$(tf_output sagemaker_endpoint_name)"
  [ -n "$endpoint" ] || return 0
  running="$(aws sagemaker describe-endpoint --endpoint-name "$endpoint" \
    --query "ProductionVariants[?VariantName=='primary'].CurrentInstanceCount | [0]" --output text 2>/dev/null || true)"
  [[ "$running" =~ ^[0-9]+$ ]] || return 0
  configured="$(var_value inference_instance_count)"
  [[ "$configured" =~ ^[0-9]+$ ]] || configured=1
  if [ "$running" -gt "$configured" ]; then
    CAPACITY=(-var "inference_instance_count=$running")
    log "the endpoint runs $running primary instances now (variables file: $configured): the new configuration starts with $running"
  fi
}

# endpoint_runs_applied_config: the endpoint runs the configuration Terraform applied. When
# SageMaker rolled a blue/green update back (a rollback alarm fired during the bake), it runs
# the previous one: says so loudly and returns 1.
endpoint_runs_applied_config() {
  local endpoint applied running
  endpoint="$(tf_output sagemaker_endpoint_name)"
  applied="$(tf_output sagemaker_endpoint_config_name)"
  running="$(aws sagemaker describe-endpoint --endpoint-name "$endpoint" --query EndpointConfigName --output text)"
  if [ "$running" != "$applied" ]; then
    log "SAGEMAKER ROLLED THE UPDATE BACK: endpoint $endpoint runs $running, not $applied"
    aws cloudwatch describe-alarms --alarm-name-prefix "$endpoint-" --state-value ALARM \
      --query 'MetricAlarms[].AlarmName' --output text | sed 's/^/==> alarms firing: /' >&2 || true
    return 1
  fi
  log "endpoint $endpoint runs $applied"
}

# adopt_running_config TF_VAR_ARGS...: after SageMaker rolled an update back, Terraform's state
# holds the new configuration (and the previous one as deposed), while the endpoint runs the
# previous one. Forgets both, imports the configuration and models the endpoint runs, and
# deletes the unused new ones, so that the next apply with the previous inputs changes nothing.
# The arguments are the -var/-var-file flags of that apply (import evaluates the configuration).
adopt_running_config() {
  local endpoint applied running inference="module.imgcap.module.inference" addr variant model
  endpoint="$(tf_output sagemaker_endpoint_name)"
  applied="$(tf_output sagemaker_endpoint_config_name)"
  running="$(aws sagemaker describe-endpoint --endpoint-name "$endpoint" --query EndpointConfigName --output text)"
  [ -n "$running" ] && [ "$running" != None ] && [ "$running" != "$applied" ] || return 0
  log "Terraform state: adopting $running (the endpoint runs it), dropping $applied"
  local new_models
  new_models="$(aws sagemaker describe-endpoint-config --endpoint-config-name "$applied" \
    --query '[ProductionVariants[].ModelName, ShadowProductionVariants[].ModelName][]' --output text 2>/dev/null || true)"
  for addr in $(tf state list | grep -E "^$inference\.aws_sagemaker_(endpoint_configuration|model)\.this"); do
    tf state rm "$addr" >/dev/null || return 1
  done
  tf import -input=false "$@" "$inference.aws_sagemaker_endpoint_configuration.this" "$running" >/dev/null || return 1
  local kept=""
  while read -r variant model; do
    [ -n "$model" ] && [ "$model" != None ] || continue
    tf import -input=false "$@" "$inference.aws_sagemaker_model.this[\"$variant\"]" "$model" >/dev/null || return 1
    kept="$kept $model"
  done < <(aws sagemaker describe-endpoint-config --endpoint-config-name "$running" \
    --query '[ProductionVariants[].[VariantName, ModelName], ShadowProductionVariants[].[VariantName, ModelName]][]' --output text)
  aws sagemaker delete-endpoint-config --endpoint-config-name "$applied" || true
  for model in $new_models; do
    [ "$model" != None ] || continue
    [[ " $kept " == *" $model "* ]] || aws sagemaker delete-model --model-name "$model" || true
  done
}
