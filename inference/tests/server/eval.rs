//! `eval score` as a person runs it: COCO files in, the metrics out (table or JSON), and a
//! sentence for each kind of bad input.

use std::path::Path;

use serde_json::{json, Value};

use crate::harness::{run_tool, stdout};

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn expected_basic() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval/expected.json");
    serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()["basic"].clone()
}

#[test]
fn eval_score_reads_coco_files_tokenizes_and_prints_the_metrics() {
    let work = tempfile::tempdir().unwrap();
    // The fixture's "basic" set, written as people write captions: capitals and punctuation
    // that tokenization takes away, numeric ids, and an image nobody predicted.
    let references = json!({"images": [], "annotations": [
        {"image_id": 1, "caption": "A man riding a horse on a beach."},
        {"image_id": 1, "caption": "A person rides a brown horse along the shore."},
        {"image_id": 1, "caption": "A horse and rider on the sand, near the ocean."},
        {"image_id": 1, "caption": "Someone riding a horse by the sea!"},
        {"image_id": 2, "caption": "A cat sleeping on a red couch."},
        {"image_id": 2, "caption": "A gray cat curled up on a sofa."},
        {"image_id": 2, "caption": "A cat takes a nap on the couch."},
        {"image_id": 3, "caption": "A plate of food with broccoli and rice."},
        {"image_id": 3, "caption": "A dish of rice with vegetables."},
        {"image_id": 3, "caption": "Broccoli, chicken and rice on a white plate."},
        {"image_id": 3, "caption": "A healthy meal on a plate."},
        {"image_id": 3, "caption": "A plate with rice and green broccoli."},
        {"image_id": 4, "caption": "Two dogs playing in the snow."},
        {"image_id": 4, "caption": "A pair of dogs run through the snow."},
        {"image_id": 4, "caption": "Dogs chase each other in a snowy field."},
        {"image_id": 9, "caption": "Not predicted, so not scored."}
    ]});
    let predictions = json!([
        {"image_id": 1, "caption": "A man riding a horse on the beach"},
        {"image_id": 2, "caption": "A cat laying on a couch."},
        {"image_id": 3, "caption": "A plate of rice and broccoli"},
        {"image_id": 4, "caption": "A dog running in the snow"}
    ]);
    let refs = write(work.path(), "refs.json", &references);
    let preds = write(work.path(), "preds.json", &predictions);

    let output = run_tool(&[
        "eval",
        "score",
        "--predictions",
        &preds,
        "--references",
        &refs,
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let scores: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(scores["images"], 4);
    let expected = expected_basic();
    for metric in ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"] {
        let (ours, theirs) = (
            scores[metric].as_f64().unwrap(),
            expected[metric].as_f64().unwrap(),
        );
        assert!(
            (ours - theirs).abs() <= 1e-9,
            "{metric}: {ours} vs {theirs}"
        );
    }

    let output = run_tool(&[
        "eval",
        "score",
        "--predictions",
        &preds,
        "--references",
        &refs,
    ]);
    let table = stdout(&output);
    assert!(
        table.contains("images   4") && table.contains("CIDEr-D  1.9587"),
        "{table}"
    );

    // Bad input: a sentence naming the file and what is wrong, exit status 1.
    let unreferenced = write(
        work.path(),
        "extra.json",
        &json!([{"image_id": 7, "caption": "x"}]),
    );
    let duplicated = write(
        work.path(),
        "twice.json",
        &json!([{"image_id": 1, "caption": "x"}, {"image_id": 1, "caption": "y"}]),
    );
    let no_caption = write(work.path(), "nocap.json", &json!([{"image_id": 1}]));
    let not_json = work.path().join("broken.json");
    std::fs::write(&not_json, "{").unwrap();
    for (predictions, says) in [
        (unreferenced.as_str(), "have no reference caption"),
        (duplicated.as_str(), "more than one prediction"),
        (no_caption.as_str(), "no `caption` string"),
        (not_json.to_str().unwrap(), "is not JSON"),
        ("/nonexistent/preds.json", "cannot read"),
    ] {
        let output = run_tool(&[
            "eval",
            "score",
            "--predictions",
            predictions,
            "--references",
            &refs,
        ]);
        assert_eq!(output.status.code(), Some(1), "{predictions}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{predictions}: {stderr}");
    }
}

fn shipped_set() -> String {
    crate::harness::repo_root()
        .join("tests/data/eval/captions.json")
        .to_str()
        .unwrap()
        .to_owned()
}

/// `eval run` of `model_dir` in f32 on the shipped set, predictions to `out`; it must succeed.
fn eval_run_on_the_shipped_set(model_dir: &str, out: &Path) -> std::process::Output {
    let output = run_tool(&[
        "eval",
        "run",
        "--model-dir",
        model_dir,
        "--coco",
        &shipped_set(),
        "--out",
        out.to_str().unwrap(),
        "--dtype",
        "f32",
    ]);
    assert!(output.status.success(), "{output:?}");
    output
}

#[test]
fn eval_run_captions_the_shipped_set_scores_it_and_reports_the_speed() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("predictions.json");
    let tiny = crate::harness::tiny_model();
    let output = eval_run_on_the_shipped_set(tiny.to_str().unwrap(), &out);
    let report = stdout(&output);
    for line in [
        "model    tiny-blip (f32)",
        "images   5",
        "CIDEr-D",
        "images/s, p50",
    ] {
        assert!(report.contains(line), "{line}: {report}");
    }
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("5/5 images"),
        "the progress bar"
    );
    let predictions: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let ids: Vec<&str> = predictions
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["image_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    // The predictions it wrote score the same through `eval score`.
    let scored = run_tool(&[
        "eval",
        "score",
        "--predictions",
        out.to_str().unwrap(),
        "--references",
        &shipped_set(),
    ]);
    let cider = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("CIDEr-D"))
            .map(str::to_owned)
    };
    assert_eq!(cider(&stdout(&scored)), cider(&report));

    // A set is a directory or a COCO file, not both and not neither.
    let images = crate::harness::repo_root().join("tests/data");
    for set in [
        vec![
            "--images",
            images.to_str().unwrap(),
            "--coco",
            &shipped_set(),
        ],
        vec![],
    ] {
        let mut args = vec!["eval", "run", "--model-dir", tiny.to_str().unwrap()];
        args.extend(set);
        let output = run_tool(&args);
        assert!(!output.status.success(), "{args:?}");
    }
}

