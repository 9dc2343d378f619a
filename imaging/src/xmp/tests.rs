use super::*;
use crate::container::{PngChunk, EOI, SOS};

fn photo(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn captions(alt_text: &str, description: &str) -> XmpCaptions {
    XmpCaptions {
        alt_text: Some(alt_text.into()),
        description: Some(description.into()),
        orientation: None,
    }
}

fn segment(code: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, code];
    s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(payload);
    s
}

/// The JPEG's pieces from the first one that is not SOI, APPn or COM: the tables, frame and
/// scan headers, the entropy-coded data and EOI, i.e. the image itself.
fn jpeg_image_data(bytes: &[u8]) -> Vec<u8> {
    let parts = jpeg_parts(bytes).unwrap();
    let first = parts
        .iter()
        .position(|p| !matches!(p.code, Some(SOI | 0xE0..=0xEF | 0xFE)))
        .unwrap();
    parts[first..].iter().flat_map(|p| p.raw).copied().collect()
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes).unwrap().to_rgb8().into_raw()
}

#[test]
fn jpeg_gets_one_xmp_segment_after_app0_and_keeps_its_image_data() {
    // The EXIF-rotated photo carries an APP1 Exif segment; an old XMP packet, an extended-XMP
    // piece and a comment go in after APP0 as well.
    let original = photo("rocket_orient6.jpg");
    let parts = jpeg_parts(&original).unwrap();
    let after_app0 = parts
        .iter()
        .position(|p| !matches!(p.code, Some(SOI | APP0)))
        .unwrap();
    let mut input: Vec<u8> = parts[..after_app0]
        .iter()
        .flat_map(|p| p.raw)
        .copied()
        .collect();
    let old_xmp = segment(
        APP1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>old</x:xmpmeta>",
    );
    input.extend(&old_xmp);
    input.extend(segment(
        APP1,
        b"http://ns.adobe.com/xmp/extension/\0GUID....",
    ));
    input.extend(segment(0xFE, b"a comment"));
    for part in &parts[after_app0..] {
        input.extend(part.raw);
    }

    let wanted = XmpCaptions {
        orientation: Some(6),
        ..captions(
            "a rocket launching into the sky",
            "A rocket climbs on fire into the morning.",
        )
    };
    let out = embed_xmp(&input, ImageFormatKind::Jpeg, &wanted).unwrap();

    // Not re-encoded: the scan data and everything it needs are byte-identical, and the file
    // decodes to the same pixels.
    let out_parts = jpeg_parts(&out).unwrap();
    let scans = |parts: &[crate::container::JpegPart<'_>]| -> Vec<Vec<u8>> {
        parts
            .iter()
            .filter(|p| p.code.is_none() || p.code == Some(SOS))
            .map(|p| p.raw.to_vec())
            .collect()
    };
    assert!(!scans(&parts).is_empty());
    assert_eq!(scans(&out_parts), scans(&parts));
    assert_eq!(jpeg_image_data(&out), jpeg_image_data(&original));
    assert_eq!(pixels(&out), pixels(&original));
    assert_eq!(out_parts.last().unwrap().code, Some(EOI));

    // One XMP segment, right after SOI and APP0; the old packet and its extension are gone,
    // the other segments (Exif, the comment) are kept.
    let xmp_at: Vec<usize> = out_parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.code == Some(APP1) && p.payload.starts_with(JPEG_XMP_SIGNATURE))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(xmp_at, vec![after_app0]);
    assert!(!out
        .windows(JPEG_EXTENDED_XMP_SIGNATURE.len())
        .any(|w| w == JPEG_EXTENDED_XMP_SIGNATURE));
    assert!(!out.windows(old_xmp.len()).any(|w| w == &old_xmp[..]));
    assert!(out_parts
        .iter()
        .any(|p| p.code == Some(APP1) && p.payload.starts_with(b"Exif\0\0")));
    assert!(out_parts.iter().any(|p| p.code == Some(0xFE)));

    assert_eq!(read_xmp(&out, ImageFormatKind::Jpeg).unwrap(), Some(wanted));
    assert_eq!(read_xmp(&original, ImageFormatKind::Jpeg).unwrap(), None);
}

