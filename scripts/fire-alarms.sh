#!/usr/bin/env bash
# Confirm that the inference endpoint's CloudWatch alarms fire, and clear (RUNBOOK.md, "Confirm
# the alarms fire").
#
#   scripts/fire-alarms.sh --env dev|prod [--backend-config FILE] [--var-file FILE] [options]
#   scripts/fire-alarms.sh --endpoint-name NAME [options]
#
# Options:
#   --fault 5xx|slow[:MS]  what to inject (default 5xx): 5xx fires the endpoint's
#                          Invocation5XXErrors alarm, slow its ModelLatency alarm (MS default:
#                          1.5 times the alarm's threshold, at most 55000)
#   --alarm-name NAME      an alarm to wait for (repeatable); default: the alarms named
#                          <prefix>* on the fault's metric
#   --alarm-prefix PREFIX  that prefix (default: the endpoint name)
#   --requests N           faulty requests per round (default 10)
#   --interval S           seconds between rounds (default 20)
#   --timeout S            how long to wait for ALARM, then again for OK (default 900)
#   --invoke-url URL       send the requests to this /invocations URL (a local
#                          imgcap-inference --fault-injection) instead of the SageMaker endpoint
#   --dry-run              against the emulator (AWS_ENDPOINT_URL on loopback); see below
#   --i-know-this-is-prod  required for a prod environment or endpoint
#
# The endpoint's container honours `imgcap-fault=5xx` / `imgcap-fault=slow:<ms>` in the
# SageMaker custom attributes only when it runs with fault injection on (IMGCAP_FAULT_INJECTION=1);
# only the requests that carry the attribute fail, so real traffic is not disturbed. The script
# sends rounds of such requests until every alarm is in ALARM (or --timeout), stops, and waits
# until every alarm is OK again (no data counts as not breaching). Exit 0 only when both happened.
# In prod a firing alarm pages whoever subscribes to the alarm topic and rolls back a blue/green
# deployment in progress: hence --i-know-this-is-prod.
#
# --dry-run: moto stores alarms but never evaluates them, and its endpoint publishes no
# metrics. After each round, scripts/lib/emulated_alarm.py stands in for both (publishes what the
# round observed as the alarm's metric, evaluates the alarm's threshold on it, sets its state);
# without --invoke-url no requests are sent and it publishes the threshold itself. Each stand-in
# step is printed as such.
set -euo pipefail
# shellcheck source=scripts/lib/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

usage() {
  sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ENV_NAME="" ENDPOINT="" FAULT=5xx PREFIX="" REQUESTS=10 INTERVAL=20 TIMEOUT=900 INVOKE_URL=""
DRY_RUN=0 PROD_OK=0 ALARMS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_NAME="${2:-}"; shift 2 ;;
    --var-file) VAR_FILE="${2:-}"; shift 2 ;;
    --backend-config) BACKEND_CONFIG="${2:-}"; shift 2 ;;
    --endpoint-name) ENDPOINT="${2:-}"; shift 2 ;;
    --fault) FAULT="${2:-}"; shift 2 ;;
    --alarm-name) ALARMS+=("${2:-}"); shift 2 ;;
    --alarm-prefix) PREFIX="${2:-}"; shift 2 ;;
    --requests) REQUESTS="${2:-}"; shift 2 ;;
    --interval) INTERVAL="${2:-}"; shift 2 ;;
    --timeout) TIMEOUT="${2:-}"; shift 2 ;;
    --invoke-url) INVOKE_URL="${2:-}"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --i-know-this-is-prod) PROD_OK=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

for n in REQUESTS INTERVAL TIMEOUT; do
  [[ "${!n}" =~ ^[1-9][0-9]{0,4}$ ]] || die "--${n,,} must be a positive whole number"
