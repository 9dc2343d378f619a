//! What an upload will cost before it costs anything: dimensions, sample layout and metadata
//! read from the PNG chunks or JPEG marker segments, without decoding a pixel and without
//! inflating more than [`MAX_ICC_PROFILE_BYTES`] of a compressed colour profile.
//!
//! The decoders are not trusted with this: the `png` crate inflates an `iCCP` chunk eagerly
//! while it reads the header (up to its allocation limit, hundreds of MB from a few hundred KB),
//! so a PNG is decoded from a copy without the chunks decoding does not need
//! ([`ImageHeader::decodable`]).

use std::borrow::Cow;
use std::io::Read;

use crate::ImageError;
use crate::ImageFormatKind;

/// The largest colour profile, once inflated, that is read or kept in a stored original. Real
/// profiles are a few hundred bytes to a few hundred KB; a larger one is ignored by decoding and
/// dropped from originals.
pub const MAX_ICC_PROFILE_BYTES: u64 = 1 << 20;

/// Memory for everything besides the full-size buffers: the decoder's row buffers, the
/// thumbnail and its JPEG, the model input (3 × 384² f32 plus its RGB8 resize, and room for
/// larger input sizes).
const WORKING_SET_BYTES: u64 = 8 << 20;

/// The embedded colour profile, measured without inflating past the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IccProfile {
    None,
    /// At most [`MAX_ICC_PROFILE_BYTES`] once inflated: decoded and kept.
    WithinCap {
        bytes: u64,
    },
    /// Larger (or a corrupt stream): ignored by decoding, dropped from stored originals.
    OverCap,
}

/// The header facts that decide whether an image may be decoded and what decoding will hold in
/// memory at its peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHeader {
    pub format: ImageFormatKind,
    pub width: u32,
    pub height: u32,
    /// Samples per pixel in the decoder's output (palette images count as RGBA, CMYK as 4).
    channels: u64,
    /// 2 for 16-bit PNGs, else 1.
    bytes_per_sample: u64,
    /// JPEG components, whose DCT coefficients zune-jpeg keeps for the whole frame (2 bytes
    /// each) when the file is progressive or its scans are not interleaved; 0 for PNG.
    coefficient_planes: u64,
    pub icc_profile: IccProfile,
    /// Metadata the decoder keeps in memory (EXIF, text, colour profile as stored).
    metadata_bytes: u64,
    file_bytes: u64,
}

impl ImageHeader {
    /// Bytes the decode and what follows it (conversion to upright RGB8, thumbnail, model
    /// input) hold at their peak: the largest of the decoder's output with its working buffers,
    /// that output plus the RGB8 copy made from it, and two RGB8 images (a 90° EXIF rotation);
    /// plus two copies of the file (the decodable copy, the stripped original), the metadata
    /// and a fixed working set. An overestimate by design: the budget must hold.
    pub fn memory_needed(&self) -> u64 {
        let pixels = u64::from(self.width) * u64::from(self.height);
        let decoded = pixels * self.channels * self.bytes_per_sample;
        let padded =
            (u64::from(self.width).div_ceil(16) * 16) * (u64::from(self.height).div_ceil(16) * 16);
        let coefficients = padded * self.coefficient_planes * 2;
        let rgb = pixels * 3;
        let peak = (decoded + coefficients).max(decoded + rgb).max(2 * rgb);
        peak + 2 * self.file_bytes + self.metadata_bytes + WORKING_SET_BYTES
    }

    /// The bytes to hand the decoder: for a PNG, the file without the chunks pixel decoding
    /// does not read (colour profile, text, unknown ancillary chunks), so none of them is
    /// inflated or buffered; a JPEG as it is (its metadata is not compressed).
    pub fn decodable<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if self.format == ImageFormatKind::Jpeg
            || png_chunks(bytes).all(|chunk| needed_for_pixels(chunk.kind))
        {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        out.extend_from_slice(&bytes[..PNG_SIGNATURE_LEN]);
        let mut end = PNG_SIGNATURE_LEN;
        for chunk in png_chunks(bytes) {
            if needed_for_pixels(chunk.kind) {
                out.extend_from_slice(chunk.whole);
            }
            end += chunk.whole.len();
        }
        // A cut-off last chunk goes to the decoder as it is, which reports it.
        out.extend_from_slice(&bytes[end..]);
        Cow::Owned(out)
    }
}

/// Reads the header of a JPEG or PNG (see [`crate::sniff_format`]) and checks its dimensions
/// against `limits`. Cheap: it walks chunk and segment lengths, and inflates at most
/// [`MAX_ICC_PROFILE_BYTES`] + 1 bytes of a PNG colour profile.
pub fn read_header(bytes: &[u8], limits: &crate::ImageLimits) -> Result<ImageHeader, ImageError> {
    let header = match crate::sniff_format(bytes)? {
        ImageFormatKind::Png => png_header(bytes)?,
        ImageFormatKind::Jpeg => jpeg_header(bytes)?,
    };
    limits.check(header.width, header.height)?;
    Ok(header)
}

