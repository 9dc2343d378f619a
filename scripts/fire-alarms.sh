#!/usr/bin/env bash
# Confirm that the inference endpoint's CloudWatch alarms fire, and clear (RUNBOOK.md, "Confirm
# the alarms fire").
#
#   scripts/fire-alarms.sh --env dev|prod [--backend-config FILE] [--var-file FILE] [options]
#   scripts/fire-alarms.sh --endpoint-name NAME [options]
#
# Options:
#   --fault 5xx|slow[:MS]  what to inject (default 5xx): 5xx fires the endpoint's
#                          Invocation5XXErrors alarm, slow its p95 ModelLatency alarm (MS default:
#                          1.5 times the alarm's threshold, at most 55000)
#   --alarm-name NAME      an alarm to wait for (repeatable); default: the alarms named
#                          <prefix>* on the fault's metric and the variant
#   --alarm-prefix PREFIX  that prefix (default: the endpoint name)
#   --variant NAME         the production variant to fail and whose alarms to wait for
#                          (default primary; a candidate's alarms are <endpoint>-<name>-*)
#   --requests N           faulty requests per round (default 10)
#   --interval S           seconds between rounds (default 20)
#   --timeout S            how long to wait for ALARM, then again for OK (default 900)
#   --invoke-url URL       send the requests to this /invocations URL (a local
#                          imgcap-inference --fault-injection) instead of the SageMaker endpoint
#   --dry-run              against the emulator (AWS_ENDPOINT_URL on loopback); see below
#   --i-know-this-is-prod  required for a prod environment or endpoint
#
# The endpoint's container honours `imgcap-fault=5xx` / `imgcap-fault=slow:<ms>` in the
# SageMaker custom attributes only when it runs with fault injection on (IMGCAP_FAULT_INJECTION=1,
# set by the Terraform variable inference_fault_injection = true);
# only the requests that carry the attribute fail, so real traffic is not disturbed. The script
# sends rounds of such requests until every alarm is in ALARM (or --timeout), stops, and waits
# until every alarm is OK again (no data counts as not breaching). Exit 0 only when both happened.
# In prod a firing alarm pages whoever subscribes to the alarm topic and rolls back a blue/green
# deployment in progress: hence --i-know-this-is-prod.
#
# --dry-run: moto stores alarms but never evaluates them, and its endpoint publishes no
# metrics. After each round, the script stands in for both (publishes what the round observed as
# the alarm's metric, evaluates the alarm's threshold on it, sets its state); without
# --invoke-url no requests are sent and it reports the threshold itself. Each stand-in step is
# printed as such. The work is done by scripts/lib/fire_alarms.py (boto3).
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" ENDPOINT="" PASS_ON=()
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --endpoint-name) ENDPOINT="${2:-}"; shift 2 ;;
    --fault|--alarm-name|--alarm-prefix|--variant|--requests|--interval|--timeout|--invoke-url)
      [ $# -ge 2 ] || die "$1 needs a value"
      PASS_ON+=("$1" "$2"); shift 2 ;;
    --dry-run|--i-know-this-is-prod) PASS_ON+=("$1"); shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

# shellcheck source=scripts/lib/boto3-python.sh
. "$REPO/scripts/lib/boto3-python.sh"
if [ -n "$ENV_NAME" ]; then
  env_init
  [ -n "$ENDPOINT" ] || ENDPOINT="$(tf_output sagemaker_endpoint_name)"
fi
[ -n "$ENDPOINT" ] || die "--env or --endpoint-name is required"
exec "$PY" "$REPO/scripts/lib/fire_alarms.py" --endpoint-name "$ENDPOINT" --environment "$ENV_NAME" \
  "${PASS_ON[@]}"
