#!/usr/bin/env bash
# Create the first imgcap administrator.
#
#   scripts/create-admin.sh --env dev|prod --email ADDRESS [--backend-config FILE] [--var-file FILE]
#   scripts/create-admin.sh --embedded --user ID [--data-dir DIR]
#
# AWS: adds the user to the Cognito user pool of the environment (`terraform output
# cognito_user_pool_id`) and to its `admin` group, with infra/scripts/create-admin-user.sh.
# Cognito mails a temporary password; the user sets a new one at the first sign-in.
#
# Embedded mode: prints a new admin API token for the user, stored in the app's SQLite database
# under DIR (default: IMGCAP_DATA_DIR, else ./data). Runs imgcap-webapp create-token --admin,
# from IMGCAP_WEBAPP_BIN when set, else through cargo.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" EMAIL="" EMBEDDED=0 USER_ID="" DATA_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --email) EMAIL="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --embedded) EMBEDDED=1; shift ;;
    --user) USER_ID="${2:-}"; shift 2 ;;
    --data-dir) DATA_DIR="${2:-}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

if [ "$EMBEDDED" = 1 ]; then
  [ -n "$USER_ID" ] || usage
  if [ -n "$DATA_DIR" ]; then
    export IMGCAP_DATA_DIR="$DATA_DIR"
  fi
  if [ -n "${IMGCAP_WEBAPP_BIN:-}" ]; then
    exec "$IMGCAP_WEBAPP_BIN" create-token --user "$USER_ID" --admin
  fi
  exec cargo run --quiet --release --locked --manifest-path "$REPO/Cargo.toml" -p imgcap-webapp -- \
    create-token --user "$USER_ID" --admin
fi

[ -n "$EMAIL" ] || usage
env_init
pool="$(tf_output cognito_user_pool_id)"
[ -n "$pool" ] || die "terraform output cognito_user_pool_id is empty: is imgcap-$ENV_NAME deployed?"
exec "$REPO/infra/scripts/create-admin-user.sh" --user-pool-id "$pool" --email "$EMAIL"
