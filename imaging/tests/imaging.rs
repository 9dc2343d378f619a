//! Decoding under limits and Pillow-exact resizing against Pillow reference outputs.
//!
//! Fixtures: `imaging/tests/fixtures/` (`chelsea_384.png`, `rocket_orient6_384.png` from
//! `scripts/make_tiny_blip.py`; `resize_*`, `cmyk_*`, `alpha_*` from
//! `scripts/make_resize_fixtures.py`) and the photos in `tests/data/`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use image::metadata::Orientation;
use image::RgbImage;
use imgcap_imaging::{
    decode_image, hostile, read_header, resize_bicubic, sniff_format, IccProfile, ImageError,
    ImageFormatKind, ImageLimits, MAX_ICC_PROFILE_BYTES,
};

/// Records the largest single allocation made by the current thread, so a test can prove that
/// a header claiming a huge image never gets a pixel buffer.
struct TrackingAllocator;

thread_local! {
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST_ALLOCATION.try_with(|m| m.set(m.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST_ALLOCATION.try_with(|m| m.set(m.get().max(layout.size())));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST_ALLOCATION.try_with(|m| m.set(m.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

fn repo_file(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_rgb(name: &str) -> RgbImage {
    let path = fixture_path(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
        .into_rgb8()
}

fn decode(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    decode_image(bytes, &ImageLimits::default()).map(|d| d.image)
}

fn encode_png(image: image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Asserts two images are identical, reporting where they first differ.
fn assert_same_pixels(actual: &RgbImage, expected: &RgbImage, what: &str) {
    assert_eq!(
        actual.dimensions(),
        expected.dimensions(),
        "{what}: dimensions"
    );
    if let Some((i, (a, e))) = actual
        .as_raw()
        .iter()
        .zip(expected.as_raw())
        .enumerate()
        .find(|(_, (a, e))| a != e)
    {
        let differing = actual
            .as_raw()
            .iter()
            .zip(expected.as_raw())
            .filter(|(a, e)| a != e);
        panic!(
            "{what}: {} bytes differ; first at pixel {} channel {}: {a} vs {e}",
            differing.count(),
            i / 3,
            i % 3
        );
    }
}

fn max_abs_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Resize and pixel values against the references
// ---------------------------------------------------------------------------------------------

#[test]
fn chelsea_resize_matches_pillow_exactly() {
    let decoded = decode_image(
        &repo_file("tests/data/chelsea.png"),
        &ImageLimits::default(),
    )
    .expect("chelsea decodes");
    assert_eq!(decoded.format, ImageFormatKind::Png);
    assert_eq!(decoded.image.dimensions(), (451, 300));
    let resized = resize_bicubic(&decoded.image, 384, 384);
    assert_same_pixels(&resized, &fixture_rgb("chelsea_384.png"), "chelsea 384");
}

#[test]
fn synthetic_resizes_match_pillow_exactly() {
    // Upscaling; downscaling both axes (horizontal pass first); height shrinking much more than
    // width (Pillow 13 runs the vertical pass first); one axis only, each way.
    let cases = [
        ("resize_50x40.png", 384, 384),
        ("resize_160x120.png", 61, 37),
        ("resize_160x120.png", 150, 30),
        ("resize_160x120.png", 160, 45),
        ("resize_160x120.png", 70, 120),
    ];
    for (input, width, height) in cases {
        let src = fixture_rgb(input);
        let expected_name = format!("{}_to_{width}x{height}.png", input.trim_end_matches(".png"));
        let resized = resize_bicubic(&src, width, height);
        assert_same_pixels(&resized, &fixture_rgb(&expected_name), &expected_name);
    }
}

#[test]
fn resize_to_same_size_is_a_copy() {
    let src = fixture_rgb("resize_50x40.png");
    assert_eq!(resize_bicubic(&src, 50, 40), src);
}

/// The resize is exact (see the PNG tests); the JPEG decode is not quite: zune-jpeg's integer
/// inverse DCT rounds differently from libjpeg-turbo's (Pillow's), by one level on about 0.3 % of
/// the samples of `rocket.jpg` (two levels on 0.1 %). After resizing, about 1 % of the bytes of
/// the 384×384 reference differ, by at most 2.
#[test]
fn rocket_orientation_6_matches_pillow_within_jpeg_decoder_rounding() {
    let decoded = decode_image(
        &repo_file("tests/data/rocket_orient6.jpg"),
        &ImageLimits::default(),
    )
    .expect("rocket_orient6 decodes");
    assert_eq!(decoded.orientation, Orientation::Rotate90);
    assert_eq!(decoded.format, ImageFormatKind::Jpeg);
    assert_eq!(decoded.image.dimensions(), (427, 640));
    let resized = resize_bicubic(&decoded.image, 384, 384);
    let expected = fixture_rgb("rocket_orient6_384.png");
    assert_eq!(resized.dimensions(), expected.dimensions());
    let differing = resized
        .as_raw()
        .iter()
        .zip(expected.as_raw())
        .filter(|(a, b)| a != b)
        .count();
    let max = max_abs_diff(resized.as_raw(), expected.as_raw());
    assert!(max <= 2, "max difference {max}");
    assert!(
        differing * 50 < expected.as_raw().len(),
        "{differing} bytes differ"
    );
}

#[test]
fn orientation_6_is_rocket_rotated_clockwise() {
    let plain = decode_image(&repo_file("tests/data/rocket.jpg"), &ImageLimits::default()).unwrap();
    assert_eq!(plain.orientation, Orientation::NoTransforms);
    assert_eq!(plain.image.dimensions(), (640, 427));
    let rotated = decode(&repo_file("tests/data/rocket_orient6.jpg")).unwrap();
    assert_same_pixels(
        &rotated,
        &image::imageops::rotate90(&plain.image),
        "orientation 6",
    );
}

// ---------------------------------------------------------------------------------------------
// Colour conversion
// ---------------------------------------------------------------------------------------------

#[test]
fn transparency_is_composited_onto_white_like_transformers() {
    for name in ["alpha_rgba", "alpha_la", "alpha_palette_trns"] {
        let bytes = std::fs::read(fixture_path(&format!("{name}.png"))).unwrap();
        let decoded = decode_image(
            &bytes,
            &ImageLimits {
                min_side: 1,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_pixels(
            &decoded.image,
            &fixture_rgb(&format!("{name}_rgb.png")),
            name,
        );
    }
}

#[test]
fn grayscale_and_16_bit_pngs_become_rgb8() {
    let gray = image::GrayImage::from_fn(20, 16, |x, y| image::Luma([(x * 12 + y) as u8]));
    let rgb = decode(&encode_png(gray.clone().into())).unwrap();
    for (g, px) in gray.pixels().zip(rgb.pixels()) {
        assert_eq!(px.0, [g.0[0]; 3]);
    }

    let deep = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(20, 16, |x, y| {
        image::Rgb([(x * 3000) as u16 + 0x7f, (y * 4000) as u16 + 0xff, 0x1280])
    });
    let rgb = decode(&encode_png(deep.clone().into())).unwrap();
    for (d, px) in deep.pixels().zip(rgb.pixels()) {
        assert_eq!(
            px.0,
            d.0.map(|v| (v >> 8) as u8),
            "16-bit samples keep their high byte"
        );
    }

    let deep_gray = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(20, 16, |x, _| {
        image::Luma([x as u16 * 3000])
    });
    let rgb = decode(&encode_png(deep_gray.clone().into())).unwrap();
    for (d, px) in deep_gray.pixels().zip(rgb.pixels()) {
        assert_eq!(px.0, [(d.0[0] >> 8) as u8; 3]);
    }
}

#[test]
fn cmyk_jpeg_converts_like_pillow() {
    let bytes = std::fs::read(fixture_path("cmyk_48x32.jpg")).unwrap();
    let decoded = decode(&bytes).unwrap();
    let expected = fixture_rgb("cmyk_48x32_rgb.png");
    assert_eq!(decoded.dimensions(), expected.dimensions());
    // The CMYK->RGB formula is Pillow's; the JPEG decoders (zune-jpeg vs libjpeg-turbo) may
    // round the inverse DCT differently, so allow a few levels.
    let diff = max_abs_diff(decoded.as_raw(), expected.as_raw());
    assert!(diff <= 3, "max difference {diff}");
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn sniffing_uses_magic_bytes_only() {
    assert!(matches!(sniff_format(b""), Err(ImageError::Empty)));
    assert_eq!(
        sniff_format(&repo_file("tests/data/rocket.jpg")).unwrap(),
        ImageFormatKind::Jpeg
    );
    assert_eq!(
        sniff_format(&repo_file("tests/data/chelsea.png")).unwrap(),
        ImageFormatKind::Png
    );
    assert_eq!(ImageFormatKind::Jpeg.mime_type(), "image/jpeg");
    for other in [
        &b"GIF89a\x01\x00\x01\x00"[..],
        b"BM\x3a\x00\x00\x00",
        b"\xff\xd8",
        b"\x89PNG",
    ] {
        assert!(
            matches!(sniff_format(other), Err(ImageError::UnsupportedFormat)),
            "{other:?}"
        );
    }
}

#[test]
fn empty_text_gif_and_bmp_are_refused() {
    assert!(matches!(decode(b""), Err(ImageError::Empty)));
    let text = b"this is a caption request, not an image\n";
    assert!(matches!(decode(text), Err(ImageError::UnsupportedFormat)));
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    assert!(matches!(decode(gif), Err(ImageError::UnsupportedFormat)));
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0u8; 60]);
    assert!(matches!(decode(&bmp), Err(ImageError::UnsupportedFormat)));
}

#[test]
fn truncated_jpeg_is_a_decode_error_not_a_grey_image() {
    let rocket = repo_file("tests/data/rocket.jpg");
    for cut in [
        rocket.len() / 2,
        rocket.len() - 2,
        rocket.len() * 9 / 10,
        700,
    ] {
        match decode(&rocket[..cut]) {
            // Cut inside the headers the decoder itself fails; later the marker walk does.
            Err(ImageError::Decode(message)) if cut > 1000 => {
                assert!(message.contains("truncated"), "{message}")
            }
            Err(ImageError::Decode(_)) => {}
            other => panic!(
                "cut at {cut}: expected a decode error, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    // Bytes after the end-of-image marker (camera trailers) are fine.
    let mut trailer = rocket.clone();
    trailer.extend_from_slice(b"\0\0trailing data");
    assert_eq!(decode(&trailer).unwrap(), decode(&rocket).unwrap());
}

#[test]
fn corrupt_and_truncated_pngs_are_decode_errors() {
    let chelsea = repo_file("tests/data/chelsea.png");
    let truncated = &chelsea[..chelsea.len() / 2];
    assert!(matches!(decode(truncated), Err(ImageError::Decode(_))));

    // Overwrite part of the first IDAT payload: the CRC (or zlib stream) no longer checks out.
    let idat = chelsea.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut corrupt = chelsea.clone();
    for byte in &mut corrupt[idat + 100..idat + 200] {
        *byte ^= 0x5a;
    }
    assert!(matches!(decode(&corrupt), Err(ImageError::Decode(_))));
}

#[test]
fn one_pixel_png_is_too_small() {
    let tiny = encode_png(RgbImage::new(1, 1).into());
    match decode(&tiny) {
        Err(ImageError::TooSmall {
            width: 1,
            height: 1,
            min_side: 16,
        }) => {}
        other => panic!("expected TooSmall, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn limits_are_configurable() {
    let chelsea = repo_file("tests/data/chelsea.png");
    let limits = ImageLimits {
        max_pixels: 100_000,
        ..Default::default()
    };
    assert!(matches!(
        decode_image(&chelsea, &limits),
        Err(ImageError::TooLarge {
            width: 451,
            height: 300,
            max_pixels: 100_000,
            ..
        })
    ));
    let limits = ImageLimits {
        max_side: 400,
        ..Default::default()
    };
    assert!(matches!(
        decode_image(&chelsea, &limits),
        Err(ImageError::TooLarge { .. })
    ));
    let limits = ImageLimits {
        min_side: 301,
        ..Default::default()
    };
    assert!(matches!(
        decode_image(&chelsea, &limits),
        Err(ImageError::TooSmall { .. })
    ));
}

/// Chelsea's PNG with its IHDR claiming `width` × `height` (checksum fixed up).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = repo_file("tests/data/chelsea.png");
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    // Keeps the patched PNG header valid.
    let crc = hostile::crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// The rocket JPEG with its frame header (SOFn) claiming `width` × `height`.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = repo_file("tests/data/rocket.jpg");
    let mut i = 2;
    loop {
        assert_eq!(jpeg[i], 0xFF, "marker expected at {i}");
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if matches!(marker, 0xC0..=0xC3) {
            jpeg[i + 5..i + 7].copy_from_slice(&height.to_be_bytes());
            jpeg[i + 7..i + 9].copy_from_slice(&width.to_be_bytes());
            return jpeg;
        }
        i += 2 + len;
    }
}

#[test]
fn huge_headers_are_refused_before_any_pixel_allocation() {
    // The tracker does see pixel buffers: a real decode allocates at least the RGB image.
    LARGEST_ALLOCATION.with(|m| m.set(0));
    decode(&repo_file("tests/data/chelsea.png")).unwrap();
    assert!(LARGEST_ALLOCATION.with(Cell::get) >= 451 * 300 * 3);

    for (what, bytes) in [
        ("png", png_claiming(20_000, 20_000)),
        ("jpeg", jpeg_claiming(20_000, 20_000)),
    ] {
        LARGEST_ALLOCATION.with(|m| m.set(0));
        let result = decode(&bytes);
        let largest = LARGEST_ALLOCATION.with(Cell::get);
        match result {
            Err(ImageError::TooLarge {
                width: 20_000,
                height: 20_000,
                max_side: 16384,
                ..
            }) => {}
            other => panic!("{what}: expected TooLarge, got {:?}", other.map(|_| ())),
        }
        // 20000 × 20000 RGB would be 1.2 GB; the header check must come first.
        assert!(largest < 8 << 20, "{what}: allocated {largest} bytes");
    }
    // Within max_side but over max_pixels.
    match decode(&png_claiming(10_000, 10_000)) {
        Err(ImageError::TooLarge {
            width: 10_000,
            height: 10_000,
            ..
        }) => {}
        other => panic!("expected TooLarge, got {:?}", other.map(|_| ())),
    }
}

/// Decodes `bytes` and returns the result with the largest allocation it made.
fn decode_tracked(bytes: &[u8]) -> (Result<RgbImage, ImageError>, usize) {
    LARGEST_ALLOCATION.with(|m| m.set(0));
    let result = decode(bytes);
    (result, LARGEST_ALLOCATION.with(Cell::get))
}

#[test]
fn compressed_metadata_is_never_inflated_past_its_cap() {
    // 300 MB of colour profile or text from a few hundred KB: measured, skipped, never held.
    let profile = hostile::png_with_inflating_profile(32, 32, 300 << 20, 1);
    let text = hostile::png_with_inflating_text(32, 32, 300 << 20, 2);
    for (what, bytes) in [("iCCP", &profile), ("zTXt", &text)] {
        assert!(bytes.len() < 400 << 10, "{what}: {} bytes", bytes.len());
        let (decoded, largest) = decode_tracked(bytes);
        assert_eq!(decoded.unwrap().dimensions(), (32, 32), "{what}");
        assert!(largest < 4 << 20, "{what}: allocated {largest} bytes");
    }
    let header = read_header(&profile, &ImageLimits::default()).unwrap();
    assert_eq!(header.icc_profile, IccProfile::OverCap);
    // A profile within the cap is measured exactly.
    let small = hostile::png_with_inflating_profile(32, 32, MAX_ICC_PROFILE_BYTES, 3);
    let header = read_header(&small, &ImageLimits::default()).unwrap();
    assert_eq!(
        header.icc_profile,
        IccProfile::WithinCap {
            bytes: MAX_ICC_PROFILE_BYTES
        }
    );
    // JPEG profiles are stored, not compressed: measured from the APP2 segments.
    let jpeg = hostile::jpeg_with_profile(32, 32, 2 << 20, 4);
    let header = read_header(&jpeg, &ImageLimits::default()).unwrap();
    assert_eq!(header.icc_profile, IccProfile::OverCap);
    assert_eq!(decode(&jpeg).unwrap().dimensions(), (32, 32));
    let chelsea = read_header(
        &repo_file("tests/data/chelsea.png"),
        &ImageLimits::default(),
    );
    assert!(matches!(
        chelsea.unwrap().icc_profile,
        IccProfile::WithinCap { .. }
    ));
}

#[test]
fn memory_estimates_cover_what_decoding_allocates() {
    // 16-bit RGBA: 8 bytes a pixel decoded, then 3 more for RGB8 while it is still held.
    let rgba16 = hostile::png_rgba16(1000, 800, 5);
    let header = read_header(&rgba16, &ImageLimits::default()).unwrap();
    let pixels = 1000 * 800;
    assert!(header.memory_needed() >= 11 * pixels);
    assert!(header.memory_needed() <= 11 * pixels + (9 << 20));
    let (decoded, largest) = decode_tracked(&rgba16);
    decoded.unwrap();
    assert!(largest as u64 <= header.memory_needed());
    // A JPEG counts its DCT coefficients (2 bytes a sample) next to the RGB output.
    let rocket = repo_file("tests/data/rocket.jpg");
    let header = read_header(&rocket, &ImageLimits::default()).unwrap();
    let pixels = u64::from(header.width) * u64::from(header.height);
    assert!(header.memory_needed() >= 9 * pixels);
    // The header is checked against the limits before anything else.
    let limits = ImageLimits {
        max_pixels: 500_000,
        ..ImageLimits::default()
    };
    assert!(matches!(
        read_header(&rgba16, &limits),
        Err(ImageError::TooLarge { .. })
    ));
}
