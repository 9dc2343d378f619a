//! Lossless metadata removal by allow-list: the stored original keeps every byte of the image
//! data and of the segments/chunks that change how the image looks, and nothing else — whatever
//! a camera, an editor or an uploader put beside the pixels (location, names, times, private
//! application data) is dropped without having to be recognised.
//!
//! JPEG keeps: SOI; every marker that is not an application segment or a comment (DQT, DHT,
//! SOFn, DRI, SOS with its entropy-coded data, RSTn, DNL, EOI, ...); APP0 `JFIF`; APP2
//! `ICC_PROFILE`; APP14 `Adobe` (its colour transform flag decides how the decoder reads the
//! channels). It drops every other APPn (APP1 Exif and XMP, APP0 `JFXX`, APP2 FlashPix, APP3 to
//! APP13, APP15) and COM. PNG keeps the critical chunks (`IHDR`, `PLTE`, `IDAT`, `IEND`) and the
//! ancillary ones that change how the image looks: `tRNS`, `gAMA`, `cHRM`, `sRGB`, `iCCP`, `sBIT`,
//! `cICP`, `mDCv`, `cLLi`, `bKGD`, `pHYs`. It drops everything else: text (`tEXt`, `zTXt`,
//! `iTXt`), `eXIf`, `tIME`, unknown and private chunks, and APNG's `acTL`/`fcTL`/`fdAT` (the file
//! stays a valid PNG that shows its default image). Kept segments and chunks are copied byte for
//! byte (PNG CRCs included). Bytes after the end of the image (EOI / IEND) are dropped: they are
//! not part of the picture and can carry anything.
//!
//! A colour profile over `MAX_ICC_PROFILE_BYTES` once inflated (JPEG APP2 `ICC_PROFILE`
//! segments, PNG `iCCP`) is dropped too: decoding ignored it, and every later reader of the
//! original (the caption worker, a browser) would otherwise inflate it again.

use crate::container::{jpeg_parts, png_chunks, APP0, PNG_SIGNATURE};
use crate::{ImageError, ImageFormatKind};

/// The upload with only what the image needs; without its colour profile as well unless
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

const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const APP15: u8 = 0xEF;
const COM: u8 = 0xFE;
const JFIF_SIGNATURE: &[u8] = b"JFIF\0";
const ICC_SIGNATURE: &[u8] = b"ICC_PROFILE\0";
const ADOBE_SIGNATURE: &[u8] = b"Adobe";

/// Whether a segment with marker `code` and `payload` (after the length) stays in the original.
fn keep_jpeg_segment(code: u8, payload: &[u8], keep_icc: bool) -> bool {
    match code {
        APP0 => payload.starts_with(JFIF_SIGNATURE),
        APP2 => keep_icc && payload.starts_with(ICC_SIGNATURE),
        APP14 => payload.starts_with(ADOBE_SIGNATURE),
        APP0..=APP15 | COM => false,
        _ => true,
    }
}

fn strip_jpeg(bytes: &[u8], keep_icc: bool) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::with_capacity(bytes.len());
    for part in jpeg_parts(bytes)? {
        // Entropy-coded data (no code) is the image itself.
        if part
            .code
            .is_none_or(|code| keep_jpeg_segment(code, part.payload, keep_icc))
        {
            out.extend_from_slice(part.raw);
        }
    }
    Ok(out)
}

/// The chunks a stored PNG keeps (`iCCP` only within the cap): the critical ones and the
/// ancillary ones that change how the image looks.
const KEPT_CHUNKS: [&[u8; 4]; 15] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"cICP", b"mDCv", b"cLLi", b"bKGD", b"pHYs",
];

