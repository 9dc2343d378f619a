//! The checkpoint tools: `check-model`, `package` and `quantize`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::harness::{run_tool, stdout, tiny_model};

/// A copy of the tiny checkpoint to break.
fn tiny_copy(parent: &Path) -> PathBuf {
    let dir = parent.join("checkpoint");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(tiny_model()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn check_model_accepts_the_tiny_model_and_names_each_problem() {
    let tiny = tiny_model();
    let output = run_tool(&["check-model", tiny.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let report = stdout(&output);
    assert!(report.contains("the checkpoint is valid"), "{report}");
    assert!(report.contains("test caption"), "{report}");

    // A missing tensor and a mis-shaped one, both named with their shapes.
    let work = tempfile::tempdir().unwrap();
    let dir = tiny_copy(work.path());
    let weights = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).unwrap();
    let removed = "text_decoder.bert.encoder.layer.1.crossattention.self.key.weight";
    assert!(tensors.remove(removed).is_some());
    let reshaped = "vision_model.post_layernorm.weight";
    tensors.insert(
        reshaped.into(),
        candle_core::Tensor::zeros(16, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let output = run_tool(&["check-model", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains(&format!("missing {removed} (expected shape [32, 32])")),
        "{report}"
    );
    assert!(
        report.contains(&format!("{reshaped} has shape [16], the config needs [32]")),
        "{report}"
    );
    assert!(report.contains("FAIL weights"), "{report}");

    // A truncated download.
    let bytes = std::fs::read(tiny_model().join("model.safetensors")).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let report = stdout(&run_tool(&["check-model", dir.to_str().unwrap()]));
    assert!(report.contains("truncated"), "{report}");

    // No tokenizer.
    std::fs::copy(tiny_model().join("model.safetensors"), &weights).unwrap();
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let output = run_tool(&["check-model", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(report.contains("tokenizer.json"), "{report}");
    assert!(report.contains("not found"), "{report}");
}

#[test]
fn package_writes_an_archive_that_check_model_accepts() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("model.tar.gz");
    let tiny = tiny_model();
    let output = run_tool(&[
        "package",
        "--model-dir",
        tiny.to_str().unwrap(),
        "--out",
        archive.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("wrote"));

    // The files sit at the root of the archive, as SageMaker unpacks them into /opt/ml/model.
    let unpacked = work.path().join("opt-ml-model");
    let gzip = flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap());
    let mut tar = tar::Archive::new(gzip);
    let names: BTreeSet<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in [
        "config.json",
        "tokenizer.json",
        "preprocessor_config.json",
        "model.safetensors",
    ] {
        assert!(names.contains(name), "{names:?}");
    }
    assert!(names.iter().all(|n| !n.contains('/')), "{names:?}");
    let gzip = flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap());
    tar::Archive::new(gzip).unpack(&unpacked).unwrap();
    let mut original = Vec::new();
    std::fs::File::open(tiny.join("model.safetensors"))
        .unwrap()
        .read_to_end(&mut original)
        .unwrap();
    assert_eq!(
        std::fs::read(unpacked.join("model.safetensors")).unwrap(),
        original
    );
    let check = run_tool(&["check-model", unpacked.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");

    // A broken checkpoint is not packaged.
    let broken = tiny_copy(work.path());
    std::fs::remove_file(broken.join("tokenizer.json")).unwrap();
    let refused = work.path().join("refused.tar.gz");
    let output = run_tool(&[
        "package",
        "--model-dir",
        broken.to_str().unwrap(),
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!refused.exists());
}

#[test]
fn quantize_writes_a_checkpoint_that_loads() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("tiny-q8");
    let tiny = tiny_model();
    let output = run_tool(&[
        "quantize",
        "--model-dir",
        tiny.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--type",
        "q8_0",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(out.join("model.gguf").is_file());
    let check = run_tool(&["check-model", out.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    // Writing over a checkpoint is refused.
    let again = run_tool(&[
        "quantize",
        "--model-dir",
        tiny.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a checkpoint"));
}
