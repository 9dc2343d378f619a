//! BLIP preprocessing (resize, rescale, normalise into tensors) against `transformers`
//! reference outputs. Decoding and the resize itself are tested in `imgcap-imaging`.
//!
//! Fixture: `models/tests/fixtures/preprocess/chelsea_pixel_values.safetensors` (from
//! `scripts/make_tiny_blip.py`) and the photos in `tests/data/`.

use std::path::PathBuf;

use candle_core::{DType, Device};
use image::RgbImage;
use imgcap_imaging::{decode_image, ImageLimits};
use imgcap_models::preprocess::ImageProcessor;
use imgcap_models::ModelError;

fn repo_file(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/preprocess")
        .join(name)
}

/// A reference image of the resize tests in `imgcap-imaging`.
fn fixture_rgb(name: &str) -> RgbImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../imaging/tests/fixtures")
        .join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
        .into_rgb8()
}

fn decode(bytes: &[u8]) -> RgbImage {
    decode_image(bytes, &ImageLimits::default())
        .expect("the image decodes")
        .image
}

#[test]
fn chelsea_pixel_values_match_transformers() {
    let reference = candle_core::safetensors::load(
        fixture_path("chelsea_pixel_values.safetensors"),
        &Device::Cpu,
    )
    .expect("pixel value fixture loads");
    let (expected, rows) = match (
        reference.get("pixel_values"),
        reference.get("pixel_values_rows0_8"),
    ) {
        (Some(t), _) => (t.clone(), 384),
        (None, Some(t)) => (t.clone(), 8),
        (None, None) => panic!("fixture has neither pixel_values nor pixel_values_rows0_8"),
    };
    assert_eq!(expected.dims(), &[1, 3, rows, 384]);
    let expected = expected.flatten_all().unwrap().to_vec1::<f32>().unwrap();

    let image = decode(&repo_file("tests/data/chelsea.png"));
    let processor = ImageProcessor::blip(384);
    let actual = processor.pixel_values(&image);
    assert_eq!(actual.len(), 3 * 384 * 384);
    let plane = 384 * 384;
    let mut worst = 0f32;
    for c in 0..3 {
        let ours = &actual[c * plane..c * plane + rows * 384];
        let theirs = &expected[c * rows * 384..(c + 1) * rows * 384];
        for (a, e) in ours.iter().zip(theirs) {
            worst = worst.max((a - e).abs());
        }
    }
    assert!(worst <= 1e-6, "max abs difference {worst}");
}

#[test]
fn batch_stacks_pixel_values() {
    let processor = ImageProcessor::blip(64);
    let images = [
        fixture_rgb("resize_50x40.png"),
        fixture_rgb("resize_160x120.png"),
    ];
    let batch = processor.batch(&images, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(batch.dims(), &[2, 3, 64, 64]);
    for (i, image) in images.iter().enumerate() {
        let row = batch
            .get(i)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(row, processor.pixel_values(image));
    }
    let half = processor.batch(&images, &Device::Cpu, DType::F16).unwrap();
    assert_eq!(
        (half.dtype(), half.dims()),
        (DType::F16, &[2, 3, 64, 64][..])
    );
    let empty = processor.batch(&[], &Device::Cpu, DType::F32).unwrap();
    assert_eq!(empty.dims(), &[0, 3, 64, 64]);
}

#[test]
fn preprocessor_config_files() {
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny-blip/preprocessor_config.json");
    let processor = ImageProcessor::from_preprocessor_config(&tiny).unwrap();
    assert_eq!(
        processor,
        ImageProcessor {
            height: 64,
            width: 64,
            ..ImageProcessor::blip(64)
        }
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("preprocessor_config.json");
    std::fs::write(
        &bad,
        r#"{"size": {"height": 384, "width": 384}, "resample": 2}"#,
    )
    .unwrap();
    match ImageProcessor::from_preprocessor_config(&bad) {
        Err(ModelError::Config { path, message }) => {
            assert_eq!(path, bad);
            assert!(message.contains("resample"), "{message}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    let missing = dir.path().join("nope.json");
    assert!(matches!(
        ImageProcessor::from_preprocessor_config(&missing),
        Err(ModelError::Io { .. })
    ));
}
