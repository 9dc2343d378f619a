//! Crafted images that cost far more to decode than to send, for the tests and the memory
//! benchmark of both servers: zlib streams of zeros inflate about 1000-fold, so a few hundred
//! KB become hundreds of MB in a colour profile, a text chunk or the pixels themselves.
//!
//! Each takes a `seed` that changes the bytes (not the cost), so that a burst of them is not
//! answered as duplicates of one upload.

/// A zlib stream that inflates to `len` zero bytes: one dynamic-Huffman deflate block in which
/// "repeat the previous byte 258 times" costs 2 bits, so the stream is about `len / 1000` bytes.
pub fn zlib_zeros(len: u64) -> Vec<u8> {
    let mut bits = BitWriter::default();
    // Block header: final, dynamic Huffman.
    bits.put(1, 1);
    bits.put(2, 2);
    // 286 literal/length codes, 2 distance codes (a complete code: some inflaters refuse a
    // lone one), 18 code-length codes.
    bits.put(29, 5);
    bits.put(1, 5);
    bits.put(14, 4);
    // Code-length code lengths in the format's order (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4,
    // 12, 3, 13, 2, 14, 1): symbol 18 (a run of zeros) gets 1 bit, symbols 1 and 2 get 2 bits.
    for len in [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] {
        bits.put(len, 3);
    }
    // Canonical codes: 18 -> 0, 1 -> 10, 2 -> 11 (Huffman codes go most significant bit first).
    let (one, two) = ((0b10, 2), (0b11, 2));
    let zeros = |bits: &mut BitWriter, run: u32| {
        bits.huffman(0, 1);
        bits.put(run - 11, 7);
    };
    // Literal/length code lengths: 0 -> 2, 1..=255 -> 0, 256 (end of block) -> 2,
    // 257..=284 -> 0, 285 (length 258) -> 1; then both distance codes (distances 1, 2) -> 1.
    bits.huffman(two.0, two.1);
    zeros(&mut bits, 138);
    zeros(&mut bits, 117);
    bits.huffman(two.0, two.1);
    zeros(&mut bits, 28);
    for _ in 0..3 {
        bits.huffman(one.0, one.1);
    }
    // Data: literal 0 -> 10, end of block -> 11, length 258 -> 0, distance 1 -> 0.
    let (literal_zero, end, length_258, distance_1) = ((0b10, 2), (0b11, 2), (0, 1), (0, 1));
    let mut written = 0u64;
    if len > 0 {
        bits.huffman(literal_zero.0, literal_zero.1);
        written = 1;
    }
    while len - written >= 258 {
        bits.huffman(length_258.0, length_258.1);
        bits.huffman(distance_1.0, distance_1.1);
        written += 258;
    }
    while written < len {
        bits.huffman(literal_zero.0, literal_zero.1);
        written += 1;
    }
    bits.huffman(end.0, end.1);
    let mut out = vec![0x78, 0x01];
    out.extend(bits.finish());
    // Adler-32 of `len` zeros: a = 1, b = len.
    let adler = ((len % 65_521) as u32) << 16 | 1;
    out.extend(adler.to_be_bytes());
    out
}

/// A `width`×`height` PNG whose `iCCP` colour profile inflates to `profile_bytes`.
pub fn png_with_inflating_profile(
    width: u32,
    height: u32,
    profile_bytes: u64,
    seed: u32,
) -> Vec<u8> {
    let mut profile = b"bomb\0\0".to_vec();
    profile.extend(zlib_zeros(profile_bytes));
    png(width, height, 8, 2, &[(b"iCCP", profile)], seed)
}

/// A `width`×`height` PNG with a `zTXt` text chunk that inflates to `text_bytes`.
pub fn png_with_inflating_text(width: u32, height: u32, text_bytes: u64, seed: u32) -> Vec<u8> {
    let mut text = b"Comment\0\0".to_vec();
    text.extend(zlib_zeros(text_bytes));
    png(width, height, 8, 2, &[(b"zTXt", text)], seed)
}