fn corrupt(what: &str) -> ImageError {
    ImageError::Decode(format!("corrupt image header: {what}"))
}

fn truncated() -> ImageError {
    ImageError::Decode("the data is truncated (it ends inside the image header)".into())
}

// ---------------------------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------------------------

const PNG_SIGNATURE_LEN: usize = 8;

struct PngChunk<'a> {
    kind: [u8; 4],
    data: &'a [u8],
    /// Length, type, data and CRC.
    whole: &'a [u8],
}

/// The complete chunks after the signature, up to and including `IEND`; a chunk cut off by the
/// end of the data ends the walk.
fn png_chunks(bytes: &[u8]) -> impl Iterator<Item = PngChunk<'_>> {
    let mut pos = PNG_SIGNATURE_LEN;
    let mut ended = false;
    std::iter::from_fn(move || {
        if ended {
            return None;
        }
        let head = bytes.get(pos..pos + 8)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = [head[4], head[5], head[6], head[7]];
        let end = pos.checked_add(12)?.checked_add(len)?;
        let whole = bytes.get(pos..end)?;
        ended = &kind == b"IEND";
        let chunk = PngChunk {
            kind,
            data: &whole[8..8 + len],
            whole,
        };
        pos = end;
        Some(chunk)
    })
}

/// Critical chunks, transparency, and EXIF (for the orientation): all pixel decoding reads.
fn needed_for_pixels(kind: [u8; 4]) -> bool {
    kind[0].is_ascii_uppercase() || &kind == b"tRNS" || &kind == b"eXIf"
}

fn png_header(bytes: &[u8]) -> Result<ImageHeader, ImageError> {
    let mut chunks = png_chunks(bytes);
    let ihdr = chunks.next().ok_or_else(truncated)?;
    if &ihdr.kind != b"IHDR" || ihdr.data.len() != 13 {
        return Err(corrupt("the PNG does not start with IHDR"));
    }
    let d = ihdr.data;
    let width = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    let height = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
    let (bit_depth, colour_type) = (d[8], d[9]);
    let channels = match colour_type {
        0 => 1,
        2 => 3,
        // Palette images expand to RGB, or RGBA with tRNS: counted as RGBA.
        3 | 6 => 4,
        4 => 2,
        other => return Err(corrupt(&format!("unknown PNG colour type {other}"))),
    };
    let mut icc_profile = IccProfile::None;
    let mut metadata_bytes = 0u64;
    for chunk in chunks {
        match &chunk.kind {
            b"iCCP" if icc_profile == IccProfile::None => {
                icc_profile = measure_iccp(chunk.data);
                if let IccProfile::WithinCap { bytes } = icc_profile {
                    metadata_bytes += bytes;
                }
            }
            b"eXIf" => metadata_bytes += chunk.data.len() as u64,
            _ => {}
        }
    }
    Ok(ImageHeader {
        format: ImageFormatKind::Png,
        width,
        height,
        channels,
        bytes_per_sample: if bit_depth == 16 { 2 } else { 1 },
        coefficient_planes: 0,
        icc_profile,
        metadata_bytes,
        file_bytes: bytes.len() as u64,
    })
}

/// Inflates an `iCCP` payload (keyword, NUL, method, zlib stream) into nothing, counting, and
/// stops one byte past the cap.
fn measure_iccp(data: &[u8]) -> IccProfile {
    let Some(nul) = data.iter().take(80).position(|&b| b == 0) else {
        return IccProfile::OverCap;
    };
    let Some(stream) = data.get(nul + 2..) else {
        return IccProfile::OverCap;
    };
    let mut inflated = flate2::read::ZlibDecoder::new(stream).take(MAX_ICC_PROFILE_BYTES + 1);
    match std::io::copy(&mut inflated, &mut std::io::sink()) {
        Ok(bytes) if bytes <= MAX_ICC_PROFILE_BYTES => IccProfile::WithinCap { bytes },
        _ => IccProfile::OverCap,
    }
}

// ---------------------------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------------------------

/// One marker segment: its code and its payload (after the length field).
pub(crate) struct Segment<'a> {
    pub marker: u8,
    pub payload: &'a [u8],
}

/// Walks a JPEG's marker structure from after SOI: segments by their lengths, entropy-coded
/// scans up to the next real marker. Yields each segment with a length field; ends after EOI,
/// and yields an error instead when the data ends first or a length is impossible.
pub(crate) struct JpegSegments<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The last segment was SOS: entropy-coded data comes next.
    in_scan: bool,
    done: bool,
}