#[test]
fn eval_compare_puts_f32_and_its_q8_0_side_by_side() {
    let work = tempfile::tempdir().unwrap();
    let tiny = crate::harness::tiny_model();
    let quantized = work.path().join("tiny-q8");
    let output = run_tool(&[
        "quantize",
        "--model-dir",
        tiny.to_str().unwrap(),
        "--out",
        quantized.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let html = work.path().join("report.html");
    let json_path = work.path().join("report.json");
    let output = run_tool(&[
        "eval",
        "compare",
        tiny.to_str().unwrap(),
        quantized.to_str().unwrap(),
        "--images",
        crate::harness::repo_root()
            .join("tests/data")
            .to_str()
            .unwrap(),
        "--references",
        &shipped_set(),
        "--dtype",
        "f32",
        "--html",
        html.to_str().unwrap(),
    ]);
    // The directory's ids are file names, the references' are numbers: nothing to score.
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("have no reference caption"),
        "{output:?}"
    );

    let output = run_tool(&[
        "eval",
        "compare",
        tiny.to_str().unwrap(),
        quantized.to_str().unwrap(),
        "--coco",
        &shipped_set(),
        "--dtype",
        "f32",
        "--html",
        html.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let cider = &json["figures"]["CIDEr-D"];
    let [a, b, delta] = ["a", "b", "delta"].map(|k| cider[k].as_f64().unwrap());
    assert!((b - a - delta).abs() < 1e-12, "{json}");
    assert_eq!(json["images"], 5);
    assert!(
        json["a"].as_str().unwrap().starts_with("tiny-blip"),
        "{json}"
    );
    let report = stdout(&output);
    assert!(
        report.contains("A: tiny-blip (f32)") && report.contains("(gguf)"),
        "{report}"
    );
    for row in [
        "BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D", "images/s", "p50 ms", "p95 ms",
    ] {
        assert!(
            report.lines().any(|l| l.starts_with(row)),
            "{row}: {report}"
        );
    }
    assert!(report.contains("Captions that differ most"), "{report}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!doctype html>") && page.contains("<th>CIDEr-D</th>"),
        "{page}"
    );
}

/// The lowest CIDEr-D on the shipped set that real BLIP weights may score. A random or broken
/// checkpoint scores about 0.02 there (the tiny one: 0.0199); working captions of these photos
/// share "cat", "coffee", "rocket on a launch pad" and the like with the references and score
/// well above. Not yet measured on real weights on this project's machines (no hub access):
/// raise it to just under what the served weights score once they have run it.
const REAL_WEIGHTS_CIDER_FLOOR: f64 = 0.3;

/// The regression guard for real weights (RUNBOOK "Update the model"): when
/// `IMGCAP_TEST_MODEL_DIR` points at a BLIP checkpoint, it must score at least the floor.
#[test]
fn real_weights_score_at_least_the_floor_on_the_shipped_set() {
    let Ok(dir) = std::env::var("IMGCAP_TEST_MODEL_DIR") else {
        eprintln!("IMGCAP_TEST_MODEL_DIR is not set: the real-weight CIDEr-D floor not checked");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let output = eval_run_on_the_shipped_set(&dir, &work.path().join("predictions.json"));
    let report = stdout(&output);
    eprintln!("{report}");
    let cider: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("CIDEr-D"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no CIDEr-D line: {report}"));
    assert!(
        cider >= REAL_WEIGHTS_CIDER_FLOOR,
        "CIDEr-D {cider} is below the floor {REAL_WEIGHTS_CIDER_FLOOR}: {report}"
    );
}
