//! The strict walk over the two containers, shared by everything that rewrites a file around
//! its image data without touching it ([`crate::strip`], [`crate::xmp`]): the JPEG segments and
//! PNG chunks of a file as byte ranges of it, in order, so a writer copies what it keeps byte
//! for byte. Strict, unlike the header reader's lenient walk: a file cut off or with stray bytes
//! between segments is refused rather than guessed at, because what is written from it is kept.

use crate::ImageError;

pub(crate) fn truncated() -> ImageError {
    ImageError::Decode("the file ends in the middle of a segment".into())
}

pub(crate) const SOI: u8 = 0xD8;
pub(crate) const SOS: u8 = 0xDA;
pub(crate) const EOI: u8 = 0xD9;
pub(crate) const APP0: u8 = 0xE0;
pub(crate) const APP1: u8 = 0xE1;

/// One piece of a JPEG file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JpegPart<'a> {
    /// The marker code (SOI, APPn, DQT, SOS, RSTn, EOI, ...); `None` for the entropy-coded data
    /// that follows an SOS segment.
    pub code: Option<u8>,
    /// The bytes as they are in the file: marker (with any fill bytes), length and payload;
    /// or the entropy-coded data.
    pub raw: &'a [u8],
    /// What follows the length field; empty for standalone markers and entropy-coded data.
    pub payload: &'a [u8],
}

/// The pieces of a JPEG from SOI up to and including EOI; bytes after EOI are not part of the
/// picture and are left out.
pub(crate) fn jpeg_parts(bytes: &[u8]) -> Result<Vec<JpegPart<'_>>, ImageError> {
    if !bytes.starts_with(&[0xFF, SOI]) {
        return Err(ImageError::UnsupportedFormat);
    }
    let mut parts = vec![JpegPart {
        code: Some(SOI),
        raw: &bytes[..2],
        payload: &[],
    }];
    let mut pos = 2;
    loop {
        // A marker: 0xFF, optional 0xFF fill bytes, then the code.
        if bytes.get(pos) != Some(&0xFF) {
            return Err(ImageError::Decode(format!("no JPEG marker at byte {pos}")));
        }
        let mut code_at = pos + 1;
        while bytes.get(code_at) == Some(&0xFF) {
            code_at += 1;
        }
        let code = *bytes.get(code_at).ok_or_else(truncated)?;
        let marker_start = pos;
        pos = code_at + 1;
        match code {
            EOI => {
                parts.push(JpegPart {
                    code: Some(code),
                    raw: &bytes[marker_start..pos],
                    payload: &[],
                });
                return Ok(parts);
            }
            // Standalone markers without a length: TEM and RST0-7.
            0x01 | 0xD0..=0xD7 => parts.push(JpegPart {
                code: Some(code),
                raw: &bytes[marker_start..pos],
                payload: &[],
            }),
            _ => {
                let len_bytes = bytes.get(pos..pos + 2).ok_or_else(truncated)?;
                let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
                if len < 2 {
                    return Err(ImageError::Decode("a JPEG segment has a bad length".into()));
                }
                let end = pos + len;
                if end > bytes.len() {
                    return Err(truncated());
                }
                parts.push(JpegPart {
                    code: Some(code),
                    raw: &bytes[marker_start..end],
                    payload: &bytes[pos + 2..end],
                });
                pos = end;
                if code == SOS {
                    // Entropy-coded data runs to the next marker that is neither a stuffed
                    // 0xFF00 nor a restart marker.
                    let scan_start = pos;
                    loop {
                        let ff = bytes[pos..]
                            .iter()
                            .position(|&b| b == 0xFF)
                            .ok_or_else(truncated)?;
                        pos += ff;
                        match bytes.get(pos + 1) {
                            None => return Err(truncated()),
                            Some(0x00) | Some(0xD0..=0xD7) | Some(0xFF) => pos += 1,
                            Some(_) => break,
                        }
                    }
                    parts.push(JpegPart {
                        code: None,
                        raw: &bytes[scan_start..pos],
                        payload: &[],
                    });
                }
            }
        }
    }
}

pub(crate) const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// One chunk of a PNG file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PngChunk<'a> {
    pub kind: &'a [u8],
    /// Length, type, data and CRC as they are in the file.
    pub raw: &'a [u8],
    pub data: &'a [u8],
}

/// The chunks of a PNG after its signature, up to and including IEND; bytes after IEND are
/// left out.
pub(crate) fn png_chunks(bytes: &[u8]) -> Result<Vec<PngChunk<'_>>, ImageError> {
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(ImageError::UnsupportedFormat);
    }
    let mut chunks = Vec::new();
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let header = bytes.get(pos..pos + 8).ok_or_else(truncated)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(truncated)?;
        let chunk = PngChunk {
            kind: &bytes[pos + 4..pos + 8],
            raw: &bytes[pos..end],
            data: &bytes[pos + 8..end - 4],
        };
        chunks.push(chunk);
        pos = end;
        if chunk.kind == b"IEND" {
            return Ok(chunks);
        }
    }
}

/// A chunk of `kind` with `data`, its CRC computed (over type and data, as PNG defines it).
pub(crate) fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).expect("a PNG chunk is shorter than 4 GiB");
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut chunk = Vec::with_capacity(data.len() + 12);
    chunk.extend_from_slice(&len.to_be_bytes());
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(&crc.sum().to_be_bytes());
    chunk
}