/// A transparent black 16-bit RGBA PNG: 8 bytes per pixel once decoded (320 MB at 40 MP) from
/// about a thousandth of that.
pub fn png_rgba16(width: u32, height: u32, seed: u32) -> Vec<u8> {
    png(width, height, 16, 6, &[], seed)
}

/// A baseline JPEG (`width`×`height`, grey) carrying an ICC profile of `profile_bytes` split
/// over APP2 segments, as the ICC specification's JPEG embedding does (at most 255 pieces).
pub fn jpeg_with_profile(width: u32, height: u32, profile_bytes: usize, seed: u32) -> Vec<u8> {
    const PIECE: usize = 65_519 - 14;
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
        .encode_image(&image)
        .expect("encoding a JPEG in memory cannot fail");
    let pieces = profile_bytes.div_ceil(PIECE).clamp(1, 255);
    let mut out = jpeg[..2].to_vec();
    for index in 0..pieces {
        let len = PIECE.min(profile_bytes - index * PIECE);
        let mut payload = b"ICC_PROFILE\0".to_vec();
        payload.extend([index as u8 + 1, pieces as u8]);
        payload.extend((0..len).map(|i| (i as u32 ^ seed) as u8));
        out.extend([0xFF, 0xE2]);
        out.extend(((payload.len() + 2) as u16).to_be_bytes());
        out.extend(payload);
    }
    out.extend(&jpeg[2..]);
    out
}

/// A PNG of all-zero pixels with `extra` chunks before its data, plus a `tEXt` chunk naming
/// the seed.
fn png(
    width: u32,
    height: u32,
    bit_depth: u8,
    colour_type: u8,
    extra: &[(&[u8; 4], Vec<u8>)],
    seed: u32,
) -> Vec<u8> {
    let channels: u64 = match colour_type {
        0 => 1,
        2 => 3,
        4 => 2,
        _ => 4,
    };
    let row = 1 + u64::from(width) * channels * u64::from(bit_depth) / 8;
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([bit_depth, colour_type, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"tEXt", format!("Seed\0{seed}").as_bytes());
    for (kind, data) in extra {
        png_chunk(&mut out, kind, data);
    }
    png_chunk(&mut out, b"IDAT", &zlib_zeros(row * u64::from(height)));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// CRC-32 with PNG's polynomial (also for tests that patch or build PNG chunks).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Deflate's bit order: values least significant bit first, Huffman codes most significant
/// bit first.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    current: u32,
    filled: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, count: u32) {
        for i in 0..count {
            self.current |= ((value >> i) & 1) << self.filled;
            self.filled += 1;
            if self.filled == 8 {
                self.bytes.push(self.current as u8);
                (self.current, self.filled) = (0, 0);
            }
        }
    }

    fn huffman(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.bytes.push(self.current as u8);
        }
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn zlib_zeros_inflate_to_exactly_that_many_zeros() {
        for len in [0, 1, 257, 258, 259, 1000, 100_000] {
            let stream = zlib_zeros(len);
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&stream[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out.len() as u64, len, "{len}");
            assert!(out.iter().all(|&b| b == 0));
        }
        assert!(zlib_zeros(300 << 20).len() < 400 << 10);
    }

    #[test]
    fn crafted_files_decode() {
        let png = image::load_from_memory(&png_rgba16(64, 48, 1)).unwrap();
        assert_eq!((png.width(), png.height()), (64, 48));
        assert_eq!(png.color(), image::ColorType::Rgba16);
        let jpeg = image::load_from_memory(&jpeg_with_profile(32, 32, 200_000, 2)).unwrap();
        assert_eq!(jpeg.width(), 32);
        let text = image::load_from_memory(&png_with_inflating_text(20, 20, 1 << 20, 3)).unwrap();
        assert_eq!(text.width(), 20);
    }
}
