#!/usr/bin/env bash
# Destroy one AWS environment of imgcap, data included.
#
#   scripts/destroy.sh --env dev|prod [--var-file FILE] [--backend-config FILE] [--yes]
#
# Asks for the environment's name unless --yes. Then, as infra/README_infra.md ("Destroy")
# describes: terraform apply with deletion_protection = false and allow_destroy_with_data = true
# (lifts the protection of the table, user pool and ALB, lets the buckets and ECR repositories be
# emptied), and terraform destroy with the same values. The image tags stay those running now.
# Afterwards the KMS key waits 30 days in PendingDeletion and the secrets 30 days in their
# recovery window. The bootstrap state root is not touched.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" YES=0
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --yes) YES=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

env_init
if [ "$YES" != 1 ]; then
  printf 'This deletes every image, record, user and log of imgcap-%s. Type the environment name to go on: ' "$ENV_NAME" >&2
  read -r answer
  [ "$answer" = "$ENV_NAME" ] || die "not confirmed; nothing was changed"
fi

deployed_tags
unprotect=(-var deletion_protection=false -var allow_destroy_with_data=true)
if [ -n "$DEPLOYED_WEB_TAG" ] && [ -n "$DEPLOYED_INFERENCE_TAG" ]; then
  unprotect+=(-var "web_image_tag=$DEPLOYED_WEB_TAG" -var "inference_image_tag=$DEPLOYED_INFERENCE_TAG")
fi

log "terraform apply: lift deletion protection, allow destroying stored data"
tf apply -input=false -auto-approve -var-file="$VAR_FILE" "${unprotect[@]}"
log "terraform destroy"
tf destroy -input=false -auto-approve -var-file="$VAR_FILE" "${unprotect[@]}"
log "imgcap-$ENV_NAME is destroyed. The KMS key is pending deletion for 30 days"
log "(aws kms cancel-key-deletion undoes it); the secrets stay recoverable for 30 days."
