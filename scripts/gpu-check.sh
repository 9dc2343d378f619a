#!/usr/bin/env bash
# The GPU check (issue 19): on a machine with an NVIDIA GPU, runs the models and inference tests
# on the GPU, `caption_bench` for base and large in f32, f16 and bf16 at batch 1, 8 and 32,
# `load_gen` against the server, and PyTorch's BLIP on the same GPU for the ratio, then prints
# one JSON summary on stdout (progress goes to stderr):
#
#   scripts/gpu-check.sh                   GPU machine with Rust and nvcc: build, then run
#   scripts/gpu-check.sh --build-only DIR  any machine with Rust, GPU or not: build with
#                                          `--features cuda` (the CUDA toolkit from PyPI where
#                                          nvcc is missing, scripts/lib/cuda-toolkit.sh) and put
#                                          the stripped binaries, compressed, in DIR
#   scripts/gpu-check.sh --run DIR         GPU machine, no Rust needed: run what --build-only
#                                          put in DIR, from a checkout of the same commit
#
# Targets the summary measures against (`targets`): both captions of one image within 40 ms
# (caption_bench `e2e_both_ms` at batch 1), and at least 300 images/s with both captions at
# batch 32 (32 / `e2e_both_ms` at batch 32), each for base and large at their fastest dtype.
#
# Time: about 8 minutes on one GPU after a warm build. Each stage has a time limit, and benchmark
# runs that would start after IMGCAP_GPU_CHECK_BUDGET_S (default 420) seconds are skipped and
# listed as such. Without a GPU it stops at once, exit status 1, with the reason.
#
# Env: CUDA_COMPUTE_CAP          kernels' compute capability (build; default: the GPU's, else 80)
#      IMGCAP_GPU_CHECK_BINDINGS cudarc's CUDA API version for --build-only with the PyPI toolkit
#                                (default 12040: it loads the CUDA 12 libraries PyTorch ships)
#      IMGCAP_GPU_CHECK_PYTHON   a python with torch and transformers (default python3); without
#                                them the PyTorch side is skipped and the summary says so
# Exit: 0 when every test passed and every stage ran; 1 otherwise; 2 for bad usage.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PY="${IMGCAP_GPU_CHECK_PYTHON:-python3}"
BUDGET_S="${IMGCAP_GPU_CHECK_BUDGET_S:-420}"
ARCHS=(base large)
DTYPES=(f32 f16 bf16)
BATCHES=(1 8 32)

log() { printf 'gpu-check: %s\n' "$*" >&2; }
die() { printf 'gpu-check: error: %s\n' "$*" >&2; exit 1; }
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# The GPU, or a clear stop: nvidia-smi must be there, talk to a driver, and list a GPU.
require_gpu() {
  command -v nvidia-smi > /dev/null \
    || die "no NVIDIA GPU: nvidia-smi is not on PATH (this check needs an NVIDIA GPU and its driver)"
  local listed
  listed="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)" \
    || die "no NVIDIA GPU: nvidia-smi failed: $(head -n 1 <<< "$listed")"
  [ -n "$listed" ] || die "no NVIDIA GPU: nvidia-smi lists none"
  log "GPU: $(head -n 1 <<< "$listed")"
}

# The highest CUDA version the driver supports, e.g. 12.4 (nvidia-smi's banner).
driver_cuda() {
  nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9][0-9.]*\).*/\1/p' | head -n 1
}

# The GPU's compute capability as CUDA_COMPUTE_CAP writes it (e.g. 90); empty when unknown.
gpu_compute_cap() {
  nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n 1 | tr -d '.[:space:]' \
    || true
}