impl<'a> JpegSegments<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 2, // after SOI, which `sniff_format` checked
            in_scan: false,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<Segment<'a>>, ImageError> {
        let truncated =
            || ImageError::Decode("the JPEG data is truncated (no end-of-image marker)".into());
        let (bytes, n) = (self.bytes, self.bytes.len());
        loop {
            if self.in_scan {
                self.pos = skip_entropy_coded_data(bytes, self.pos).ok_or_else(truncated)?;
                self.in_scan = false;
            }
            // Next marker: 0xFF, optional 0xFF fill bytes, the marker code. Stray bytes before
            // a marker are skipped, as libjpeg does (with a warning).
            while self.pos < n && bytes[self.pos] != 0xFF {
                self.pos += 1;
            }
            while self.pos < n && bytes[self.pos] == 0xFF {
                self.pos += 1;
            }
            let &marker = bytes.get(self.pos).ok_or_else(truncated)?;
            self.pos += 1;
            match marker {
                0xD9 => return Ok(None),
                // Markers without a length field (TEM, RSTn) and a stuffed zero outside a scan.
                0x00 | 0x01 | 0xD0..=0xD7 => continue,
                _ => {}
            }
            let len_bytes = bytes.get(self.pos..self.pos + 2).ok_or_else(truncated)?;
            let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
            if len < 2 {
                return Err(ImageError::Decode(format!(
                    "corrupt JPEG: segment 0xFF{marker:02X} has length {len}"
                )));
            }
            let payload = bytes
                .get(self.pos + 2..self.pos + len)
                .ok_or_else(truncated)?;
            self.pos += len;
            self.in_scan = marker == 0xDA;
            return Ok(Some(Segment { marker, payload }));
        }
    }
}

impl<'a> Iterator for JpegSegments<'a> {
    type Item = Result<Segment<'a>, ImageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}

/// Returns the offset of the 0xFF that starts the first marker after a scan's entropy-coded
/// data, skipping stuffed bytes (FF 00) and restart markers (FF D0..D7), or `None` when the data
/// ends first.
fn skip_entropy_coded_data(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += bytes.get(i..)?.iter().position(|&b| b == 0xFF)?;
        let mut j = i + 1;
        while *bytes.get(j)? == 0xFF {
            j += 1;
        }
        match bytes[j] {
            0x00 | 0xD0..=0xD7 => i = j + 1,
            _ => return Some(j - 1),
        }
    }
}

const ICC_SIGNATURE: &[u8] = b"ICC_PROFILE\0";

/// Reads segments up to the first scan: the frame header (SOFn) and the metadata segments
/// before it.
fn jpeg_header(bytes: &[u8]) -> Result<ImageHeader, ImageError> {
    let mut frame = None;
    let mut icc_bytes = 0u64;
    let mut metadata_bytes = 0u64;
    for segment in JpegSegments::new(bytes) {
        let Segment { marker, payload } = segment?;
        match marker {
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if payload.len() < 6 {
                    return Err(corrupt("short JPEG frame header"));
                }
                let height = u16::from_be_bytes([payload[1], payload[2]]);
                let width = u16::from_be_bytes([payload[3], payload[4]]);
                let components = u64::from(payload[5]);
                frame = Some((u32::from(width), u32::from(height), components));
            }
            0xE2 if payload.starts_with(ICC_SIGNATURE) => {
                // Signature, then sequence number and count: 14 bytes before each piece.
                icc_bytes += payload.len().saturating_sub(ICC_SIGNATURE.len() + 2) as u64;
                metadata_bytes += payload.len() as u64;
            }
            0xE0..=0xEF | 0xFE => metadata_bytes += payload.len() as u64,
            0xDA => break,
            _ => {}
        }
    }
    let (width, height, components) = frame.ok_or_else(|| corrupt("no JPEG frame header"))?;
    if !(1..=4).contains(&components) {
        return Err(corrupt(&format!("{components} JPEG components")));
    }
    Ok(ImageHeader {
        format: ImageFormatKind::Jpeg,
        width,
        height,
        channels: if components == 1 {
            1
        } else {
            components.max(3)
        },
        bytes_per_sample: 1,
        coefficient_planes: components,
        icc_profile: match icc_bytes {
            0 => IccProfile::None,
            bytes if bytes <= MAX_ICC_PROFILE_BYTES => IccProfile::WithinCap { bytes },
            _ => IccProfile::OverCap,
        },
        metadata_bytes,
        file_bytes: bytes.len() as u64,
    })
}

/// zune-jpeg fills missing scan data with grey instead of failing, in the lenient mode the
/// image crate uses; Pillow refuses such a file ("image file is truncated"), and so do we:
/// the marker walk must reach the end-of-image marker.
pub(crate) fn check_jpeg_complete(bytes: &[u8]) -> Result<(), ImageError> {
    JpegSegments::new(bytes).try_for_each(|segment| segment.map(drop))
}
