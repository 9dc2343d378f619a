#!/usr/bin/env bash
# Resize the SageMaker endpoint of one environment, or switch it between CPU and GPU.
#
#   scripts/resize-endpoint.sh --env dev|prod [--instance-type TYPE] [--count N] [--min N] [--max N]
#                              [--var-file FILE] [--backend-config FILE] [--plan-only] [--auto-approve]
#
# Writes the new values into the environment's variables file (--var-file, default
# envs/<env>/terraform.tfvars: inference_instance_type, inference_instance_count,
# inference_min_instances, inference_max_instances), so the next apply keeps them, then runs
# terraform plan and, after confirmation, applies that plan. The image tags are pinned to those
# running now, so a resize never rolls the images back.
#
# SageMaker updates the endpoint blue/green: the new fleet must pass /ping, takes the traffic and
# is watched by the endpoint's 5xx and latency alarms for the baking period; if one fires,
# SageMaker returns to the old fleet. GPU types (ml.g5.*) need the CUDA build of imgcap-inference
# (a CUDA image tag, deployed with scripts/deploy.sh). Check the account's quota for the
# instance type first. If you keep the variables elsewhere (CD: the GitHub environment's
# TERRAFORM_TFVARS), update them there too.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" TYPE="" COUNT="" MIN="" MAX="" PLAN_ONLY=0 AUTO=0
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --instance-type) TYPE="${2:-}"; shift 2 ;;
    --count) COUNT="${2:-}"; shift 2 ;;
    --min) MIN="${2:-}"; shift 2 ;;
    --max) MAX="${2:-}"; shift 2 ;;
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
for n in "$COUNT" "$MIN" "$MAX"; do
  [ -z "$n" ] || [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "instance counts are whole numbers >= 1 (got $n)"
done

env_init

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

cp "$VAR_FILE" "$VAR_FILE.bak"
[ -z "$TYPE" ] || set_var inference_instance_type "\"$TYPE\""
[ -z "$COUNT" ] || set_var inference_instance_count "$COUNT"
[ -z "$MIN" ] || set_var inference_min_instances "$MIN"
[ -z "$MAX" ] || set_var inference_max_instances "$MAX"
terraform fmt "$VAR_FILE" >/dev/null 2>&1 || true   # only files named *.tfvars
log "changed $VAR_FILE (previous version: $VAR_FILE.bak):"
diff -u "$VAR_FILE.bak" "$VAR_FILE" >&2 || true

deployed_tags
pins=()
if [ -n "$DEPLOYED_WEB_TAG" ] && [ -n "$DEPLOYED_INFERENCE_TAG" ]; then
  pins=(-var "web_image_tag=$DEPLOYED_WEB_TAG" -var "inference_image_tag=$DEPLOYED_INFERENCE_TAG")
  log "image tags pinned to the running ones: web $DEPLOYED_WEB_TAG, inference $DEPLOYED_INFERENCE_TAG"
fi

plan="$(mktemp)"
trap 'rm -f "$plan"' EXIT
tf plan -input=false -var-file="$VAR_FILE" "${pins[@]}" -out="$plan"
if [ "$PLAN_ONLY" = 1 ]; then
  log "--plan-only: nothing applied (the variables file keeps the new values)"
  exit 0
fi
if [ "$AUTO" != 1 ]; then
  printf 'Apply this plan to imgcap-%s? Type yes: ' "$ENV_NAME" >&2
  read -r answer
  [ "$answer" = yes ] || die "not applied (the variables file keeps the new values; $VAR_FILE.bak has the old ones)"
fi
tf apply -input=false "$plan"
wait_stable
log "the endpoint runs the new configuration"
