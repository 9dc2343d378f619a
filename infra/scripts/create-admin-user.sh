#!/usr/bin/env bash
# Create the first imgcap administrator in the Cognito user pool (or promote an existing user).
#
#   infra/scripts/create-admin-user.sh --user-pool-id <id> --email <address> [--region <region>]
#
# The user pool id is `terraform output -raw cognito_user_pool_id` in envs/<env>.
# Cognito mails a temporary password to the address; the user signs in on the hosted UI, sets a
# password, and is an admin from then on (membership of the "admin" group shows up as the
# cognito:groups claim in the ID token). Idempotent: running it again only re-adds the group.
# Needs the AWS CLI and credentials allowed to call cognito-idp:AdminGetUser, AdminCreateUser and
# AdminAddUserToGroup on the pool. AWS_ENDPOINT_URL is honoured (the emulator test uses it).
set -euo pipefail

usage() {
  echo "usage: $0 --user-pool-id <id> --email <address> [--region <region>] [--group <name>] [--suppress-email]" >&2
  exit 2
}

pool="" email="" region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" group="admin" suppress=0
while [ $# -gt 0 ]; do
  case "$1" in
    --user-pool-id) pool="${2:-}"; shift 2 ;;
    --email) email="${2:-}"; shift 2 ;;
    --region) region="${2:-}"; shift 2 ;;
    --group) group="${2:-}"; shift 2 ;;
    --suppress-email) suppress=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$pool" ] && [ -n "$email" ] || usage
[[ "$email" =~ ^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$ ]] || { echo "not an email address: $email" >&2; exit 2; }
[ -n "$region" ] || region="${pool%%_*}"   # pool ids look like eu-west-1_AbC123
command -v aws >/dev/null || { echo "the AWS CLI (aws) is required" >&2; exit 1; }

cog() { aws --region "$region" cognito-idp "$@"; }

if cog admin-get-user --user-pool-id "$pool" --username "$email" >/dev/null 2>&1; then
  echo "user $email exists already"
else
  extra=()
  [ "$suppress" -eq 1 ] && extra=(--message-action SUPPRESS)
  cog admin-create-user --user-pool-id "$pool" --username "$email" \
    --user-attributes Name=email,Value="$email" Name=email_verified,Value=true \
    --desired-delivery-mediums EMAIL "${extra[@]}" >/dev/null
  echo "created $email (temporary password sent by email unless --suppress-email)"
fi

cog admin-add-user-to-group --user-pool-id "$pool" --username "$email" --group-name "$group"
echo "$email is in group $group of $pool"