# build OUT: the binaries the run needs, stripped and compressed, and their manifest.
build() {
  local out="$1" stage toolkit bindings=""
  command -v cargo > /dev/null || die "cargo is not on PATH: build elsewhere with --build-only"
  if ! command -v nvcc > /dev/null; then
    log "no nvcc: the CUDA toolkit from PyPI (scripts/lib/cuda-toolkit.sh)"
    # shellcheck source=scripts/lib/cuda-toolkit.sh
    . "$REPO/scripts/lib/cuda-toolkit.sh"
    cuda_toolkit_from_pypi "$REPO/target/cuda-check"
    bindings="${IMGCAP_GPU_CHECK_BINDINGS:-12040}"
  fi
  toolkit="$(nvcc --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p')"
  local cap="${CUDA_COMPUTE_CAP:-}"
  if [ -z "$cap" ] && command -v nvidia-smi > /dev/null; then cap="$(gpu_compute_cap)"; fi
  export CUDA_COMPUTE_CAP="${cap:-80}"
  export CARGO_TARGET_DIR="${IMGCAP_GPU_CHECK_TARGET:-$REPO/target/gpu-check}"
  if [ -n "$bindings" ]; then export CUDARC_CUDA_VERSION="$bindings"; fi
  local features=(--features "imgcap-models/cuda,imgcap-inference/cuda")
  log "building with CUDA $toolkit for sm_$CUDA_COMPUTE_CAP (target $CARGO_TARGET_DIR)"
  cargo build --release --locked -p imgcap-inference -p imgcap-models "${features[@]}" \
    --bin imgcap-inference --example load_gen --example caption_bench
  cargo test --release --locked -p imgcap-models -p imgcap-inference "${features[@]}" \
    --no-run --message-format=json > "$CARGO_TARGET_DIR/gpu-check-tests.json"

  stage="$(mktemp -d)"
  mkdir -p "$stage/bin" "$out"
  local exe
  for exe in imgcap-inference examples/load_gen examples/caption_bench; do
    strip -o "$stage/bin/${exe##*/}" "$CARGO_TARGET_DIR/release/$exe"
  done
  # Test executables by kind and target name: test-models and test-server (the integration
# tests), lib-imgcap_models and bin-imgcap-inference (the unit tests).
  "$PY" - "$CARGO_TARGET_DIR/gpu-check-tests.json" > "$stage/tests.tsv" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("profile", {}).get("test") \
            and msg.get("executable"):
        target = msg["target"]
        print(f"{target['kind'][0]}-{target['name']}\t{msg['executable']}")
PYEOF
  local name path
  while IFS=$'\t' read -r name path; do
    strip -o "$stage/bin/test-$name" "$path"
  done < "$stage/tests.tsv"
  cut -f1 "$stage/tests.tsv" > "$stage/tests.txt"
  "$PY" - "$stage/manifest.json" "$REPO" "$toolkit" "$CUDA_COMPUTE_CAP" "${bindings:-from-toolkit}" \
    "$(git -C "$REPO" rev-parse HEAD 2> /dev/null || echo unknown)" <<'PYEOF'
import json, sys
path, repo, toolkit, cap, bindings, commit = sys.argv[1:]
json.dump({"repo_root": repo, "cuda_toolkit": toolkit, "compute_cap": cap,
           "cudarc_bindings": bindings, "commit": commit}, open(path, "w"), indent=1)
PYEOF
  tar -C "$stage" -cf - bin tests.txt | xz -T0 -6 > "$out/bins.tar.xz"
  cp "$stage/manifest.json" "$out/manifest.json"
  rm -rf "$stage"
  log "wrote $out/bins.tar.xz ($(du -h "$out/bins.tar.xz" | cut -f1)) and $out/manifest.json"
}

# older A B: true when version A sorts strictly before version B.
older() {
  [[ "$1" != "$2" && "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" == "$1" ]]
}

# Time left for stages that may be skipped.
within_budget() { [ "$SECONDS" -lt "$BUDGET_S" ]; }

# count_results WORD: the sum of "N WORD" over the libtest summaries ("test result: ok. 12
# passed; 0 failed; ...") on stdin.
count_results() {
  awk -v word="$1" '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ "^" word) n += $i }
    END { print n + 0 }'
}

# run_tests LABEL LIMIT COMMAND...: one test executable; its outcome as a JSON line.
run_tests() {
  local label="$1" limit="$2"
  shift 2
  local log_file="$WORK/$label.log" rc=0 started=$SECONDS
  timeout "$limit" "$@" > "$log_file" 2>&1 || rc=$?
  local passed failed
  passed="$(count_results passed < "$log_file")"
  failed="$(count_results failed < "$log_file")"
  printf '{"suite":"%s","exit":%d,"passed":%s,"failed":%s,"seconds":%d,"log":"%s"}\n' \
    "$label" "$rc" "$passed" "$failed" "$((SECONDS - started))" "$log_file" \
    >> "$WORK/tests.jsonl"
  if [ "$rc" -ne 0 ]; then
    log "$label FAILED (exit $rc):"
    grep -E '^(test .* FAILED|---- |thread .* panicked)' "$log_file" | head -n 20 >&2 || true
  else
    log "$label: $passed passed"
  fi
}