fn strip_png(bytes: &[u8], keep_icc: bool) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(PNG_SIGNATURE);
    for chunk in png_chunks(bytes)? {
        let kind = chunk.kind;
        let kept =
            KEPT_CHUNKS.iter().any(|kept| kind == &kept[..]) && (keep_icc || kind != b"iCCP");
        if kept {
            out.extend_from_slice(chunk.raw);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{EOI, SOS};

    fn segment(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, code];
        s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    #[test]
    fn jpeg_walker_keeps_only_what_the_image_needs_verbatim() {
        let jfif = segment(APP0, b"JFIF\0\x01\x02");
        let icc = segment(APP2, b"ICC_PROFILE\0\x01\x01profile");
        let adobe = segment(APP14, b"Adobe\0\x64\0\0\0\0\x01");
        let dqt = segment(0xDB, &[0; 65]);
        let dri = segment(0xDD, &[0, 4]);
        let sof = segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]);
        let dht = segment(0xC4, &[0; 17]);
        let sos = segment(SOS, &[1, 1, 0, 0, 63, 0]);
        let scan = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56];
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(&jfif);
        jpeg.extend(segment(APP0, b"JFXX\0\x10thumbnail"));
        jpeg.extend(segment(0xE1, b"Exif\0\0MM"));
        jpeg.extend(&icc);
        jpeg.extend(segment(APP2, b"FPXR\0\0"));
        jpeg.extend(segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>"));
        for code in 0xE3..=0xED {
            jpeg.extend(segment(code, b"private"));
        }
        jpeg.extend(segment(APP14, b"not adobe"));
        jpeg.extend(&adobe);
        jpeg.extend(segment(APP15, b"private"));
        jpeg.extend(segment(COM, b"secret"));
        jpeg.extend(&dqt);
        jpeg.extend(&dri);
        jpeg.extend(&sof);
        jpeg.extend(&dht);
        jpeg.extend(&sos);
        jpeg.extend(scan);
        jpeg.extend([0xFF, EOI]);
        jpeg.extend(b"trailing");

        let mut expected = vec![0xFF, 0xD8];
        for kept in [&jfif, &icc, &adobe, &dqt, &dri, &sof, &dht, &sos] {
            expected.extend(kept);
        }
        expected.extend(scan);
        expected.extend([0xFF, EOI]);
        assert_eq!(strip_jpeg(&jpeg, true).unwrap(), expected);
        // Stripping is idempotent.
        assert_eq!(strip_jpeg(&expected, true).unwrap(), expected);
        // Cut anywhere after the header, the walker refuses rather than guessing.
        for cut in [3, 10, jpeg.len() - 12] {
            assert!(strip_jpeg(&jpeg[..cut], true).is_err(), "cut at {cut}");
        }
        // A profile over the cap goes as well.
        let mut without_icc = expected.clone();
        let at = without_icc
            .windows(icc.len())
            .position(|w| w == &icc[..])
            .unwrap();
        without_icc.drain(at..at + icc.len());
        assert_eq!(strip_jpeg(&jpeg, false).unwrap(), without_icc);
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD]); // CRCs are copied, never recomputed
        c
    }

    #[test]
    fn png_walker_keeps_critical_and_appearance_chunks_only() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let iccp = chunk(b"iCCP", b"sRGB\0\0compressed");
        let idat = chunk(b"IDAT", b"pixels");
        let iend = chunk(b"IEND", b"");
        let appearance: Vec<Vec<u8>> = [
            b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"cICP", b"mDCv", b"cLLi",
            b"bKGD", b"pHYs",
        ]
        .into_iter()
        .map(|kind| chunk(kind, b"look"))
        .collect();
        let mut png = PNG_SIGNATURE.to_vec();
        png.extend(&ihdr);
        png.extend(&iccp);
        png.extend(appearance.concat());
        for kind in [
            b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"prVt", b"acTL", b"fcTL", b"hIST",
            b"sPLT", b"dSIG",
        ] {
            png.extend(chunk(kind, b"private"));
        }
        png.extend(&idat);
        png.extend(chunk(b"fdAT", b"frame"));
        png.extend(&iend);
        png.extend(b"junk");
        let expected = [
            PNG_SIGNATURE.to_vec(),
            ihdr.clone(),
            iccp,
            appearance.concat(),
            idat.clone(),
            iend.clone(),
        ]
        .concat();
        assert_eq!(strip_png(&png, true).unwrap(), expected);
        assert_eq!(strip_png(&expected, true).unwrap(), expected);
        assert!(strip_png(&png[..png.len() - 20], true).is_err());
        let without_icc = [
            PNG_SIGNATURE.to_vec(),
            ihdr,
            appearance.concat(),
            idat,
            iend,
        ]
        .concat();
        assert_eq!(strip_png(&png, false).unwrap(), without_icc);
    }
}
