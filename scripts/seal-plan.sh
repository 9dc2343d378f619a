#!/usr/bin/env bash
# Seals the saved Terraform plan that CD's plan job hands to its apply job
# (.github/workflows/deploy.yml), and opens it there:
#
#   scripts/seal-plan.sh seal --env ENV --kms-key KEY PLAN  |  open --env ENV [--sha256 HEX] PLAN
#
# Why: a saved plan carries the state's values, secrets included (the generated session key,
# the Cognito client secret), and a workflow artifact can be downloaded by everyone who may read
# the repository. Sealed, only a role that may decrypt with the state's KMS key can read it.
#
# seal: a fresh data key from KMS (`generate-data-key`, AES-256, encryption context
#   purpose=terraform-plan and environment=ENV) encrypts PLAN with openssl (AES-256-CBC, the key
#   as a PBKDF2 passphrase) into PLAN.sealed; the KMS-encrypted data key goes to PLAN.key; PLAN
#   itself is removed. Prints PLAN's SHA-256 (the plan job passes it on as a job output).
# open: KMS decrypts PLAN.key (with the same context: a plan sealed for dev does not open as
#   prod), openssl restores PLAN; with --sha256 the restored plan must have that digest, or it is
#   removed again and the script fails.
# KEY: the state bucket's key (kms_key_id of the backend configuration); the CI plan role may
# GenerateDataKey with it, the deploy roles Decrypt (modules/ci-roles). The plaintext data key
# only ever sits in a private temporary file, removed on exit.
set -euo pipefail

usage() {
  sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
fail() {
  echo "seal-plan: $*" >&2
  exit 1
}

[ $# -ge 1 ] || usage
ACTION="$1"
shift
ENV_NAME="" KMS_KEY="" SHA256="" PLAN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --kms-key) KMS_KEY="${2:-}"; shift 2 ;;
    --sha256) SHA256="${2:-}"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown argument: $1" >&2; usage ;;
    *) [ -z "$PLAN" ] || usage; PLAN="$1"; shift ;;
  esac
done
[[ "$ENV_NAME" =~ ^[a-z][a-z0-9]{1,9}$ ]] || fail "--env must name an environment (dev, prod), got '$ENV_NAME'"
[ -n "$PLAN" ] || usage

CONTEXT="purpose=terraform-plan,environment=$ENV_NAME"
SECRETS="$(mktemp -d)"
trap 'rm -rf "$SECRETS"' EXIT
chmod 700 "$SECRETS"

sha256_of() {
  sha256sum "$1" | cut -d' ' -f1
}

seal() {
  [ -n "$KMS_KEY" ] || fail "seal needs --kms-key (the state's KMS key, kms_key_id of backend.hcl)"
  [ -f "$PLAN" ] || fail "no plan at $PLAN"
  local answer plaintext blob
  answer="$(aws kms generate-data-key --key-id "$KMS_KEY" --key-spec AES_256 \
    --encryption-context "$CONTEXT" --query '[Plaintext, CiphertextBlob]' --output text)" \
    || fail "KMS gave no data key for $KMS_KEY (the role needs kms:GenerateDataKey on it)"
  read -r plaintext blob <<<"$answer"
  [ -n "$plaintext" ] && [ -n "$blob" ] || fail "KMS answered without a data key"
  printf '%s' "$plaintext" >"$SECRETS/key"
  local digest
  digest="$(sha256_of "$PLAN")"
  openssl enc -aes-256-cbc -pbkdf2 -salt -pass "file:$SECRETS/key" -in "$PLAN" -out "$PLAN.sealed"
  printf '%s\n' "$blob" >"$PLAN.key"
  rm -f "$PLAN"
  echo "$digest"
}

open_plan() {
  [ -f "$PLAN.sealed" ] && [ -f "$PLAN.key" ] || fail "no sealed plan at $PLAN.sealed and $PLAN.key"
  base64 -d "$PLAN.key" >"$SECRETS/blob" 2>/dev/null || fail "$PLAN.key is not a KMS ciphertext (base64)"
  aws kms decrypt --ciphertext-blob "fileb://$SECRETS/blob" --encryption-context "$CONTEXT" \
    --query Plaintext --output text >"$SECRETS/answer" \
    || fail "KMS would not decrypt the plan's key for environment $ENV_NAME (sealed for another environment, or the role lacks kms:Decrypt)"
  tr -d '\n' <"$SECRETS/answer" >"$SECRETS/key"
  openssl enc -d -aes-256-cbc -pbkdf2 -pass "file:$SECRETS/key" -in "$PLAN.sealed" -out "$PLAN" \
    || { rm -f "$PLAN"; fail "the sealed plan does not decrypt with its key (damaged)"; }
  if [ -n "$SHA256" ]; then
    local digest
    digest="$(sha256_of "$PLAN")"
    if [ "$digest" != "$SHA256" ]; then
      rm -f "$PLAN"
      fail "the opened plan has SHA-256 $digest, not $SHA256 (the plan the approver saw): refusing it"
    fi
  fi
  echo "seal-plan: opened $PLAN" >&2
}

case "$ACTION" in
  seal) seal ;;
  open) open_plan ;;
  *) usage ;;
esac
