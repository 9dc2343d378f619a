//! Metadata is stripped losslessly, orientation is applied to the thumbnail, duplicates are
//! recognised.

use crate::harness::{json, test_config, test_data, without_captions, TestApp};

/// The marker codes of a JPEG's segments before the first scan.
fn jpeg_markers(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= bytes.len() {
        let code = bytes[pos + 1];
        let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        out.push((code, bytes[pos + 4..pos + 2 + len].to_vec()));
        if code == 0xDA {
            break;
        }
        pos += 2 + len;
    }
    out
}

async fn stored_original(app: &TestApp, token: &str, body: &serde_json::Value) -> Vec<u8> {
    let url = body["image"]["image_url"].as_str().unwrap();
    let _ = token;
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn jpeg_exif_and_comments_go_icc_and_pixels_stay() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("carol", false).await;
    let upload = test_data("rocket_orient6.jpg");
    let before = jpeg_markers(&upload);
    assert!(
        before.iter().any(|(c, _)| *c == 0xE1),
        "the fixture has EXIF"
    );
    assert!(
        before.iter().any(|(c, _)| *c == 0xFE),
        "the fixture has a comment"
    );

    let (status, body) = json(app.upload(&token, upload.clone(), "image/jpeg").await).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["image"]["orientation"], 6);
    assert_eq!(
        (
            body["image"]["width"].as_u64(),
            body["image"]["height"].as_u64()
        ),
        (Some(427), Some(640))
    );

    let stored = stored_original(&app, &token, &body).await;
    let after = jpeg_markers(&stored);
    assert!(
        after.iter().all(|(c, _)| !matches!(c, 0xE1 | 0xED | 0xFE)),
        "{:?}",
        after.iter().map(|m| m.0).collect::<Vec<_>>()
    );
    let icc = |markers: &[(u8, Vec<u8>)]| markers.iter().find(|(c, _)| *c == 0xE2).cloned();
    assert!(icc(&before).is_some());
    assert_eq!(
        icc(&after),
        icc(&before),
        "the ICC profile is kept byte for byte"
    );
    // Lossless: the same pixels (decoded without orientation on both sides).
    let decode = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8();
    assert!(
        decode(&stored) == decode(&upload),
        "the pixels are unchanged"
    );
    // The scan data is untouched: the stored file ends with the upload's last bytes.
    assert!(upload.ends_with(&stored[stored.len() - 1000..]));

    // The thumbnail is upright: portrait.
    let thumbnail = app
        .client
        .get(body["image"]["thumbnail_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let thumbnail = image::load_from_memory(&thumbnail).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (200, 300));

    // Same user, same bytes: the existing record, 200.
    let (status, again) = json(app.upload(&token, upload.clone(), "image/jpeg").await).await;
    assert_eq!(status, 200);
    assert_eq!(again["image"]["id"], body["image"]["id"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 1);
    // Another user uploading the same bytes gets their own record.
    let other = app.token("dave", false).await;
    let (status, theirs) = json(app.upload(&other, upload, "image/jpeg").await).await;
    assert_eq!(status, 202);
    assert_ne!(theirs["image"]["id"], body["image"]["id"]);
}

#[tokio::test]
async fn png_text_and_time_chunks_go_pixels_stay() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("carol", false).await;
    let original = test_data("chelsea.png");
    // Insert tEXt and tIME chunks right after IHDR (8 + 25 bytes).
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        c.extend([0, 0, 0, 0]);
        c
    };
    let mut upload = original[..33].to_vec();
    upload.extend(chunk(b"tEXt", b"Author\0Someone Private"));
    upload.extend(chunk(b"tIME", &[7, 0xE8, 1, 2, 3, 4, 5]));
    upload.extend(&original[33..]);

    let (status, body) = json(app.upload(&token, upload, "image/png").await).await;
    assert_eq!(status, 202, "{body}");
    let stored = stored_original(&app, &token, &body).await;
    let kinds = |bytes: &[u8]| {
        png_chunks(bytes)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    let expected: Vec<_> = kinds(&original)
        .into_iter()
        .filter(|k| !matches!(&k[..], b"tEXt" | b"zTXt" | b"iTXt" | b"tIME" | b"eXIf"))
        .collect();
    assert_eq!(kinds(&stored), expected);
    let iccp = |bytes: &[u8]| png_chunks(bytes).into_iter().find(|(k, _)| k == b"iCCP");
    assert!(iccp(&original).is_some(), "the fixture has an ICC profile");
    assert_eq!(
        iccp(&stored),
        iccp(&original),
        "the ICC profile is kept byte for byte"
    );
    let decode = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8();
    assert!(
        decode(&stored) == decode(&original),
        "the pixels are unchanged"
    );
}

/// (type, whole chunk) of each PNG chunk.
fn png_chunks(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = bytes[pos + 4..pos + 8].try_into().unwrap();
        out.push((kind, bytes[pos..pos + 12 + len].to_vec()));
        pos += 12 + len;
    }
    out
}

