//! Lossless metadata removal: the stored original keeps every byte of the image data and of
//! the segments/chunks that matter for display, and loses the ones that carry personal data.
//!
//! JPEG: APP1 (Exif, XMP, extended XMP), APP13 (Photoshop IRB / IPTC) and COM segments are
//! dropped; everything else (APP0 JFIF, APP2 ICC profile, APP14 Adobe, tables, frames, scans) is
//! copied byte for byte. PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt` and `tIME` chunks are dropped;
//! every other chunk (`iCCP` included) is copied verbatim with its CRC. Bytes after the end of
//! the image (EOI / IEND) are dropped: they are not part of the picture and can carry anything.
//!
//! A colour profile over `MAX_ICC_PROFILE_BYTES` once inflated (JPEG APP2 `ICC_PROFILE`
//! segments, PNG `iCCP`) is dropped too: decoding ignored it, and every later reader of the
//! original (the caption worker, a browser) would otherwise inflate it again.

use crate::{ImageError, ImageFormatKind};

/// The upload without its personal metadata; without its colour profile as well unless
/// `keep_icc` (the profile is within the cap, [`crate::IccProfile`]).
pub fn strip_metadata(
    bytes: &[u8],
    format: ImageFormatKind,
    keep_icc: bool,
) -> Result<Vec<u8>, ImageError> {
    match format {
        ImageFormatKind::Jpeg => strip_jpeg(bytes, keep_icc),
        ImageFormatKind::Png => strip_png(bytes, keep_icc),
    }
}

fn truncated() -> ImageError {
    ImageError::Decode("the file ends in the middle of a segment".into())
}

const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const ICC_SIGNATURE: &[u8] = b"ICC_PROFILE\0";
const APP13: u8 = 0xED;
const COM: u8 = 0xFE;
const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;

fn strip_jpeg(bytes: &[u8], keep_icc: bool) -> Result<Vec<u8>, ImageError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(ImageError::UnsupportedFormat);
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..2]);
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
                out.extend_from_slice(&bytes[marker_start..pos]);
                return Ok(out);
            }
            // Standalone markers without a length: TEM and RST0-7.
            0x01 | 0xD0..=0xD7 => out.extend_from_slice(&bytes[marker_start..pos]),
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
                let icc = code == APP2 && bytes[pos + 2..end].starts_with(ICC_SIGNATURE);
                if !matches!(code, APP1 | APP13 | COM) && (keep_icc || !icc) {
                    out.extend_from_slice(&bytes[marker_start..end]);
                }
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
                    out.extend_from_slice(&bytes[scan_start..pos]);
                }
            }
        }
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const DROPPED_CHUNKS: [&[u8; 4]; 5] = [b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"];

fn strip_png(bytes: &[u8], keep_icc: bool) -> Result<Vec<u8>, ImageError> {
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(ImageError::UnsupportedFormat);
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let header = bytes.get(pos..pos + 8).ok_or_else(truncated)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(truncated)?;
        let dropped = DROPPED_CHUNKS.iter().any(|dropped| kind == &dropped[..])
            || (!keep_icc && kind == b"iCCP");
        if !dropped {
            out.extend_from_slice(&bytes[pos..end]);
        }
        pos = end;
        if kind == b"IEND" {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, code];
        s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    #[test]
    fn jpeg_walker_drops_exif_xmp_iptc_comments_and_keeps_the_rest_verbatim() {
        let icc = segment(0xE2, b"ICC_PROFILE\0\x01\x01profile");
        let dqt = segment(0xDB, &[0; 65]);
        let sos = segment(SOS, &[1, 1, 0, 0, 63, 0]);
        let scan = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56];
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(segment(0xE0, b"JFIF\0\x01\x02"));
        jpeg.extend(segment(APP1, b"Exif\0\0MM"));
        jpeg.extend(&icc);
        jpeg.extend(segment(APP1, b"http://ns.adobe.com/xap/1.0/\0<x/>"));
        jpeg.extend(segment(APP13, b"Photoshop 3.0\0"));
        jpeg.extend(segment(COM, b"secret"));
        jpeg.extend(&dqt);
        jpeg.extend(&sos);
        jpeg.extend(scan);
        jpeg.extend([0xFF, EOI]);
        jpeg.extend(b"trailing");

        let mut expected = vec![0xFF, 0xD8];
        expected.extend(segment(0xE0, b"JFIF\0\x01\x02"));
        expected.extend(&icc);
        expected.extend(&dqt);
        expected.extend(&sos);
        expected.extend(scan);
        expected.extend([0xFF, EOI]);
        assert_eq!(strip_jpeg(&jpeg, true).unwrap(), expected);
        // Stripping is idempotent.
        assert_eq!(strip_jpeg(&expected, true).unwrap(), expected);
        // Cut anywhere after the header, the walker refuses rather than guessing.
        for cut in [3, 10, jpeg.len() - 12] {
            assert!(strip_jpeg(&jpeg[..cut], true).is_err(), "cut at {cut}");
        }
        // A profile over the cap goes as well; other APP2 segments stay.
        let flashpix = segment(APP2, b"FPXR\0\0");
        let mut with_fpxr = expected[..2].to_vec();
        with_fpxr.extend(&flashpix);
        with_fpxr.extend(&expected[2..]);
        let mut without_icc = with_fpxr.clone();
        let at = without_icc
            .windows(icc.len())
            .position(|w| w == &icc[..])
            .unwrap();
        without_icc.drain(at..at + icc.len());
        assert_eq!(strip_jpeg(&with_fpxr, false).unwrap(), without_icc);
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD]); // CRCs are copied, never recomputed
        c
    }

    #[test]
    fn png_walker_drops_text_and_time_chunks_and_keeps_iccp() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let iccp = chunk(b"iCCP", b"sRGB\0\0compressed");
        let idat = chunk(b"IDAT", b"pixels");
        let iend = chunk(b"IEND", b"");
        let mut png = PNG_SIGNATURE.to_vec();
        png.extend(&ihdr);
        png.extend(&iccp);
        for kind in DROPPED_CHUNKS {
            png.extend(chunk(kind, b"private"));
        }
        png.extend(&idat);
        png.extend(&iend);
        png.extend(b"junk");
        let expected = [
            PNG_SIGNATURE.to_vec(),
            ihdr.clone(),
            iccp,
            idat.clone(),
            iend.clone(),
        ]
        .concat();
        assert_eq!(strip_png(&png, true).unwrap(), expected);
        assert!(strip_png(&png[..png.len() - 20], true).is_err());
        let without_icc = [PNG_SIGNATURE.to_vec(), ihdr, idat, iend].concat();
        assert_eq!(strip_png(&png, false).unwrap(), without_icc);
    }
}
