#!/usr/bin/env bash
# Line coverage of the Rust workspace, per crate and together (README: "Coverage"). Not part of
# scripts/test.sh: it builds the whole workspace again with coverage instrumentation (about as
# long as the test command's own build).
#
#   scripts/coverage.sh                 all crates' tests, then the table
#   scripts/coverage.sh -- --skip browser   extra arguments after -- go to the test binaries
#
# Installs cargo-tarpaulin (pinned) into .tools/ when missing; uses its LLVM engine, which reads
# rustc's coverage profiles itself (no llvm-tools component needed). The test tools the suite
# needs (moto, chromium, ...) are those of scripts/test.sh: run that once first on a new machine.
# Output: test-artifacts/coverage/{tarpaulin-report.json,summary.txt}.
set -euo pipefail
cd "$(dirname "$0")/.."

TARPAULIN_VERSION=0.37.5
TOOLS="$PWD/.tools"
OUT="$PWD/test-artifacts/coverage"
mkdir -p "$OUT"

if ! "$TOOLS/bin/cargo-tarpaulin" --version 2>/dev/null | grep -q " $TARPAULIN_VERSION\$"; then
  echo "==> installing cargo-tarpaulin $TARPAULIN_VERSION into .tools"
  cargo install --locked --root "$TOOLS" --version "$TARPAULIN_VERSION" cargo-tarpaulin
fi

# The tests find moto, checkov etc. in the tools venv exactly as under scripts/test.sh.
[ -x .venv/bin/python ] || scripts/ensure-tools-venv.sh

echo "==> instrumented build and every test (target/coverage)"
extra=()
if [ "${1:-}" = -- ]; then shift; extra=("$@"); fi
"$TOOLS/bin/cargo-tarpaulin" tarpaulin --workspace --locked --engine llvm --skip-clean \
  --target-dir target/coverage --out Json --output-dir "$OUT" \
  --exclude-files 'tests/*' '*/tests/*' '*/benches/*' '*/examples/*' \
  --timeout 600 ${extra[@]+-- "${extra[@]}"}

python3 - "$OUT/tarpaulin-report.json" <<'PY' | tee "$OUT/summary.txt"
import json, sys
from collections import defaultdict

report = json.load(open(sys.argv[1]))
covered, coverable = defaultdict(int), defaultdict(int)
for f in report["files"]:
    # Paths are absolute and split into components: the crate is the folder under the repo.
    parts = f["path"]
    crate = next((p for p in parts if p in ("common", "imaging", "models", "inference", "webapp")), None)
    if crate is None:
        continue
    covered[crate] += f["covered"]
    coverable[crate] += f["coverable"]
print(f"{'crate':<12}{'lines':>10}{'covered':>10}{'coverage':>10}")
for crate in ("common", "imaging", "models", "inference", "webapp"):
    n, c = coverable[crate], covered[crate]
    print(f"{crate:<12}{n:>10}{c:>10}{100 * c / max(n, 1):>9.1f}%")
n, c = sum(coverable.values()), sum(covered.values())
print(f"{'together':<12}{n:>10}{c:>10}{100 * c / max(n, 1):>9.1f}%")
PY