#[test]
fn embedding_again_replaces_the_packet() {
    let original = photo("rocket.jpg");
    let first = embed_xmp(
        &original,
        ImageFormatKind::Jpeg,
        &captions("first", "first one"),
    )
    .unwrap();
    let second = embed_xmp(
        &first,
        ImageFormatKind::Jpeg,
        &captions("second", "second one"),
    )
    .unwrap();
    assert_eq!(
        read_xmp(&second, ImageFormatKind::Jpeg).unwrap(),
        Some(captions("second", "second one"))
    );
    // The same as writing the second packet into the original directly.
    assert_eq!(
        second,
        embed_xmp(
            &original,
            ImageFormatKind::Jpeg,
            &captions("second", "second one")
        )
        .unwrap()
    );
}

fn png_chunk_kinds(chunks: &[PngChunk<'_>]) -> Vec<String> {
    chunks
        .iter()
        .map(|c| String::from_utf8_lossy(c.kind).into_owned())
        .collect()
}

#[test]
fn png_gets_an_itxt_chunk_before_idat_with_a_valid_crc_and_keeps_its_idat_chunks() {
    let original = photo("coffee.png");
    let chunks = png_chunks(&original).unwrap();
    // An old packet and a text chunk after IHDR.
    let mut input = PNG_SIGNATURE.to_vec();
    input.extend(chunks[0].raw);
    input.extend(png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<old/>"));
    input.extend(png_chunk(b"tEXt", b"Comment\0kept"));
    for chunk in &chunks[1..] {
        input.extend(chunk.raw);
    }

    let wanted = captions("a cup of coffee", "Steam curls from a dark cup.");
    let out = embed_xmp(&input, ImageFormatKind::Png, &wanted).unwrap();

    let out_chunks = png_chunks(&out).unwrap();
    let idat = |chunks: &[PngChunk<'_>]| -> Vec<Vec<u8>> {
        chunks
            .iter()
            .filter(|c| c.kind == b"IDAT")
            .map(|c| c.raw.to_vec())
            .collect()
    };
    assert!(!idat(&chunks).is_empty());
    assert_eq!(idat(&out_chunks), idat(&chunks));
    assert_eq!(pixels(&out), pixels(&original));
    // Every chunk's CRC is right (a strict reader checks them).
    for chunk in &out_chunks {
        let mut crc = flate2::Crc::new();
        crc.update(chunk.kind);
        crc.update(chunk.data);
        assert_eq!(
            crc.sum().to_be_bytes(),
            chunk.raw[chunk.raw.len() - 4..],
            "{}",
            String::from_utf8_lossy(chunk.kind)
        );
    }
    // One XMP chunk, immediately before the first IDAT; the old one gone, tEXt kept.
    let kinds = png_chunk_kinds(&out_chunks);
    let xmp: Vec<usize> = out_chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| is_png_xmp(c.kind, c.data))
        .map(|(i, _)| i)
        .collect();
    let first_idat = kinds.iter().position(|k| k == "IDAT").unwrap();
    assert_eq!(xmp, vec![first_idat - 1], "{kinds:?}");
    assert!(!out.windows(6).any(|w| w == b"<old/>"));
    assert!(kinds.contains(&"tEXt".to_string()));

    assert_eq!(read_xmp(&out, ImageFormatKind::Png).unwrap(), Some(wanted));
    assert_eq!(read_xmp(&original, ImageFormatKind::Png).unwrap(), None);
}

#[test]
fn markup_quotes_and_non_ascii_round_trip() {
    let alt = "a <b> & \"c\" 'd' — café 日本 🚀";
    let description = "Line one &amp; not an entity,\r\nline two\twith a tab; ]]> <!-- x -->";
    let wanted = captions(alt, description);
    for (file, format) in [
        ("rocket.jpg", ImageFormatKind::Jpeg),
        ("coffee.png", ImageFormatKind::Png),
    ] {
        let out = embed_xmp(&photo(file), format, &wanted).unwrap();
        assert_eq!(
            read_xmp(&out, format).unwrap(),
            Some(wanted.clone()),
            "{file}"
        );
    }
    let packet = xmp_packet(&wanted);
    assert!(packet.contains("a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;"));
    assert!(packet.contains("&amp;amp;"));
    assert!(packet.contains("&#xD;"));
    // Characters XML cannot carry become U+FFFD instead of making the packet unreadable.
    let control = captions("bell\u{7} and nul\u{0}", "ok");
    let out = embed_xmp(&photo("rocket.jpg"), ImageFormatKind::Jpeg, &control).unwrap();
    assert_eq!(
        read_xmp(&out, ImageFormatKind::Jpeg)
            .unwrap()
            .unwrap()
            .alt_text,
        Some("bell\u{FFFD} and nul\u{FFFD}".into())
    );
}

#[test]
fn a_packet_over_one_jpeg_segment_is_refused_and_png_takes_it() {
    let long = "é".repeat(MAX_JPEG_PACKET_BYTES / 2);
    let wanted = captions("short", &long);
    match embed_xmp(&photo("rocket.jpg"), ImageFormatKind::Jpeg, &wanted) {
        Err(XmpError::TooLarge { bytes, max }) => {
            assert!(bytes > max);
            assert_eq!(max, MAX_JPEG_PACKET_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let png = embed_xmp(&photo("coffee.png"), ImageFormatKind::Png, &wanted).unwrap();
    assert_eq!(read_xmp(&png, ImageFormatKind::Png).unwrap(), Some(wanted));

    // The largest packet that fits is written: the segment length field ends at 65,535.
    let overhead = xmp_packet(&captions("", "")).len();
    let fits = captions("", &"a".repeat(MAX_JPEG_PACKET_BYTES - overhead));
    let out = embed_xmp(&photo("rocket.jpg"), ImageFormatKind::Jpeg, &fits).unwrap();
    assert_eq!(read_xmp(&out, ImageFormatKind::Jpeg).unwrap(), Some(fits));
}

#[test]
fn captions_left_out_are_not_written() {
    let only_alt = XmpCaptions {
        alt_text: Some("alt".into()),
        ..XmpCaptions::default()
    };
    let out = embed_xmp(&photo("rocket.jpg"), ImageFormatKind::Jpeg, &only_alt).unwrap();
    assert_eq!(
        read_xmp(&out, ImageFormatKind::Jpeg).unwrap(),
        Some(only_alt)
    );
    // Orientation 1 (upright) needs no property.
    let upright = XmpCaptions {
        orientation: Some(1),
        ..captions("a", "b")
    };
    assert!(!xmp_packet(&upright).contains("Orientation"));
}

#[test]
fn the_reader_resolves_namespaces_and_prefers_x_default() {
    let packet = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<r:Description xmlns:i="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
  xmlns:t="http://ns.adobe.com/tiff/1.0/" t:Orientation="8"
  xmlns:d="http://purl.org/dc/elements/1.1/" xmlns:other="urn:other">
<other:description><r:Alt><r:li xml:lang="x-default">not this</r:li></r:Alt></other:description>
<i:AltTextAccessibility><r:Alt><r:li xml:lang="de">Hund</r:li><r:li xml:lang="x-default">dog</r:li></r:Alt></i:AltTextAccessibility>
<d:description><r:Alt><r:li xml:lang="en">first &#x41;&#66;</r:li><r:li xml:lang="fr">second</r:li></r:Alt></d:description>
</r:Description></r:RDF></x:xmpmeta><?xpacket end="w"?>"#;
    assert_eq!(
        parse_packet(packet).unwrap(),
        XmpCaptions {
            alt_text: Some("dog".into()),
            description: Some("first AB".into()),
            orientation: Some(8),
        }
    );
    for bad in [
        "<a:b>text</a:b>",
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><x:a></x:b></x:xmpmeta>",
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">&bogus;</x:xmpmeta>",
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">",
    ] {
        assert!(parse_packet(bad).is_err(), "{bad}");
    }
}
