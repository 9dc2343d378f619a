#!/usr/bin/env python3
"""Regenerates the Pillow reference outputs for the resize and colour-conversion tests.

Writes small PNG/JPEG files into imaging/tests/fixtures/ (prefixes `resize_`, `cmyk_`
and `alpha_`): synthetic inputs plus what Pillow makes of them. The Rust resize must reproduce the
`*_to_*` outputs byte for byte, and decoding the `alpha_*` inputs must give their `*_rgb.png`
(transformers' `convert_to_rgb`: transparency composited onto white).

    python3 -m venv /tmp/pilvenv && /tmp/pilvenv/bin/pip install pillow==13.0.0 numpy
    /tmp/pilvenv/bin/python scripts/make_resize_fixtures.py

Pillow 13 matters: it runs the vertical resize pass first when the height shrinks much more than
the width (`resize_160x120_to_150x30.png`); older versions always went horizontal first.
Two runs give identical files.
"""

from pathlib import Path

import numpy as np
import PIL
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "imaging" / "tests" / "fixtures"


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


def convert_to_rgb(image: Image.Image) -> Image.Image:
    """transformers.image_transforms.convert_to_rgb (5.x) for a PIL image."""
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [
        # (input size, seed, noise, output sizes)
        ((50, 40), 1, 3.0, [(384, 384)]),  # upscale (little noise keeps the output file small)
        ((160, 120), 2, 12.0, [(61, 37), (150, 30), (160, 45), (70, 120)]),  # downscale (see test)
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
    # Transparency, as transformers 5.x `convert_to_rgb` treats it: composited onto white.
    rgba = synthetic(32, 24, 4)
    alpha = Image.fromarray(np.tile(np.linspace(0, 255, 32).astype(np.uint8), (24, 1)), "L")
    rgba.putalpha(alpha)
    rgba.save(OUT / "alpha_rgba.png")
    rgba.convert("LA").save(OUT / "alpha_la.png")
    palette = synthetic(32, 24, 5).quantize(16)
    palette.save(OUT / "alpha_palette_trns.png", transparency=3)
    for name in ["alpha_rgba", "alpha_la", "alpha_palette_trns"]:
        convert_to_rgb(Image.open(OUT / f"{name}.png")).save(OUT / f"{name}_rgb.png")

    print(f"fixtures written to {OUT} with Pillow {PIL.__version__}")


if __name__ == "__main__":
    main()
