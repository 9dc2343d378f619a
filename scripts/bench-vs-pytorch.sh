#!/usr/bin/env bash
# bench-vs-pytorch: CPU speed of imgcap's BLIP (models/examples/caption_bench.rs) against PyTorch +
# transformers BLIP (scripts/bench_pytorch_blip.py) on this machine. Both sides build the published
# base or large config with random weights and do the same work: a vision pass, 20 greedy tokens,
# a 12-token 3-beam caption and a 24-token sampled one (lengths forced).
#
#   scripts/bench-vs-pytorch.sh [--arch base|large] [--runs N] [--threads T]
#
# --arch      default base
# --runs      timed runs per figure, after one warm-up; the median is reported (default 3)
# --threads   CPU threads of both sides (default: every CPU this process may use)
#
# Runs, interleaved (imgcap then PyTorch for each setting, so a noisy spell hits both):
# f32 batch 1, bf16 batch 1, f32 batch 4, bf16 batch 4; then imgcap alone, --quantize q8_0 and
# q4k at batch 1. Every JSON line goes to the results file, then scripts/bench_table.py prints
# the markdown table (also written next to the results, .md). Takes tens of minutes on 2 cores:
# PyTorch's bf16 is slow on CPUs without bf16 instructions. Run it on an idle machine: with another
# process on one core, PyTorch's OpenMP decode slows down several-fold (caption_bench about 2x);
# the table shows the load average before the first run and each run logs it.
#
# CAPTION_BENCH          a prebuilt caption_bench binary (default: cargo build --release here)
# IMGCAP_BENCH_VENV      the Python venv (default .venv-bench, from scripts/requirements-bench.txt;
#                        created or updated when a pin is not satisfied)
# IMGCAP_BENCH_RESULTS   the JSON lines file (default test-artifacts/bench-vs-pytorch/<UTC time>.jsonl)
# Exit status 1 if any run failed (the table then shows "—" for it).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

ARCH=base RUNS=3 THREADS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) ARCH="${2:-}"; shift 2 || die "--arch needs a value" ;;
    --runs) RUNS="${2:-}"; shift 2 || die "--runs needs a value" ;;
    --threads) THREADS="${2:-}"; shift 2 || die "--threads needs a value" ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$ARCH" =~ ^(base|large)$ ]] || die "--arch is base or large"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs is a positive number"
[[ -z "$THREADS" || "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "--threads is a positive number"

# The venv: install only when a pin is not satisfied (quick when everything is there already).
VENV="${IMGCAP_BENCH_VENV:-$REPO/.venv-bench}"
REQUIREMENTS="$REPO/scripts/requirements-bench.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
if "$PY" - "$REQUIREMENTS" <<'PY'
import re, sys
from importlib.metadata import PackageNotFoundError, version
missing = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
    if not m:
        sys.exit(f"unsupported requirement line: {line}")
    try:
        # A local label (torch 2.15.0+cu132) satisfies ==2.15.0, as it does for pip.
        if version(m.group(1)).split("+", 1)[0] != m.group(2):
            missing.append(line)
    except PackageNotFoundError:
        missing.append(line)
sys.exit(1 if missing else 0)
PY
then :; else
  log "installing scripts/requirements-bench.txt into $VENV"
  "$PY" -m pip install --quiet -r "$REQUIREMENTS"
fi

BUILT=()
if [ -n "${CAPTION_BENCH:-}" ]; then
  BENCH="$CAPTION_BENCH"
  [ -x "$BENCH" ] || die "CAPTION_BENCH=$BENCH is not an executable"
else
  cargo build --release --locked -p imgcap-models --example caption_bench
  BENCH="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/caption_bench"
  BUILT=(--built)
fi

THREAD_ARGS=()
if [ -n "$THREADS" ]; then
  # caption_bench sizes its thread pool from RAYON_NUM_THREADS when it is set.
  export RAYON_NUM_THREADS="$THREADS"
  THREAD_ARGS=(--threads "$THREADS")
fi

RESULTS="${IMGCAP_BENCH_RESULTS:-$REPO/test-artifacts/bench-vs-pytorch/$(date -u +%Y%m%dT%H%M%SZ).jsonl}"
mkdir -p "$(dirname "$RESULTS")"
"$PY" scripts/bench_table.py --meta --arch "$ARCH" --runs "$RUNS" --caption-bench "$BENCH" \
  ${BUILT[@]+"${BUILT[@]}"} >"$RESULTS"

failed=0
# run NAME COMMAND...: one benchmark process; its JSON line goes to the terminal and the results.
run() {
  local name="$1" start=$SECONDS
  shift
  log "$name (load average $(cut -d' ' -f1 /proc/loadavg))"
  if "$@" | tee -a "$RESULTS"; then
    log "$name: $((SECONDS - start)) s"
  else
    log "$name FAILED"
    failed=1
  fi
}
imgcap() { run "imgcap $*" "$BENCH" --arch "$ARCH" --runs "$RUNS" "$@"; }
pytorch() {
  run "pytorch $*" "$PY" scripts/bench_pytorch_blip.py --arch "$ARCH" --runs "$RUNS" \
    ${THREAD_ARGS[@]+"${THREAD_ARGS[@]}"} "$@"
}

for batch in 1 4; do
  for dtype in f32 bf16; do
    imgcap --dtype "$dtype" --batch "$batch"
    pytorch --dtype "$dtype" --batch "$batch"
  done
done
for kind in q8_0 q4k; do
  imgcap --quantize "$kind" --batch 1
done

echo
"$PY" scripts/bench_table.py "$RESULTS" | tee "${RESULTS%.jsonl}.md"
log "results: ${RESULTS#"$REPO"/} and .md"
exit "$failed"
