//! Captions real photos with real BLIP weights when `IMGCAP_TEST_MODEL_DIR` points at a
//! checkpoint directory (e.g. a copy of `Salesforce/blip-image-captioning-base`). Without it
//! the test reports that it did not run and passes: CI has no weights and no hub access.

use std::path::Path;

use imgcap_imaging::{decode_image, ImageLimits};
use imgcap_models::source::ModelSource;
use imgcap_models::{CaptionMode, CaptionOptions, Captioner, LoadOptions};

/// Each photo and words of which at least one must appear in its concise caption.
const EXPECTED: &[(&str, &[&str])] = &[
    ("chelsea.png", &["cat", "kitten"]),
    (
        "astronaut.png",
        &["man", "woman", "person", "astronaut", "suit", "uniform"],
    ),
    ("coffee.png", &["coffee", "cup", "mug", "latte"]),
    ("rocket.jpg", &["rocket", "space", "shuttle", "launch"]),
];

#[test]
fn real_weights_caption_the_test_photos() {
    let Ok(dir) = std::env::var("IMGCAP_TEST_MODEL_DIR") else {
        eprintln!("IMGCAP_TEST_MODEL_DIR is not set: real-weight captioning not checked");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let captioner = runtime
        .block_on(Captioner::load(
            &ModelSource::Dir(dir.into()),
            &LoadOptions::default(),
        ))
        .expect("the checkpoint loads");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
    let images: Vec<_> = EXPECTED
        .iter()
        .map(|(file, _)| {
            decode_image(
                &std::fs::read(data.join(file)).unwrap(),
                &ImageLimits::default(),
            )
            .unwrap()
            .image
        })
        .collect();
    let options = CaptionOptions {
        mode: CaptionMode::Both,
        ..Default::default()
    };
    let captions = captioner.caption_batch(&images, &options).unwrap();
    for ((file, words), caption) in EXPECTED.iter().zip(&captions) {
        let concise = caption.concise.as_ref().unwrap().text.to_lowercase();
        eprintln!(
            "{file}: {concise} | {}",
            caption.creative.as_ref().unwrap().text
        );
        assert!(
            words.iter().any(|w| concise.contains(w)),
            "{file}: `{concise}` mentions none of {words:?}"
        );
    }
}
