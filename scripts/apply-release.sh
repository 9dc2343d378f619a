#!/usr/bin/env bash
# Apply a reviewed, saved Terraform plan of a release to one environment, check it end to end,
# roll back on failure. The apply job of .github/workflows/deploy.yml runs it after the
# environment's approval; the plan was made by its plan job (terraform plan -out).
#
#   scripts/apply-release.sh --env dev|prod --plan FILE --web-tag TAG --inference-tag TAG
#                            [--var-file FILE] [--backend-config FILE] [--no-smoke]
#
# 1. terraform init of envs/<env>; note the image tags running now (the rollback point);
# 2. terraform apply FILE - exactly the reviewed plan; Terraform refuses it if the state changed
#    since the plan was made (then plan and approve again);
# 3. wait until the ECS service is stable and the endpoint InService, check both run the planned
#    tags, run tests/e2e_smoke against app_url (IMGCAP_E2E_TOKEN, IMGCAP_E2E_SMOKE_BIN as for
#    scripts/deploy.sh);
# 4. if 2-3 fail: scripts/deploy.sh --web-tag <previous> --inference-tag <previous> --no-smoke
#    --no-rollback --auto-approve (a new apply with the tags that ran before) and exit 1.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '6,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" PLAN_FILE="" WEB_TAG="" INFERENCE_TAG="" SMOKE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --plan) PLAN_FILE="${2:-}"; shift 2 ;;
    --web-tag) WEB_TAG="${2:-}"; shift 2 ;;
    --inference-tag) INFERENCE_TAG="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --no-smoke) SMOKE=0; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ -f "$PLAN_FILE" ] || die "--plan must name the saved plan file (terraform plan -out)"
PLAN_FILE="$(realpath "$PLAN_FILE")"
valid_tag "$WEB_TAG" || die "--web-tag is required (the tag the plan deploys)"
valid_tag "$INFERENCE_TAG" || die "--inference-tag is required (the tag the plan deploys)"
if [ "$SMOKE" = 1 ] && [ -z "${IMGCAP_E2E_TOKEN:-}" ]; then
  die "IMGCAP_E2E_TOKEN is not set (the smoke test's API token); --no-smoke applies without the test"
fi

env_init
deployed_tags
PREVIOUS_WEB_TAG="$DEPLOYED_WEB_TAG" PREVIOUS_INFERENCE_TAG="$DEPLOYED_INFERENCE_TAG"
log "running now: web ${PREVIOUS_WEB_TAG:-none}, inference ${PREVIOUS_INFERENCE_TAG:-none}"

release() {
  log "terraform apply of the reviewed plan (web $WEB_TAG, inference $INFERENCE_TAG)"
  if ! tf apply -input=false "$PLAN_FILE"; then
    endpoint_runs_applied_config || true  # says so when SageMaker rolled the update back
    return 1
  fi
  wait_stable || return 1
  endpoint_runs_applied_config || return 1
  deployed_tags
  if [ "$DEPLOYED_WEB_TAG" != "$WEB_TAG" ] || [ "$DEPLOYED_INFERENCE_TAG" != "$INFERENCE_TAG" ]; then
    log "running web ${DEPLOYED_WEB_TAG:-none}, inference ${DEPLOYED_INFERENCE_TAG:-none} instead of the planned tags"
    return 1
  fi
  [ "$SMOKE" = 1 ] || return 0
  smoke_test
}

if release; then
  log "released web $WEB_TAG, inference $INFERENCE_TAG to $ENV_NAME"
  exit 0
fi

log "the release to $ENV_NAME failed"
if [ -z "$PREVIOUS_WEB_TAG" ] || [ -z "$PREVIOUS_INFERENCE_TAG" ]; then
  log "no previous release is recorded (first deployment): nothing to roll back to"
  exit 1
fi
log "rolling back to web $PREVIOUS_WEB_TAG, inference $PREVIOUS_INFERENCE_TAG"
if "$REPO/scripts/deploy.sh" --env "$ENV_NAME" --var-file "$VAR_FILE" --backend-config "$BACKEND_CONFIG" \
  --web-tag "$PREVIOUS_WEB_TAG" --inference-tag "$PREVIOUS_INFERENCE_TAG" \
  --no-smoke --no-rollback --auto-approve; then
  log "rolled back; the previous release runs again"
else
  log "ROLLBACK FAILED: follow RUNBOOK.md, 'Roll back a release'"
fi
exit 1
