#!/usr/bin/env python3
"""Builds docs/demo.gif from the browser end-to-end test's screenshots.

Run the test first (it writes test-artifacts/e2e/NN-step.png):
    cargo test -p imgcap-webapp --test api browser
then, with Pillow installed (e.g. python3 -m venv .venv && .venv/bin/pip install pillow):
    .venv/bin/python scripts/make-demo-gif.py
"""
import argparse
import pathlib
import sys

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=pathlib.Path, default=ROOT / "test-artifacts" / "e2e")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "demo.gif")
    parser.add_argument("--width", type=int, default=960, help="width of the gif in pixels")
    parser.add_argument("--seconds", type=float, default=1.8, help="time each step is shown")
    args = parser.parse_args()

    shots = sorted(args.frames.glob("*.png"))
    if not shots:
        print(f"no screenshots in {args.frames}: run the browser test first", file=sys.stderr)
        return 1
    frames = []
    for shot in shots:
        image = Image.open(shot).convert("RGB")
        height = round(image.height * args.width / image.width)
        image = image.resize((args.width, height), Image.Resampling.LANCZOS)
        # One adaptive palette per frame keeps photos and text legible.
        frames.append(image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        args.out,
        save_all=True,
        append_images=frames[1:],
        duration=int(args.seconds * 1000),
        loop=0,
        optimize=True,
    )
    print(f"{args.out}: {len(frames)} frames, {args.out.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
