#!/usr/bin/env python3
"""PyTorch + transformers BLIP on CPU or GPU, doing the work of imgcap's `caption_bench` example.

    .venv-bench/bin/python scripts/bench_pytorch_blip.py --arch base|large [--dtype f32|f16|bf16]
        [--batch N] [--runs R] [--threads T] [--device cpu|cuda]

On `--device cuda` (scripts/gpu-check.sh) every timing waits for the GPU (torch.cuda.synchronize)
and `gpu` names it; the CPU-only facts (threads, oneDNN) then say nothing about the run.

Run by scripts/bench-vs-pytorch.sh (venv: scripts/requirements-bench.txt). Prints one JSON line
with the keys of `models/examples/caption_bench.rs` where they mean the same thing, plus
`runner: "pytorch"` and the torch build's facts; everything else goes to stderr.

The model is `transformers.BlipForConditionalGeneration` built from the committed published
config (models/tests/fixtures/configs/) with random weights (fixed seed): the same shapes, hence
the same FLOPs, as the real checkpoint. It is built directly in the measured dtype (bf16: no f32
copy ever exists, so the peak memory is honest), in eval mode, under `torch.inference_mode()`.
bf16 is plain `model.to(bfloat16)` inference, PyTorch's best CPU setting: oneDNN runs the bf16
matmuls where the CPU has bf16 instructions (`onednn_bf16` in the output says whether it does).

Figures (median of R timed runs after one warm-up; every caption has a fixed length, like
caption_bench, so every run does the same work):
  vision_ms            model.vision_model(pixel_values)
  decode_ms_per_token  greedy decoding of 20 new tokens from the precomputed image embeddings
                       (text_decoder.generate, KV cache on, cross-attention K/V cached), / 20
  e2e_concise_ms       model.generate: vision + beam search, 3 beams, 12 new tokens
  e2e_creative_ms      model.generate: vision + top-k 50 / top-p 0.9 / temperature 0.9 sampling,
                       24 new tokens
  e2e_both_ms          both captions as a PyTorch server makes them: two full calls (transformers
                       has no shared pass), i.e. e2e_concise_ms + e2e_creative_ms
  rss_mb               peak resident set of the process (VmHWM); rss_current_mb: VmRSS at the end
  weights_mb           parameter bytes (tied tensors once)
Generation starts from bos ([DEC], 30522) alone, like caption_bench and like BLIP's own
`generate` without a prompt; `min_new_tokens` suppresses [SEP] (BLIP's end token) and every
output is checked for its length.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import BlipConfig, BlipForConditionalGeneration

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "models/tests/fixtures/configs"
DECODE_TOKENS = 20
CONCISE_TOKENS = 12
CREATIVE_TOKENS = 24
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def median_ms(runs: int, f, device: torch.device) -> float:
    """One warm-up call, then the median of `runs` timed calls (the upper one for even counts,
    as caption_bench takes it); GPU work is waited for before each time is taken."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    f()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


def proc_status_mb(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--arch", choices=["base", "large"], default="base")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch.set_num_threads (default: the CPUs this process may use)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    if args.batch < 1 or args.runs < 1 or args.threads < 1:
        parser.error("--batch, --runs and --threads must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device")
    device = torch.device(args.device)

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = DTYPES[args.dtype]

    config = BlipConfig.from_json_file(str(CONFIGS / f"blip-image-captioning-{args.arch}.json"))
    model = BlipForConditionalGeneration._from_config(config, dtype=dtype).eval().to(device)
    bad = {str(p.dtype) for p in model.parameters() if p.dtype != dtype}
    if bad:
        sys.exit(f"parameters in {bad}, not {dtype}")
    weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())

    text = config.text_config
    bos, sep, pad = text.bos_token_id, text.sep_token_id, text.pad_token_id
    size = config.vision_config.image_size
    pixels = torch.randn(args.batch, 3, size, size, generator=torch.Generator().manual_seed(1)).to(device, dtype)

    def checked(out: torch.Tensor, new_tokens: int) -> None:
        # Starts with bos, has exactly the forced number of new tokens, none of them the end token
        # (a sequence that ended early would hold [SEP] and then padding).
        want = (args.batch, 1 + new_tokens)
        if tuple(out.shape) != want or not bool((out[:, 0] == bos).all()) or bool((out[:, 1:] == sep).any()):
            sys.exit(f"generate returned {tuple(out.shape)} (want {want}, bos first, no [SEP]): "
                     f"{out[:, :8].tolist()}...: min_new_tokens did not force the length")

    with torch.inference_mode():
        vision_ms = median_ms(args.runs, lambda: model.vision_model(pixel_values=pixels), device)
        embeds = model.vision_model(pixel_values=pixels)[0]
        embeds_mask = torch.ones(embeds.shape[:-1], dtype=torch.long, device=device)
        start = torch.full((args.batch, 1), bos, dtype=torch.long, device=device)

        def decode() -> None:
            # What BlipForConditionalGeneration.generate passes to the decoder, minus the vision pass.
            out = model.text_decoder.generate(
                input_ids=start, eos_token_id=sep, pad_token_id=pad,
                encoder_hidden_states=embeds, encoder_attention_mask=embeds_mask,
                max_new_tokens=DECODE_TOKENS, min_new_tokens=DECODE_TOKENS,
                do_sample=False, num_beams=1)
            checked(out, DECODE_TOKENS)

        def concise() -> None:
            out = model.generate(
                pixel_values=pixels, max_new_tokens=CONCISE_TOKENS, min_new_tokens=CONCISE_TOKENS,
                do_sample=False, num_beams=3, length_penalty=1.0, repetition_penalty=1.0,
                no_repeat_ngram_size=0)
            checked(out, CONCISE_TOKENS)

        def creative() -> None:
            out = model.generate(
                pixel_values=pixels, max_new_tokens=CREATIVE_TOKENS, min_new_tokens=CREATIVE_TOKENS,
                do_sample=True, num_beams=1, temperature=0.9, top_k=50, top_p=0.9,
                repetition_penalty=1.0, no_repeat_ngram_size=0)
            checked(out, CREATIVE_TOKENS)

        decode_ms = median_ms(args.runs, decode, device)
        e2e_concise_ms = median_ms(args.runs, concise, device)
        e2e_creative_ms = median_ms(args.runs, creative, device)

    def r(x: float) -> float:
        return round(x, 1)

    line = {
        "runner": "pytorch",
        "arch": args.arch,
        "dtype": args.dtype,
        "batch": args.batch,
        "vision_ms": r(vision_ms),
        "decode_ms_per_token": r(decode_ms / DECODE_TOKENS),
        "e2e_concise_ms": r(e2e_concise_ms),
        "e2e_creative_ms": r(e2e_creative_ms),
        "e2e_both_ms": r(e2e_concise_ms + e2e_creative_ms),
        "rss_mb": r(proc_status_mb("VmHWM")),
        "rss_current_mb": r(proc_status_mb("VmRSS")),
        "weights_mb": r(weights_bytes / (1024 * 1024)),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "attn_implementation": model.config._attn_implementation,
        "device": args.device,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
    print(json.dumps(line, sort_keys=True, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
