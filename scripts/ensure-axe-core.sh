#!/usr/bin/env bash
# Installs axe-core (pinned in webapp/tests/browser/package-lock.json) for the browser test's
# WCAG 2.1 AA audit (webapp/tests/api/browser.rs). Idempotent: `npm ci` runs only when the
# installed version is not the locked one. Without npm the browser test cannot run anyway
# (scripts/ensure-system-tools.sh lists it as skipped), so this skips too, saying so.
set -euo pipefail
cd "$(dirname "$0")/../webapp/tests/browser"

locked="$(node -p 'require("./package-lock.json").packages["node_modules/axe-core"].version' 2>/dev/null || true)"
installed="$(node -p 'require("./node_modules/axe-core/package.json").version' 2>/dev/null || true)"
if ! command -v npm >/dev/null; then
  echo "warning: npm is missing: axe-core is not installed (the browser test is skipped without chromium too)" >&2
  exit 0
fi
if [ -z "$locked" ]; then
  echo "error: webapp/tests/browser/package-lock.json does not lock axe-core" >&2
  exit 1
fi
if [ "$installed" != "$locked" ]; then
  npm ci --silent --no-audit --no-fund
fi
echo "axe-core $(node -p 'require("./node_modules/axe-core/package.json").version') in webapp/tests/browser/node_modules"
