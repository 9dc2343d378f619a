"""A baseline JPEG of a given size in bytes, written with the standard library only.

The acceptance checks (scripts/acceptance.sh) upload a ~1.2 MB JPEG; the machines that run them
have Python and boto3 but no imaging library. No DCT is needed: the file stores quantized DCT
coefficients, so they are chosen directly - a colour gradient in the DC terms, deterministic
pseudo-random texture in the AC terms - and Huffman-coded with tables made for the few symbols
used. Any JPEG decoder reads it; the web app decodes, thumbnails and captions it like a photo.

    python3 scripts/lib/synthetic_jpeg.py OUT.jpg [--bytes 1200000] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import struct
import sys

# Coefficients stored per 8x8 block (in zig-zag order, after DC): texture in luma, less in chroma.
LUMA_AC, CHROMA_AC = 63, 6
# Bits per MCU measured from this generator (three blocks, AC values in +-1..3).
BITS_PER_MCU = 291


class BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.nbits = 0

    def write(self, value: int, length: int) -> None:
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.nbits += length
        while self.nbits >= 8:
            self.nbits -= 8
            byte = (self.acc >> self.nbits) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:  # byte stuffing: 0xFF in entropy-coded data is followed by 0x00
                self.out.append(0)
        self.acc &= (1 << self.nbits) - 1

    def finish(self) -> bytes:
        if self.nbits:
            self.write((1 << (8 - self.nbits)) - 1, 8 - self.nbits)  # pad with 1 bits
        return bytes(self.out)


def canonical(lengths: list[tuple[int, int]]) -> tuple[bytes, dict[int, tuple[int, int]]]:
    """(symbol, code length) pairs, sorted by length -> DHT body and symbol -> (code, length)."""
    counts = [0] * 16
    codes: dict[int, tuple[int, int]] = {}
    code, previous = 0, lengths[0][1]
    for symbol, length in lengths:
        code <<= length - previous
        previous = length
        codes[symbol] = (code, length)
        counts[length - 1] += 1
        code += 1
    return bytes(counts) + bytes(s for s, _ in lengths), codes


# DC: size categories 0..11, four bits each (1111 stays unused: no all-ones code).
DC_TABLE, DC_CODES = canonical([(size, 4) for size in range(12)])
# AC: EOB and run 0 with value sizes 1 and 2; two bits each (11 unused).
AC_TABLE, AC_CODES = canonical([(0x00, 2), (0x01, 2), (0x02, 2)])


def magnitude(value: int) -> tuple[int, int]:
    """JPEG's (size category, bits) of a coefficient."""
    size = abs(value).bit_length()
    return size, value if value >= 0 else value + (1 << size) - 1


def block(bits: BitWriter, dc_diff: int, ac: list[int]) -> None:
    size, value = magnitude(dc_diff)
    bits.write(*DC_CODES[size])
    if size:
        bits.write(value, size)
    for coefficient in ac:
        size, value = magnitude(coefficient)
        bits.write(*AC_CODES[size])
        bits.write(value, size)
    if len(ac) < 63:
        bits.write(*AC_CODES[0x00])


def segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">HH", marker, len(body) + 2) + body


def synthetic_jpeg(target_bytes: int, seed: int) -> bytes:
    mcus = max(1, target_bytes * 8 // BITS_PER_MCU)
    width_blocks = max(1, int((mcus * 4 / 3) ** 0.5))  # 4:3
    height_blocks = max(1, mcus // width_blocks)
    rng = random.Random(seed)
    texture = (-3, -2, -1, 1, 2, 3)
    bits = BitWriter()
    previous = [0, 0, 0]
    for by in range(height_blocks):
        for bx in range(width_blocks):
            # DC (quantizer 8): luma -64..64, chroma drifting across the picture.
            dcs = (
                (bx * 128 // width_blocks) - 64,
                (by * 64 // height_blocks) - 32,
                32 - (bx * 64 // width_blocks),
            )
            for c, dc in enumerate(dcs):
                count = LUMA_AC if c == 0 else CHROMA_AC
                block(bits, dc - previous[c], [rng.choice(texture) for _ in range(count)])
                previous[c] = dc
    width, height = width_blocks * 8, height_blocks * 8
    frame = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
    scan = bytes([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0])
    return b"".join(
        [
            b"\xff\xd8",
            segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xFFDB, bytes([0]) + bytes([8] * 64)),
            segment(0xFFC0, frame),
            segment(0xFFC4, bytes([0x00]) + DC_TABLE + bytes([0x10]) + AC_TABLE),
            segment(0xFFDA, scan),
            bits.finish(),
            b"\xff\xd9",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--bytes", type=int, default=1_200_000, help="approximate file size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not 10_000 <= args.bytes <= 50_000_000:
        parser.error("--bytes must be between 10000 and 50000000")
    data = synthetic_jpeg(args.bytes, args.seed)
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"{args.out}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