# run DIR: everything on the GPU with the binaries --build-only put in DIR.
run() {
  local dir="$1"
  require_gpu
  [[ -f "$dir/manifest.json" && -f "$dir/bins.tar.xz" ]] \
    || die "$dir has no manifest.json and bins.tar.xz: make them with --build-only $dir"
  command -v "$PY" > /dev/null || die "$PY is not on PATH (the summary needs python3)"
  local toolkit driver
  toolkit="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["cuda_toolkit"])' "$dir/manifest.json")"
  driver="$(driver_cuda)"
  if [ -n "$driver" ] && older "$driver" "$toolkit"; then
    die "the driver supports CUDA $driver, older than the CUDA $toolkit the kernels were compiled \
with: build on this machine (scripts/gpu-check.sh with no option) or with an older toolkit"
  fi
  WORK="$(mktemp -d)"
  log "work directory $WORK (logs, random weights)"
  xz -dc "$dir/bins.tar.xz" | tar -C "$WORK" -xf -
  local bin="$WORK/bin"

  # The test executables find their fixtures at the path of the tree they were built in.
  local built_root
  built_root="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["repo_root"])' "$dir/manifest.json")"
  if [ "$built_root" != "$REPO" ]; then
    if [ ! -e "$built_root" ]; then
      if ! { mkdir -p "$(dirname "$built_root")" && ln -s "$REPO" "$built_root"; }; then
        die "cannot link $built_root to $REPO (the tests read their fixtures there)"
      fi
    elif [ ! -f "$built_root/models/tests/fixtures/tiny-blip/reference.json" ]; then
      die "$built_root exists but is not an imgcap checkout: the tests read their fixtures there"
    fi
  fi
  # The CUDA libraries cudarc loads (cuBLAS, cuRAND, NVRTC) where PyTorch's wheels put them.
  local libs
  libs="$("$PY" - <<'PYEOF' 2> /dev/null || true
import glob, os
import nvidia
dirs = sorted({os.path.dirname(p) for base in nvidia.__path__
               for p in glob.glob(os.path.join(base, "*", "lib", "lib*.so*"))})
print(":".join(dirs))
PYEOF
)"
  if [ -n "$libs" ]; then export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi

  : > "$WORK/tests.jsonl"
  : > "$WORK/bench.jsonl"
  : > "$WORK/load_gen.jsonl"
  : > "$WORK/pytorch.jsonl"
  : > "$WORK/skipped.txt"
  local name
  while read -r name; do
    case "$name" in
      test-models | test-server)
        IMGCAP_TEST_DEVICE=cuda IMGCAP_INFERENCE_TEST_RUNNER="$bin/imgcap-inference" \
          run_tests "$name" 240 "$bin/test-$name" ;;
      *) run_tests "$name" 120 "$bin/test-$name" ;;
    esac
  done < "$WORK/tests.txt"

  local arch dtype batch
  for arch in "${ARCHS[@]}"; do
    for dtype in "${DTYPES[@]}"; do
      for batch in "${BATCHES[@]}"; do
        if ! within_budget; then
          echo "caption_bench $arch $dtype batch $batch" >> "$WORK/skipped.txt"
          continue
        fi
        log "caption_bench $arch $dtype batch $batch"
        timeout 90 "$bin/caption_bench" --arch "$arch" --dtype "$dtype" --batch "$batch" \
          --device cuda --runs 2 --weights-dir "$WORK/weights-$arch" >> "$WORK/bench.jsonl" \
          2>> "$WORK/bench.log" || echo "caption_bench $arch $dtype batch $batch (failed)" >> "$WORK/skipped.txt"
      done
    done
  done

  if within_budget; then
    log "load_gen: base, auto dtype, batching on (32), concurrency 1, 32, 64"
    timeout 150 "$bin/load_gen" --random-weights base --server-bin "$bin/imgcap-inference" \
      --device cuda --dtype auto --batching on --max-batch-size 32 --concurrency 1,32,64 \
      --requests-per-client 4 --max-seconds 30 > "$WORK/load_gen.jsonl" 2>> "$WORK/load_gen.log" \
      || echo "load_gen (failed, see $WORK/load_gen.log)" >> "$WORK/skipped.txt"
  else
    echo "load_gen" >> "$WORK/skipped.txt"
  fi

  if "$PY" -c 'import torch, transformers, sys; sys.exit(not torch.cuda.is_available())' 2> /dev/null; then
    for arch in "${ARCHS[@]}"; do
      for batch in 1 32; do
        if ! within_budget; then
          echo "pytorch $arch bf16 batch $batch" >> "$WORK/skipped.txt"
          continue
        fi
        log "pytorch $arch bf16 batch $batch"
        timeout 120 "$PY" scripts/bench_pytorch_blip.py --arch "$arch" --dtype bf16 --batch "$batch" \
          --device cuda --runs 2 >> "$WORK/pytorch.jsonl" 2>> "$WORK/pytorch.log" \
          || echo "pytorch $arch bf16 batch $batch (failed)" >> "$WORK/skipped.txt"
      done
    done
  else
    echo "pytorch (no torch with CUDA in $PY)" >> "$WORK/skipped.txt"
  fi

  summary
}

