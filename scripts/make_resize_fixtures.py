#!/usr/bin/env python3
"""Regenerates the Pillow reference outputs for the resize and colour-conversion tests.

Writes small PNG/JPEG files into models/tests/fixtures/preprocess/ (prefix `resize_` and
`cmyk_`): synthetic inputs plus what Pillow makes of them. The Rust resize must reproduce the
`*_to_*` outputs byte for byte.

    python3 -m venv /tmp/pilvenv && /tmp/pilvenv/bin/pip install pillow numpy
    /tmp/pilvenv/bin/python scripts/make_resize_fixtures.py
"""

from pathlib import Path

import numpy as np
import PIL
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "models" / "tests" / "fixtures" / "preprocess"


def synthetic(width: int, height: int, seed: int, noise: float = 12.0) -> Image.Image:
    """Gradients, a hard-edged checkerboard (bicubic overshoots past 0..255 there, which
    exercises the clipping) and some noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width]
    r = 255.0 * x / max(width - 1, 1)
    g = 255.0 * y / max(height - 1, 1)
    b = np.where(((x // 5) + (y // 4)) % 2 == 0, 255.0, 0.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0.0, noise, (height, width, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [
        # (input size, seed, noise, output sizes)
        ((50, 40), 1, 3.0, [(384, 384)]),  # upscale (little noise keeps the output file small)
        ((160, 120), 2, 12.0, [(61, 37), (160, 45), (70, 120)]),  # downscale: both axes, each axis
    ]
    for (w, h), seed, noise, outputs in cases:
        src = synthetic(w, h, seed, noise)
        src.save(OUT / f"resize_{w}x{h}.png")
        for ow, oh in outputs:
            src.resize((ow, oh), Image.BICUBIC, reducing_gap=None).save(
                OUT / f"resize_{w}x{h}_to_{ow}x{oh}.png"
            )

    # A CMYK JPEG (Pillow writes Adobe-inverted CMYK) and Pillow's RGB conversion of it.
    cmyk = synthetic(48, 32, 3).convert("CMYK")
    cmyk.save(OUT / "cmyk_48x32.jpg", quality=95)
    Image.open(OUT / "cmyk_48x32.jpg").convert("RGB").save(OUT / "cmyk_48x32_rgb.png")
    print(f"fixtures written to {OUT} with Pillow {PIL.__version__}")


if __name__ == "__main__":
    main()
