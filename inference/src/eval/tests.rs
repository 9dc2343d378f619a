//! The metrics against `pycocoevalcap` 1.2: `inference/tests/fixtures/eval/expected.json` was
//! written by `scripts/eval_reference_scores.py` from the sets in `sets.json`.

use serde_json::Value;

use super::*;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eval")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn examples(set: &Value) -> Vec<Example> {
    set["references"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, references)| Example {
            image_id: id.clone(),
            candidate: set["predictions"][id].as_str().unwrap().to_owned(),
            references: references
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect()
}

#[test]
fn every_metric_equals_pycocoevalcap_on_the_fixture_sets() {
    let sets = fixture("sets.json");
    let expected = fixture("expected.json");
    for (name, set) in sets.as_object().unwrap() {
        let scores = score(&examples(set));
        let want = &expected[name];
        for (metric, ours) in [
            ("Bleu_1", scores.bleu_1),
            ("Bleu_2", scores.bleu_2),
            ("Bleu_3", scores.bleu_3),
            ("Bleu_4", scores.bleu_4),
            ("ROUGE_L", scores.rouge_l),
            ("CIDEr", scores.cider),
        ] {
            let theirs = want[metric].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-9,
                "{name} {metric}: {ours} vs {theirs}"
            );
        }
        for image in &scores.per_image {
            for (metric, ours) in [("ROUGE_L", image.rouge_l), ("CIDEr", image.cider)] {
                let theirs = want[format!("{metric}_per_image")][&image.image_id]
                    .as_f64()
                    .unwrap();
                assert!(
                    (ours - theirs).abs() <= 1e-9,
                    "{name} {} {metric}: {ours} vs {theirs}",
                    image.image_id
                );
            }
        }
    }
}

#[test]
fn captions_are_tokenized_like_the_ptb_tokenizer_does_plain_english() {
    for (raw, words) in [
        ("A man riding a horse.", "a man riding a horse"),
        (
            "The dog's toy, on the floor!",
            "the dog 's toy on the floor",
        ),
        ("Don't touch; it can't fly?", "do n't touch it ca n't fly"),
        (
            "A hot-air balloon -- high up...",
            "a hot-air balloon high up",
        ),
        ("\"Quoted\" (words) [here]", "quoted words here"),
        (
            "A 3.5 ton truck at 10:30, parked",
            "a 3.5 ton truck at 10:30 parked",
        ),
        ("The dogs' bowls", "the dogs bowls"),
        ("It\u{2019}s RED", "it 's red"),
        ("", ""),
    ] {
        assert_eq!(tokenize(raw), words, "{raw:?}");
    }
}