# One JSON object on stdout from what the stages wrote; exit status 1 if a test failed or a
# stage did not run.
summary() {
  "$PY" - "$WORK" "$SECONDS" <<'PYEOF'
import json, subprocess, sys
from pathlib import Path

work, elapsed = Path(sys.argv[1]), int(sys.argv[2])

def lines(name):
    return [json.loads(l) for l in (work / name).read_text().splitlines() if l.strip().startswith("{")]

gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                      "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
tests, bench, pytorch = lines("tests.jsonl"), lines("bench.jsonl"), lines("pytorch.jsonl")
load_gen = [l for l in lines("load_gen.jsonl") if "req_per_s" in l]
skipped = [l for l in (work / "skipped.txt").read_text().splitlines() if l]

def fastest(arch, batch):
    runs = [b for b in bench if b["arch"] == arch and b["batch"] == batch]
    return min(runs, key=lambda b: b["e2e_both_ms"], default=None)

targets = {}
for arch in ("base", "large"):
    one, many = fastest(arch, 1), fastest(arch, 32)
    targets[arch] = {
        "both_captions_one_image_ms": one and {"target_max": 40, "measured": one["e2e_both_ms"],
                                               "dtype": one["dtype"], "met": one["e2e_both_ms"] <= 40},
        "images_per_s_batch_32": many and {
            "target_min": 300, "measured": round(32_000 / many["e2e_both_ms"], 1),
            "dtype": many["dtype"], "met": 32_000 / many["e2e_both_ms"] >= 300},
    }

ratios = []
for p in pytorch:
    ours = next((b for b in bench if (b["arch"], b["dtype"], b["batch"]) ==
                 (p["arch"], p["dtype"], p["batch"])), None)
    if ours:
        ratios.append({"arch": p["arch"], "dtype": p["dtype"], "batch": p["batch"],
                       "imgcap_e2e_both_ms": ours["e2e_both_ms"],
                       "pytorch_e2e_both_ms": p["e2e_both_ms"],
                       "speedup": round(p["e2e_both_ms"] / ours["e2e_both_ms"], 2)})

ok = all(t["exit"] == 0 for t in tests) and bool(tests) and not skipped
print(json.dumps({
    "ok": ok, "gpu": gpu, "elapsed_s": elapsed, "tests": tests, "targets": targets,
    "pytorch_ratio": ratios, "load_gen": load_gen, "caption_bench": bench, "pytorch": pytorch,
    "skipped": skipped, "work_dir": str(work),
}, indent=1))
sys.exit(0 if ok else 1)
PYEOF
}

case "${1:-}" in
  "")
    require_gpu
    out="$(mktemp -d)"
    build "$out"
    run "$out"
    ;;
  --build-only)
    [ $# -eq 2 ] || usage
    build "$2"
    ;;
  --run)
    [ $# -eq 2 ] || usage
    run "$2"
    ;;
  -h | --help) usage ;;
  *) usage ;;
esac