/// A colour profile larger than 1 MiB once inflated is dropped from the stored original (a
/// JPEG's APP2 segments, a PNG's `iCCP` that inflates to 300 MB from a few hundred KB), and the
/// upload is accepted: decoding never needed it. Text that inflates (`zTXt`) goes as before.
#[tokio::test]
async fn oversized_colour_profiles_are_dropped_from_stored_originals() {
    use imgcap_imaging::hostile;
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("carol", false).await;
    let is_icc = |(code, payload): &(u8, Vec<u8>)| *code == 0xE2 && payload.starts_with(b"ICC_");

    let jpeg = hostile::jpeg_with_profile(64, 48, 2 << 20, 1);
    assert!(jpeg_markers(&jpeg).iter().any(is_icc), "the upload has one");
    let (status, body) = json(app.upload(&token, jpeg, "image/jpeg").await).await;
    assert_eq!(status, 202, "{body}");
    let stored = stored_original(&app, &token, &body).await;
    assert!(
        !jpeg_markers(&stored).iter().any(is_icc),
        "kept in the original"
    );
    image::load_from_memory(&stored).expect("the original still decodes");

    let png = hostile::png_with_inflating_profile(64, 48, 300 << 20, 2);
    let text = hostile::png_with_inflating_text(64, 48, 300 << 20, 3);
    for (upload, chunk) in [(png, b"iCCP"), (text, b"zTXt")] {
        let kind = String::from_utf8_lossy(chunk);
        assert!(upload.len() < 400 << 10, "{kind}: {} bytes", upload.len());
        let has_chunk = |bytes: &[u8]| png_chunks(bytes).iter().any(|(k, _)| k == chunk);
        assert!(has_chunk(&upload), "{kind}");
        let (status, body) = json(app.upload(&token, upload, "image/png").await).await;
        assert_eq!(status, 202, "{kind}: {body}");
        let stored = stored_original(&app, &token, &body).await;
        assert!(!has_chunk(&stored), "{kind} kept in the original");
        image::load_from_memory(&stored).expect("the original still decodes");
    }
}

/// Whether `needle` occurs anywhere in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Stored originals keep only what the image needs (an allow-list): a JPEG loses every APPn
/// segment other than JFIF, an ICC profile and Adobe's, and its comments; the pixels stay.
#[tokio::test]
async fn jpeg_segments_the_image_does_not_need_go() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("carol", false).await;
    let original = test_data("rocket.jpg");
    let segment = |code: u8, payload: &[u8]| {
        let mut s = vec![0xFF, code];
        s.extend(((payload.len() + 2) as u16).to_be_bytes());
        s.extend(payload);
        s
    };
    let private: [(u8, &[u8]); 4] = [
        (0xE3, b"imgcap-private-app3 Meta"),
        (0xEC, b"Ducky imgcap-private-app12"),
        (0xEF, b"imgcap-private-app15"),
        (0xFE, b"imgcap-private-comment"),
    ];
    // After SOI and the JFIF segment, where cameras and editors put theirs.
    let at = if original[3] == 0xE0 {
        4 + usize::from(u16::from_be_bytes([original[4], original[5]]))
    } else {
        2
    };
    let mut upload = original[..at].to_vec();
    for (code, payload) in private {
        upload.extend(segment(code, payload));
    }
    upload.extend(&original[at..]);
    assert!(
        image::load_from_memory(&upload).is_ok(),
        "the upload decodes"
    );

    let (status, body) = json(app.upload(&token, upload, "image/jpeg").await).await;
    assert_eq!(status, 202, "{body}");
    let stored = stored_original(&app, &token, &body).await;
    for (code, payload) in private {
        assert!(
            !contains(&stored, payload),
            "segment {code:#04X} kept in the original"
        );
    }
    let codes: Vec<u8> = jpeg_markers(&stored).iter().map(|m| m.0).collect();
    assert!(
        codes
            .iter()
            .all(|c| !matches!(c, 0xE1 | 0xE3..=0xED | 0xEF | 0xFE)),
        "{codes:02X?}"
    );
    let decode = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8();
    assert!(
        decode(&stored) == decode(&original),
        "the pixels are unchanged"
    );
}

/// A PNG keeps its critical chunks and the ancillary ones that change how it looks; a private
/// chunk and the modification time go, and the pixels stay.
#[tokio::test]
async fn png_private_and_time_chunks_go_pixels_stay() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("carol", false).await;
    let original = test_data("chelsea.png");
    let chunk = |kind: &[u8; 4], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let mut crc_input = kind.to_vec();
        crc_input.extend(data);
        c.extend(&crc_input);
        c.extend(imgcap_imaging::hostile::crc32(&crc_input).to_be_bytes());
        c
    };
    let private = b"imgcap-private-chunk: where this photo was taken";
    let time = [7, 0xE9, 6, 1, 12, 34, 56];
    // After IHDR (8 + 25 bytes).
    let mut upload = original[..33].to_vec();
    upload.extend(chunk(b"prVt", private));
    upload.extend(chunk(b"tIME", &time));
    upload.extend(&original[33..]);
    assert!(
        image::load_from_memory(&upload).is_ok(),
        "the upload decodes"
    );

    let (status, body) = json(app.upload(&token, upload, "image/png").await).await;
    assert_eq!(status, 202, "{body}");
    let stored = stored_original(&app, &token, &body).await;
    assert!(!contains(&stored, private), "the private chunk is kept");
    let kinds: Vec<String> = png_chunks(&stored)
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "prVt" || k == "tIME"),
        "{kinds:?}"
    );
    let decode = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8();
    assert!(
        decode(&stored) == decode(&original),
        "the pixels are unchanged"
    );
}