done
[[ "$FAULT" =~ ^(5xx|slow(:[1-9][0-9]{0,4})?)$ ]] || die "--fault must be 5xx, slow or slow:<ms>"
loopback() { [[ "$1" =~ ^https?://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$) ]]; }
if [ "$DRY_RUN" = 1 ]; then
  loopback "${AWS_ENDPOINT_URL:-}" || die "--dry-run needs AWS_ENDPOINT_URL on loopback (the emulator)"
  [ -z "$INVOKE_URL" ] || loopback "$INVOKE_URL" || die "--dry-run sends requests to loopback only"
fi

if [ -n "$ENV_NAME" ]; then
  env_init
  [ -n "$ENDPOINT" ] || ENDPOINT="$(tf_output sagemaker_endpoint_name)"
fi
[ -n "$ENDPOINT" ] || die "--env or --endpoint-name is required"
if [ "$PROD_OK" != 1 ] && { [ "$ENV_NAME" = prod ] || [[ "$ENDPOINT" == *prod* ]]; }; then
  die "$ENDPOINT is prod: firing its alarms pages people and rolls back deployments; add --i-know-this-is-prod"
fi

if [ "${FAULT%%:*}" = 5xx ]; then METRIC=Invocation5XXErrors; else METRIC=ModelLatency; fi
if [ "${#ALARMS[@]}" -eq 0 ]; then
  read -r -a ALARMS <<<"$(aws cloudwatch describe-alarms --alarm-name-prefix "${PREFIX:-$ENDPOINT}" \
    --query "MetricAlarms[?MetricName=='$METRIC'].AlarmName" --output text)"
  [ "${#ALARMS[@]}" -gt 0 ] || die "no alarm named ${PREFIX:-$ENDPOINT}* on $METRIC"
fi

state() { aws cloudwatch describe-alarms --alarm-names "$1" --query 'MetricAlarms[0].StateValue' --output text; }
if [ "$FAULT" = slow ]; then
  threshold_us="$(aws cloudwatch describe-alarms --alarm-names "${ALARMS[0]}" --query 'MetricAlarms[0].Threshold' --output text)"
  threshold_us="${threshold_us%.*}"
  ms=$((threshold_us * 3 / 2000))
  FAULT="slow:$((ms > 55000 ? 55000 : (ms < 1 ? 1 : ms)))"
fi
for a in "${ALARMS[@]}"; do
  s="$(state "$a")"
  [ "$s" != None ] || die "no alarm $a"
  [ "$s" != ALARM ] || die "$a is already in ALARM: find out why before testing it"
done
log "endpoint $ENDPOINT, fault imgcap-fault=$FAULT, alarms: ${ALARMS[*]}"

BODY="$REPO/tests/data/rocket.jpg"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# one_request: prints "<ok|error> <milliseconds>" for one request carrying the fault.
one_request() {
  local t0 t1 ok=ok
  t0="$(date +%s%N)"
  if [ -n "$INVOKE_URL" ]; then
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 70 -H 'Content-Type: image/jpeg' \
      -H "X-Amzn-SageMaker-Custom-Attributes: imgcap-fault=$FAULT" --data-binary "@$BODY" "$INVOKE_URL" || true)"
    [ "$code" = 200 ] || ok=error
  else
    aws sagemaker-runtime invoke-endpoint --endpoint-name "$ENDPOINT" --content-type image/jpeg \
      --body "fileb://$BODY" --custom-attributes "imgcap-fault=$FAULT" "$TMP/answer" >/dev/null 2>&1 || ok=error
  fi
  t1="$(date +%s%N)"
  echo "$ok $(((t1 - t0) / 1000000))"
}

# round: sends REQUESTS faulty requests (a few at a time) and sets OBSERVED to the alarm metric's
# value as SageMaker would report it: the count of 5xx answers, or the mean latency in microseconds.
round() {
  local i results errors mean_ms
  if [ "$DRY_RUN" = 1 ] && [ -z "$INVOKE_URL" ]; then
    OBSERVED="$(aws cloudwatch describe-alarms --alarm-names "${ALARMS[0]}" --query 'MetricAlarms[0].Threshold' --output text)"
    [ "$METRIC" = Invocation5XXErrors ] || OBSERVED="$(awk -v t="$OBSERVED" 'BEGIN { print t + 1 }')"
    echo "    SKIP requests: no --invoke-url in the dry run; the stand-in publishes $METRIC=$OBSERVED"
    return
  fi
  results="$(for ((i = 0; i < REQUESTS; i++)); do one_request & if (((i + 1) % 5 == 0)); then wait; fi; done; wait)"
  errors="$(grep -c '^error' <<<"$results" || true)"
  mean_ms="$(awk '{ s += $2 } END { printf "%d", s / NR }' <<<"$results")"
  echo "    $REQUESTS requests with imgcap-fault=$FAULT: $errors answered an error, mean ${mean_ms} ms"
  if [ "$METRIC" = Invocation5XXErrors ]; then
    [ "$errors" -gt 0 ] || die "no request failed: is fault injection on (IMGCAP_FAULT_INJECTION=1) in the endpoint's container?"
    OBSERVED="$errors"
  else
    [ "$errors" -eq 0 ] || die "$errors slow requests failed (a slow fault must still answer)"
    OBSERVED=$((mean_ms * 1000))
  fi
}

# wait_for STATE: polls until every alarm is in STATE; sends a round of faults before each poll
# while waiting for ALARM.
wait_for() {
  local want="$1" t0=$SECONDS since a s all
  while :; do
    since="$(date +%s)"
    [ "$want" = ALARM ] && round
    if [ "$DRY_RUN" = 1 ]; then
      for a in "${ALARMS[@]}"; do
        "${IMGCAP_PYTHON:-python3}" "$REPO/scripts/lib/emulated_alarm.py" --alarm "$a" --since "$since" \
          ${OBSERVED:+--value "$OBSERVED"}
      done
    fi
    all=1
    for a in "${ALARMS[@]}"; do
      s="$(state "$a")"
      echo "    t+$((SECONDS - t0))s $a: $s"
      [ "$s" = "$want" ] || all=0
    done
    if [ "$all" = 1 ]; then
      echo "PASS  every alarm went to $want after $((SECONDS - t0)) s"
      aws cloudwatch describe-alarms --alarm-names "${ALARMS[@]}" \
        --query 'MetricAlarms[].[AlarmName,StateReason]' --output text | sed 's/^/    /'
      return 0
    fi
    if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then
      echo "FAIL  not every alarm went to $want within $TIMEOUT s"
      return 1
    fi
    sleep "$INTERVAL"
  done
}

OBSERVED=""
log "sending faults until the alarms fire (every $INTERVAL s, at most $TIMEOUT s)"
fired=0 cleared=0
wait_for ALARM && fired=1
OBSERVED=""
log "faults stopped; waiting for the alarms to clear (at most $TIMEOUT s)"
wait_for OK && cleared=1
echo "fire-alarms: $((fired + cleared)) passed, $((2 - fired - cleared)) failed"
[ "$fired" = 1 ] && [ "$cleared" = 1 ]
