#!/usr/bin/env bash
# Prints the -var flag that keeps the SageMaker endpoint's running capacity in a new endpoint
# configuration, for `terraform plan` in CD (.github/workflows/deploy.yml):
#
#   scripts/keep-capacity.sh --env dev|prod [--var-file FILE] [--backend-config FILE]
#
# Prints `-var inference_instance_count=N` when the primary variant runs N instances now
# (autoscaling's count) and the variables file asks for fewer; prints nothing otherwise (no
# endpoint yet, or the file asks for as many or more). scripts/deploy.sh does the same before
# its apply (keep_capacity in scripts/lib/env.sh). Reads only: terraform init and output, and
# sagemaker:DescribeEndpoint, which CD's read-only plan role may call.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

env_init
keep_capacity
echo "${CAPACITY[*]}"
