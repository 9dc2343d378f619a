#!/usr/bin/env bash
# Post-deployment acceptance checks of a deployed imgcap (RUNBOOK.md, "Post-deployment acceptance").
#
#   scripts/acceptance.sh --env dev|prod [--backend-config FILE] [--var-file FILE] [options]
#   scripts/acceptance.sh --outputs FILE [options]        (a saved `terraform output -json`)
#
# Options (each overrides what the Terraform outputs say):
#   --base-url URL       the app (default: output app_url)
#   --user-pool-id ID  --client-id ID  --hosted-ui URL  --redirect-uri URL
#                        Cognito (default: outputs cognito_user_pool_id, cognito_hosted_ui_url)
#   --bucket NAME  --table NAME  --kms-key-arn ARN  --region REGION   (default: web_environment)
#   --image FILE         the JPEG to upload (default: a generated 1.2 MB one)
#   --users N            concurrent users (default 10)
#   --caption-timeout S  how long to wait for captions (default 300)
#   --dry-run            against the emulator (scripts/lib/emulator-dry-run.sh): loopback URL
#                        only; steps the emulator cannot serve are reported as SKIP, with why
#
# Creates a throw-away Cognito user (admin-create-user, admin-set-user-password), signs in
# through the hosted UI and the token endpoint (authorization code + PKCE, as a browser does),
# uploads the JPEG with the access token, waits for the captions, then checks: original and
# thumbnail in S3 with SSE-KMS under the stack's key, both captions in the DynamoDB record, the
# presigned URL is HTTPS and serves the original, N concurrent users (each its own Cognito user,
# upload, captions, history, delete) without an error, and DELETE /api/v1/me leaves nothing in S3
# or DynamoDB. Every check prints PASS/FAIL/SKIP; the last line is "N passed, N failed, N
# skipped"; exit 1 if any failed. The test users are deleted in every case.
#
# Needs the AWS CLI's credentials with cognito-idp:Admin{CreateUser,SetUserPassword,DeleteUser},
# s3:ListBucketVersions, s3:GetObject (HeadObject) on the image bucket and dynamodb:GetItem/Query
# on the table; python3 with boto3 (IMGCAP_PYTHON, else the tools venv .venv, else python3).
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" OUTPUTS="" PASS_ON=()
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --outputs) OUTPUTS="${2:-}"; shift 2 ;;
    --base-url|--user-pool-id|--client-id|--hosted-ui|--redirect-uri|--bucket|--table| \
      --kms-key-arn|--region|--image|--users|--caption-timeout)
      [ $# -ge 2 ] || die "$1 needs a value"
      PASS_ON+=("$1" "$2"); shift 2 ;;
    --dry-run) PASS_ON+=("$1"); shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

# shellcheck source=scripts/lib/boto3-python.sh
. "$REPO/scripts/lib/boto3-python.sh"

if [ -n "$ENV_NAME" ]; then
  [ -z "$OUTPUTS" ] || die "--env and --outputs exclude each other"
  env_init
  OUTPUTS="$(mktemp)"
  trap 'rm -f "$OUTPUTS"' EXIT
  tf output -json >"$OUTPUTS"
elif [ -n "$OUTPUTS" ]; then
  [ -f "$OUTPUTS" ] || die "no outputs file $OUTPUTS"
fi

# Not exec: the trap above removes the outputs file afterwards.
"$PY" "$REPO/scripts/lib/acceptance.py" ${OUTPUTS:+--outputs "$OUTPUTS"} "${PASS_ON[@]}"
