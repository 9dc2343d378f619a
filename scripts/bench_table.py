#!/usr/bin/env python3
"""The markdown table of scripts/bench-vs-pytorch.sh (standard library only).

    python3 scripts/bench_table.py --meta [--arch A --runs N --caption-bench PATH --built]
        prints the first line of a results file: machine, date, git commit, settings
    python3 scripts/bench_table.py RESULTS.jsonl
        prints the table of a results file: its meta line, then one JSON line per run, from
        caption_bench (no "runner" key: imgcap) or bench_pytorch_blip.py ("runner": "pytorch").
        Lines that are not JSON objects are skipped; a missing run shows as "—".
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys

FLAGS = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]
# caption_bench keys this table knows; any other key of an imgcap line is listed under the table.
KNOWN = {"arch", "batch", "dtype", "vision_ms", "decode_ms_per_token", "e2e_concise_ms",
         "e2e_creative_ms", "e2e_both_ms", "rss_mb", "weights_mb", "mkl", "stock_batch",
         "stock_dtype", "stock_decode_ms_per_token"}


def command(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def meta(args: argparse.Namespace) -> dict:
    lscpu = dict(line.split(":", 1) for line in command("lscpu").splitlines() if ":" in line)
    lscpu = {k.strip(): v.strip() for k, v in lscpu.items()}
    flags = set(lscpu.get("Flags", "").split())
    try:
        cores = int(lscpu["Core(s) per socket"]) * int(lscpu["Socket(s)"])
    except (KeyError, ValueError):
        cores = None
    commit = command("git", "rev-parse", "--short=12", "HEAD")
    return {
        "meta": True,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": commit + ("-dirty" if command("git", "status", "--porcelain") else ""),
        "cpu_model": lscpu.get("Model name", "?"),
        "cpu_family_model": f'{lscpu.get("CPU family", "?")}/{lscpu.get("Model", "?")}',
        "cpu_flags": {flag: flag in flags for flag in FLAGS},
        "cores": cores,
        "cpus": len(os.sched_getaffinity(0)),
        "loadavg_at_start": round(os.getloadavg()[0], 2),
        "arch": args.arch,
        "runs": args.runs,
        "caption_bench": args.caption_bench,
        "caption_bench_built_here": args.built,
    }


def fmt_ms(v): return "—" if v is None else f"{v:.0f} ms"
def fmt_tok(v): return "—" if v is None else f"{v:.1f} ms"
def fmt_s(v): return "—" if v is None else f"{v / 1000:.2f} s"
def fmt_mb(v): return "—" if v is None else f"{v:.0f} MB"


def table(path: str) -> str:
    info, runs = {}, {}
    with open(path) as results:
        for line in results:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            if row.get("meta"):
                info = row
            else:
                runs[(row.get("runner", "imgcap"), row.get("dtype"), row.get("batch"))] = row

    def get(runner, dtype, key, batch=1):
        return runs.get((runner, dtype, batch), {}).get(key)

    def per_image(runner, dtype):
        both = get(runner, dtype, "e2e_both_ms", batch=4)
        return None if both is None else both / 4

    columns = [("imgcap", "f32"), ("imgcap", "bf16"), ("pytorch", "f32"), ("pytorch", "bf16")]
    figures = [
        ("vision encode", lambda r, d: fmt_ms(get(r, d, "vision_ms"))),
        ("decode, ms / token (batch 1)", lambda r, d: fmt_tok(get(r, d, "decode_ms_per_token"))),
        ("concise caption", lambda r, d: fmt_s(get(r, d, "e2e_concise_ms"))),
        ("creative caption", lambda r, d: fmt_s(get(r, d, "e2e_creative_ms"))),
        ("both captions (imgcap: shared passes; PyTorch: two calls)",
         lambda r, d: fmt_s(get(r, d, "e2e_both_ms"))),
        ("batch 4, both captions, per image", lambda r, d: fmt_s(per_image(r, d))),
        ("resident memory", lambda r, d: fmt_mb(get(r, d, "rss_mb"))),
    ]
    torch_row = next((row for key, row in runs.items() if key[0] == "pytorch"), {})
    cpu_flags = info.get("cpu_flags", {})
    flags = ", ".join(f"{f} {'yes' if cpu_flags[f] else 'no'}" for f in FLAGS if f in cpu_flags)
    out = [
        f"## imgcap vs PyTorch BLIP-{info.get('arch', '?')}, CPU",
        "",
        f"- machine: {info.get('cpu_model', '?')} (family/model {info.get('cpu_family_model', '?')}), "
        f"{info.get('cores', '?')} cores, {info.get('cpus', '?')} CPUs used; {flags}",
        f"- date: {info.get('date', '?')}; git commit: {info.get('git_commit', '?')}",
        f"- caption_bench: {info.get('caption_bench', '?')}"
        + ("" if info.get("caption_bench_built_here") else " (given as CAPTION_BENCH: not built from this commit here)"),
        f"- torch {torch_row.get('torch', '?')}, transformers {torch_row.get('transformers', '?')}, "
        f"CPU capability {torch_row.get('cpu_capability', '?')}, oneDNN bf16 "
        f"{'yes' if torch_row.get('onednn_bf16') else 'no'}, {torch_row.get('threads', '?')} threads, "
        f"attention {torch_row.get('attn_implementation', '?')}",
        f"- each figure: median of {info.get('runs', '?')} timed run(s) after one warm-up; random "
        "weights, captions forced to 12 (concise, 3 beams) and 24 (creative, sampled) tokens",
        f"- load average (1 min) before the first run: {info.get('loadavg_at_start', '?')}"
        + (" — the machine was busy: figures are unreliable (PyTorch's OpenMP threads slow down"
           " several-fold when another process holds a core)"
           if (info.get("loadavg_at_start") or 0) > 0.5 else ""),
        "",
        "| figure | imgcap f32 | imgcap bf16 | PyTorch f32 | PyTorch bf16 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, cell in figures:
        out.append(f"| {name} | " + " | ".join(cell(r, d) for r, d in columns) + " |")
    out += ["", "imgcap's resident memory is VmRSS after the runs, PyTorch's the peak (VmHWM); "
            "PyTorch's both captions = its concise + creative medians (two `generate` calls).", ""]
    for kind in ("q8_0", "q4k"):
        out.append(f"- imgcap {kind} (batch 1): vision {fmt_ms(get('imgcap', kind, 'vision_ms'))}, "
                   f"decode {fmt_tok(get('imgcap', kind, 'decode_ms_per_token'))} / token, "
                   f"both captions {fmt_s(get('imgcap', kind, 'e2e_both_ms'))}, "
                   f"resident {fmt_mb(get('imgcap', kind, 'rss_mb'))}")
    stock = get("imgcap", "f32", "stock_decode_ms_per_token")
    if stock is not None:
        out.append(f"- candle-transformers' own BLIP decoder (f32, batch 1, same run as imgcap f32): "
                   f"{fmt_tok(stock)} / token")
    for (runner, dtype, batch), row in sorted(runs.items(), key=str):
        extra = {k: v for k, v in row.items() if k not in KNOWN}
        if runner == "imgcap" and extra:
            out.append(f"- imgcap {dtype} batch {batch} also reported: {json.dumps(extra, sort_keys=True)}")

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    both_b1 = get("imgcap", "bf16", "e2e_both_ms")
    checks = [
        ("imgcap bf16 vision / PyTorch bf16 vision",
         ratio(get("imgcap", "bf16", "vision_ms"), get("pytorch", "bf16", "vision_ms")), "<=", 0.85),
        ("imgcap bf16 decode / PyTorch bf16 decode",
         ratio(get("imgcap", "bf16", "decode_ms_per_token"),
               get("pytorch", "bf16", "decode_ms_per_token")), "<=", 0.7),
        ("imgcap bf16 both / PyTorch bf16 both",
         ratio(both_b1, get("pytorch", "bf16", "e2e_both_ms")), "<=", 0.5),
        ("imgcap bf16 both / imgcap f32 both",
         ratio(both_b1, get("imgcap", "f32", "e2e_both_ms")), "<=", 0.6),
        ("imgcap bf16 batch-4 per-image speed-up, both captions (b1 / (b4 / 4))",
         ratio(both_b1, per_image("imgcap", "bf16")), ">=", 1.5),
        ("imgcap resident memory bf16 / f32",
         ratio(get("imgcap", "bf16", "rss_mb"), get("imgcap", "f32", "rss_mb")), "<=", 0.65),
    ]
    out += ["", "| ratio | value | target | |", "|---|---:|---:|---|"]
    for name, value, op, target in checks:
        if value is None:
            verdict, shown = "n/a", "—"
        else:
            ok = value <= target if op == "<=" else value >= target
            verdict, shown = ("PASS" if ok else "MISS"), f"{value:.2f}"
        out.append(f"| {name} | {shown} | {'≤' if op == '<=' else '≥'} {target} | {verdict} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("results", nargs="?")
    parser.add_argument("--meta", action="store_true")
    parser.add_argument("--arch", default="base")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--caption-bench", default="")
    parser.add_argument("--built", action="store_true", help="caption_bench was built from this tree")
    args = parser.parse_args()
    if args.meta:
        print(json.dumps(meta(args), sort_keys=True))
    elif args.results:
        print(table(args.results))
    else:
        parser.error("give RESULTS.jsonl or --meta")


if __name__ == "__main__":
    sys.exit(main())
