#!/usr/bin/env bash
# The web app's AWS adapters against the resources Terraform created in the emulator: the AWS
# half of the per-port contract suite (webapp/tests/api/contract) and the AWS-mode black-box
# test (webapp/tests/api/aws_mode.rs), with the production names instead of per-test ones.
#
# Called by scripts/test-infra.sh (step 10, emulator) with test-artifacts/infra/emulator.env exported:
# IMGCAP_MODE=aws, the IMGCAP_* resource names of modules/app-env, AWS_ENDPOINT_URL=<moto>,
# dummy credentials. Runs one test at a time: the tests share one bucket, table and queue
# and isolate themselves by unique user ids. (emulator_verify.py has removed the bucket
# policy, whose conditional Deny statements moto mis-evaluates.)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

missing=()
for var in AWS_ENDPOINT_URL IMGCAP_S3_BUCKET IMGCAP_S3_KMS_KEY_ARN IMGCAP_DYNAMODB_TABLE \
  IMGCAP_DYNAMODB_JOBS_INDEX IMGCAP_SQS_QUEUE_URL IMGCAP_SQS_DLQ_URL IMGCAP_SESSION_KEY_SECRET_ARN; do
  [ -n "${!var:-}" ] || missing+=("$var")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "webapp-aws-contract-tests: not set: ${missing[*]} (source test-artifacts/infra/emulator.env)" >&2
  exit 2
fi

# The app's own endpoint setting (it also switches S3 to path-style addressing).
export IMGCAP_AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL"
# The test resources come from the variables above instead of being created per test.
export IMGCAP_CONTRACT_RESOURCES=env

exec cargo test -p imgcap-webapp --test api -- \
  contract:: aws_mode:: --skip ::embedded:: --skip embedded_ --test-threads=1
