# shellcheck shell=bash
# The closing table of scripts/test-infra.sh and scripts/compose-smoke.sh (sourced).
# Reads STEP_NAMES, STEP_RESULTS, STEP_SECONDS (one entry per step), T_START, ART and REPO.

# summary TITLE: prints one line per step and the totals; status 1 if a step failed.
summary() {
  local title=" $1 summary " failed=0 i rule
  rule="$(printf '%84s' '' | tr ' ' '=')"
  local left=$(((84 - ${#title}) / 2))
  printf '\n%s%s%s\n' "${rule:0:$left}" "$title" "${rule:0:$((84 - left - ${#title}))}"
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-4s %5ss  %s\n' "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}" "${STEP_NAMES[$i]}"
    [ "${STEP_RESULTS[$i]}" = FAIL ] && failed=$((failed + 1))
  done
  printf '  total %ss, %s failed; logs in %s\n' "$((SECONDS - T_START))" "$failed" "${ART#"$REPO"/}"
  printf '%s\n' "$rule"
  [ "$failed" -eq 0 ]
}
