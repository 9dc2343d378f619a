//! Behaviour of the model on small random checkpoints: batching, caching, precisions,
//! quantized and broken checkpoints.

use super::support::{max_abs, max_abs_diff};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use imgcap_models::source::WeightFiles;
use imgcap_models::synthetic::random_weights;
use imgcap_models::{BlipConfig, BlipModel, DecoderCache, GenerationOptions, ModelError, Strategy};

const BOS: u32 = 30;
const SEP: u32 = 3;

fn config(hidden: usize, intermediate: usize) -> BlipConfig {
    let json = format!(
        r#"{{"vision_config": {{"hidden_size": {hidden}, "intermediate_size": {intermediate},
             "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 16}},
            "text_config": {{"vocab_size": 40, "hidden_size": {hidden}, "intermediate_size": {intermediate},
             "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 48,
             "bos_token_id": {BOS}, "sep_token_id": {SEP}, "pad_token_id": 0}}}}"#
    );
    BlipConfig::from_json(&json, Path::new("test-config.json")).expect("valid config")
}

fn scaled_weights(cfg: &BlipConfig, seed: u64, scale: f64) -> Vec<(String, Tensor)> {
    random_weights(cfg, seed)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let scaled = if t.rank() >= 2 {
                (t * scale).unwrap()
            } else {
                t
            };
            (name, scaled)
        })
        .collect()
}

fn save(dir: &Path, tensors: &[(String, Tensor)]) -> PathBuf {
    let path = dir.join("model.safetensors");
    let map: std::collections::HashMap<String, Tensor> = tensors.iter().cloned().collect();
    candle_core::safetensors::save(&map, &path).unwrap();
    path
}

fn load(cfg: &BlipConfig, weights: WeightFiles, dtype: DType) -> Result<BlipModel, ModelError> {
    BlipModel::load(cfg.clone(), &weights, &Device::Cpu, dtype)
}

fn pixels(n: usize, seed: u64) -> Tensor {
    imgcap_models::synthetic::random_normal(&[n, 3, 32, 32], 1.0, seed).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    cfg: BlipConfig,
    tensors: Vec<(String, Tensor)>,
    weights: WeightFiles,
}

/// Random weights scaled up 10x so logits are peaked and argmax never hinges on rounding noise.
fn fixture(hidden: usize, intermediate: usize) -> Fixture {
    fixture_scaled(hidden, intermediate, 10.0)
}

fn fixture_scaled(hidden: usize, intermediate: usize, scale: f64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(hidden, intermediate);
    let tensors = scaled_weights(&cfg, 7, scale);
    let weights = WeightFiles::Safetensors(vec![save(dir.path(), &tensors)]);
    Fixture {
        _dir: dir,
        cfg,
        tensors,
        weights,
    }
}

fn greedy(max_new_tokens: usize) -> GenerationOptions {
    GenerationOptions {
        strategy: Strategy::Greedy,
        max_new_tokens,
        min_new_tokens: 0,
        repetition_penalty: 1.0,
        no_repeat_ngram_size: 0,
    }
}

fn all_strategies() -> Vec<GenerationOptions> {
    vec![
        greedy(12),
        GenerationOptions {
            strategy: Strategy::BeamSearch {
                num_beams: 3,
                length_penalty: 1.0,
            },
            min_new_tokens: 2,
            no_repeat_ngram_size: 2,
            ..greedy(12)
        },
        GenerationOptions {
            strategy: Strategy::BeamSearch {
                num_beams: 4,
                length_penalty: 0.6,
            },
            repetition_penalty: 1.5,
            ..greedy(10)
        },
        GenerationOptions {
            strategy: Strategy::Sample {
                temperature: 0.8,
                top_k: 20,
                top_p: 0.9,
                seed: Some(42),
            },
            repetition_penalty: 1.2,
            ..greedy(12)
        },
    ]
}

#[test]
fn a_batch_decodes_exactly_like_single_images() {
    let f = fixture(32, 64);
    let model = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let embeds = model.encode_images(&pixels(4, 1)).unwrap();
    for opts in all_strategies() {
        let batch = model.generate(&embeds, &[BOS], &opts).unwrap();
        assert_eq!(batch.len(), 4);
        for (i, batched) in batch.iter().enumerate() {
            let single = model
                .generate(&embeds.narrow(0, i, 1).unwrap(), &[BOS], &opts)
                .unwrap();
            assert_eq!(batched.tokens, single[0].tokens, "image {i} with {opts:?}");
            assert!(
                (batched.score - single[0].score).abs() < 1e-3,
                "{} vs {}",
                batched.score,
                single[0].score
            );
            assert!(batched.tokens.len() <= opts.max_new_tokens);
        }
    }
}

#[test]
fn searches_decoded_together_equal_separate_runs() {
    let f = fixture(32, 64);
    let model = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let embeds = model.encode_images(&pixels(3, 4)).unwrap();
    // Beam searches of 3 and 4 beams, sampling and greedy decoding share every pass; they
    // finish at different steps, and images leave each of them at different steps.
    let strategies = all_strategies();
    let together = model
        .generate_together(&embeds, &[BOS], &strategies.iter().collect::<Vec<_>>())
        .unwrap();
    assert_eq!(together.len(), strategies.len());
    for (opts, joint) in strategies.iter().zip(&together) {
        let alone = model.generate(&embeds, &[BOS], opts).unwrap();
        assert_eq!(joint.len(), 3);
        for (i, (joint, alone)) in joint.iter().zip(&alone).enumerate() {
            assert_eq!(joint.tokens, alone.tokens, "image {i} with {opts:?}");
            assert!(
                (joint.score - alone.score).abs() < 1e-4,
                "image {i} with {opts:?}"
            );
        }
    }
    let lengths: Vec<usize> = together.iter().flatten().map(|s| s.tokens.len()).collect();
    assert!(
        lengths.iter().any(|&l| l != lengths[0]),
        "the searches should end at different steps: {lengths:?}"
    );
}

#[test]
fn vision_batch_equals_single_images() {
    let f = fixture(32, 64);
    let model = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let px = pixels(3, 2);
    let batch = model.encode_images(&px).unwrap();
    for i in 0..3 {
        let single = model.encode_images(&px.narrow(0, i, 1).unwrap()).unwrap();
        assert!(max_abs_diff(&batch.i(i).unwrap(), &single.i(0).unwrap()) < 1e-5);
    }
}

#[test]
fn cached_decoding_equals_recomputing_everything_each_step() {
    let f = fixture(32, 64);
    let model = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let embeds = model.encode_images(&pixels(2, 3)).unwrap();
    let context = model.image_context(&embeds, 1).unwrap();
    let mut cache = DecoderCache::new();
    let mut sequences = vec![vec![BOS]; 2];
    let mut input = Tensor::new(&[[BOS], [BOS]], &Device::Cpu).unwrap();
    for step in 0..10 {
        let cached = model.decode(&input, &context, &mut cache).unwrap();
        assert_eq!(cache.len(), step + 1);
        // From scratch: new cross-attention keys/values, no cache, the whole sequence.
        let fresh_context = model.image_context(&embeds, 1).unwrap();
        let all_ids = Tensor::new(sequences.clone(), &Device::Cpu).unwrap();
        let recomputed = model
            .decode(&all_ids, &fresh_context, &mut DecoderCache::new())
            .unwrap();
        assert!(max_abs_diff(&cached, &recomputed) < 1e-4, "step {step}");
        let next: Vec<u32> = cached.argmax(1).unwrap().to_vec1().unwrap();
        for (seq, &t) in sequences.iter_mut().zip(&next) {
            seq.push(t);
        }
        input = Tensor::from_vec(next, (2, 1), &Device::Cpu).unwrap();
    }
}

#[test]
fn half_precision_stays_close_to_f32() {
    let f = fixture(32, 64);
    let reference = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let px = pixels(2, 4);
    let ref_embeds = reference.encode_images(&px).unwrap();
    let context = reference.image_context(&ref_embeds, 1).unwrap();
    let ids = Tensor::new(&[[BOS], [BOS]], &Device::Cpu).unwrap();
    let ref_logits = reference
        .decode(&ids, &context, &mut DecoderCache::new())
        .unwrap();
    // Stated tolerances, relative to the largest magnitude: f16 2%, bf16 8%.
    for (dtype, tolerance) in [(DType::F16, 0.02f32), (DType::BF16, 0.08)] {
        let model = load(&f.cfg, f.weights.clone(), dtype).unwrap();
        assert_eq!(model.dtype(), dtype);
        let embeds = model.encode_images(&px).unwrap();
        // On the CPU, bf16 keeps the matrices in bf16 and computes in f32.
        let activations = if dtype == DType::BF16 {
            DType::F32
        } else {
            dtype
        };
        assert_eq!(embeds.dtype(), activations);
        assert_eq!(model.activation_dtype(), activations);
        let embed_err = max_abs_diff(&embeds, &ref_embeds) / max_abs(&ref_embeds);
        assert!(embed_err < tolerance, "{dtype:?} vision error {embed_err}");
        let context = model.image_context(&embeds, 1).unwrap();
        let logits = model
            .decode(&ids, &context, &mut DecoderCache::new())
            .unwrap();
        let logit_err = max_abs_diff(&logits, &ref_logits) / max_abs(&ref_logits);
        assert!(logit_err < tolerance, "{dtype:?} logits error {logit_err}");
        let tokens = model.generate(&embeds, &[BOS], &greedy(8)).unwrap();
        assert!(tokens.iter().all(|s| !s.tokens.is_empty()));
    }
}

#[test]
fn quantized_gguf_checkpoints_load_through_the_same_api() {
    // 256-wide rows so the k-quants (256-value blocks) apply too; weights at their natural
    // scale, as in trained checkpoints (10x-scaled random nets amplify any perturbation).
    let f = fixture_scaled(256, 256, 1.0);
    let reference = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let px = pixels(1, 5);
    let ref_embeds = reference.encode_images(&px).unwrap();
    let ids = Tensor::new(&[[BOS]], &Device::Cpu).unwrap();
    let ref_logits = reference
        .decode(
            &ids,
            &reference.image_context(&ref_embeds, 1).unwrap(),
            &mut DecoderCache::new(),
        )
        .unwrap();
    for (name, tolerance) in [("q8_0", 0.03f32), ("q4k", 0.2)] {
        let dtype = imgcap_models::quantize::parse_quantization(name).unwrap();
        let path = f._dir.path().join(format!("model-{name}.gguf"));
        let quantized = imgcap_models::quantize::write_gguf(&f.tensors, dtype, &path).unwrap();
        assert!(
            quantized >= 20,
            "{name}: only {quantized} matrices quantized"
        );
        let model = load(&f.cfg, WeightFiles::Gguf(path), DType::F16).unwrap();
        assert!(model.is_quantized());
        assert_eq!(
            model.dtype(),
            DType::F32,
            "quantized checkpoints compute in f32"
        );
        let embeds = model.encode_images(&px).unwrap();
        let err = max_abs_diff(&embeds, &ref_embeds) / max_abs(&ref_embeds);
        assert!(err < tolerance, "{name}: vision error {err}");
        let logits = model
            .decode(
                &ids,
                &model.image_context(&embeds, 1).unwrap(),
                &mut DecoderCache::new(),
            )
            .unwrap();
        let err = max_abs_diff(&logits, &ref_logits) / max_abs(&ref_logits);
        assert!(err < tolerance, "{name}: logits error {err}");
    }
}

fn without(tensors: &[(String, Tensor)], name: &str) -> Vec<(String, Tensor)> {
    tensors.iter().filter(|(n, _)| n != name).cloned().collect()
}

#[test]
fn a_missing_tensor_is_named() {
    let f = fixture(32, 64);
    let dir = tempfile::tempdir().unwrap();
    let name = "text_decoder.bert.encoder.layer.1.crossattention.self.key.weight";
    let path = save(dir.path(), &without(&f.tensors, name));
    match load(&f.cfg, WeightFiles::Safetensors(vec![path]), DType::F32) {
        Err(ModelError::MissingTensor {
            name: missing,
            expected,
        }) => {
            assert_eq!(missing, name);
            assert_eq!(expected, vec![32, 32]);
        }
        other => panic!("expected a missing tensor error, got {:?}", other.err()),
    }
}

#[test]
fn a_misshaped_tensor_is_named_with_both_shapes() {
    let f = fixture(32, 64);
    let dir = tempfile::tempdir().unwrap();
    let name = "vision_model.encoder.layers.0.mlp.fc1.weight";
    let mut tensors = without(&f.tensors, name);
    tensors.push((
        name.to_string(),
        Tensor::zeros((48, 32), DType::F32, &Device::Cpu).unwrap(),
    ));
    let path = save(dir.path(), &tensors);
    let err = load(&f.cfg, WeightFiles::Safetensors(vec![path]), DType::F32)
        .err()
        .expect("must fail");
    match &err {
        ModelError::ShapeMismatch {
            name: n,
            expected,
            actual,
        } => {
            assert_eq!(n, name);
            assert_eq!(expected, &vec![64, 32]);
            assert_eq!(actual, &vec![48, 32]);
        }
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(name) && message.contains("[48, 32]") && message.contains("[64, 32]"),
        "{message}"
    );
}

#[test]
fn missing_and_corrupt_weight_files_are_typed_errors() {
    let f = fixture(32, 64);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.safetensors");
    assert!(matches!(
        load(&f.cfg, WeightFiles::Safetensors(vec![missing]), DType::F32),
        Err(ModelError::MissingFile { .. })
    ));
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(
        &corrupt,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
    )
    .unwrap();
    assert!(matches!(
        load(
            &f.cfg,
            WeightFiles::Safetensors(vec![corrupt.clone()]),
            DType::F32
        ),
        Err(ModelError::Checkpoint { .. })
    ));
    // A valid header whose data section was cut off.
    let full = std::fs::read(save(dir.path(), &f.tensors)).unwrap();
    std::fs::write(&corrupt, &full[..full.len() / 2]).unwrap();
    assert!(matches!(
        load(&f.cfg, WeightFiles::Safetensors(vec![corrupt]), DType::F32),
        Err(ModelError::Checkpoint { .. })
    ));
    let bad_pth = dir.path().join("pytorch_model.bin");
    std::fs::write(&bad_pth, b"PK\x03\x04 definitely not a zip").unwrap();
    assert!(matches!(
        load(&f.cfg, WeightFiles::PyTorch(bad_pth), DType::F32),
        Err(ModelError::Checkpoint { .. })
    ));
    let bad_gguf = dir.path().join("model.gguf");
    std::fs::write(&bad_gguf, b"GGUF\x03\x00").unwrap();
    assert!(matches!(
        load(&f.cfg, WeightFiles::Gguf(bad_gguf), DType::F32),
        Err(ModelError::Checkpoint { .. })
    ));
}

#[test]
fn a_tied_lm_head_falls_back_to_the_word_embeddings() {
    let f = fixture(32, 64);
    let dir = tempfile::tempdir().unwrap();
    let embeddings = f
        .tensors
        .iter()
        .find(|(n, _)| n == "text_decoder.bert.embeddings.word_embeddings.weight")
        .unwrap()
        .1
        .clone();
    // Explicitly tied copy vs. the same checkpoint without `decoder.weight`.
    let mut tied = without(&f.tensors, "text_decoder.cls.predictions.decoder.weight");
    let untied_dir = tempfile::tempdir().unwrap();
    let mut explicit = tied.clone();
    explicit.push((
        "text_decoder.cls.predictions.decoder.weight".into(),
        embeddings,
    ));
    let explicit = load(
        &f.cfg,
        WeightFiles::Safetensors(vec![save(untied_dir.path(), &explicit)]),
        DType::F32,
    )
    .unwrap();
    tied.sort_by(|a, b| a.0.cmp(&b.0));
    let tied = load(
        &f.cfg,
        WeightFiles::Safetensors(vec![save(dir.path(), &tied)]),
        DType::F32,
    )
    .unwrap();
    let px = pixels(1, 6);
    let ids = Tensor::new(&[[BOS]], &Device::Cpu).unwrap();
    let run = |m: &BlipModel| {
        let e = m.encode_images(&px).unwrap();
        m.decode(
            &ids,
            &m.image_context(&e, 1).unwrap(),
            &mut DecoderCache::new(),
        )
        .unwrap()
    };
    assert_eq!(max_abs_diff(&run(&tied), &run(&explicit)), 0.0);
}

#[test]
fn configs_missing_architecture_fields_are_refused() {
    let good = r#"{"vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "image_size": 32, "patch_size": 16},
        "text_config": {"vocab_size": 40, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "bos_token_id": 30, "sep_token_id": 3}}"#;
    let parsed = BlipConfig::from_json(good, Path::new("c.json")).unwrap();
    assert_eq!(parsed.text.encoder_hidden_size(), 32);
    let edit = |section: &str, key: &str, value: Option<serde_json::Value>| {
        let mut json: serde_json::Value = serde_json::from_str(good).unwrap();
        let obj = json[section].as_object_mut().unwrap();
        match value {
            Some(v) => obj.insert(key.to_string(), v),
            None => obj.remove(key),
        };
        json.to_string()
    };
    for (broken, needle) in [
        (
            edit("vision_config", "hidden_size", None),
            "vision_config: missing field `hidden_size`",
        ),
        (
            edit("text_config", "vocab_size", None),
            "text_config: missing field `vocab_size`",
        ),
        (
            edit("text_config", "num_attention_heads", Some(5.into())),
            "multiple of num_attention_heads",
        ),
        (
            edit("text_config", "hidden_act", Some("swish".into())),
            "is not supported",
        ),
        ("{}".to_string(), "missing section `vision_config`"),
        ("not json".to_string(), "not valid JSON"),
    ] {
        let err = BlipConfig::from_json(&broken, Path::new("c.json")).unwrap_err();
        assert!(matches!(err, ModelError::Config { .. }), "{err:?}");
        assert!(
            err.to_string().contains(needle),
            "{err} does not mention {needle}"
        );
    }
}

#[test]
fn invalid_generation_options_are_refused() {
    let f = fixture(32, 64);
    let model = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let embeds = model.encode_images(&pixels(1, 8)).unwrap();
    for opts in [
        greedy(0),
        GenerationOptions {
            min_new_tokens: 5,
            ..greedy(3)
        },
        GenerationOptions {
            strategy: Strategy::BeamSearch {
                num_beams: 0,
                length_penalty: 1.0,
            },
            ..greedy(5)
        },
        GenerationOptions {
            strategy: Strategy::Sample {
                temperature: 0.0,
                top_k: 0,
                top_p: 1.0,
                seed: None,
            },
            ..greedy(5)
        },
        GenerationOptions {
            strategy: Strategy::Sample {
                temperature: 1.0,
                top_k: 0,
                top_p: 1.5,
                seed: None,
            },
            ..greedy(5)
        },
    ] {
        assert!(
            matches!(
                model.generate(&embeds, &[BOS], &opts),
                Err(ModelError::InvalidOptions(_))
            ),
            "{opts:?}"
        );
    }
    // More tokens than the 48 positions: capped, never an out-of-range position.
    let long = model
        .generate(
            &embeds,
            &[BOS],
            &GenerationOptions {
                min_new_tokens: 100,
                ..greedy(100)
            },
        )
        .unwrap();
    assert_eq!(long[0].tokens.len(), 47);
}

#[test]
fn min_new_tokens_and_ngram_rules_hold() {
    let f = fixture(32, 64);
    let model = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let embeds = model.encode_images(&pixels(3, 9)).unwrap();
    for strategy in [
        Strategy::Greedy,
        Strategy::BeamSearch {
            num_beams: 3,
            length_penalty: 1.0,
        },
    ] {
        let opts = GenerationOptions {
            strategy,
            min_new_tokens: 6,
            no_repeat_ngram_size: 2,
            ..greedy(16)
        };
        for seq in model.generate(&embeds, &[BOS], &opts).unwrap() {
            let eos_at = seq.tokens.iter().position(|&t| t == SEP);
            assert!(eos_at.is_none_or(|at| at >= 6), "{:?}", seq.tokens);
            let full: Vec<u32> = std::iter::once(BOS)
                .chain(seq.tokens.iter().copied())
                .collect();
            let mut bigrams: Vec<_> = full.windows(2).collect();
            let before = bigrams.len();
            bigrams.sort();
            bigrams.dedup();
            assert_eq!(bigrams.len(), before, "a bigram repeats in {full:?}");
        }
    }
}

#[test]
fn sampling_is_reproducible_with_a_seed() {
    let f = fixture(32, 64);
    let model = load(&f.cfg, f.weights.clone(), DType::F32).unwrap();
    let embeds = model.encode_images(&pixels(1, 10)).unwrap();
    let with_seed = |seed| GenerationOptions {
        strategy: Strategy::Sample {
            temperature: 1.5,
            top_k: 0,
            top_p: 1.0,
            seed: Some(seed),
        },
        ..greedy(20)
    };
    let a = model.generate(&embeds, &[BOS], &with_seed(1)).unwrap();
    assert_eq!(a, model.generate(&embeds, &[BOS], &with_seed(1)).unwrap());
    let others: Vec<_> = (2..8)
        .map(|s| {
            model.generate(&embeds, &[BOS], &with_seed(s)).unwrap()[0]
                .tokens
                .clone()
        })
        .collect();
    assert!(
        others.iter().any(|t| *t != a[0].tokens),
        "different seeds never changed the sample"
    );
}

#[test]
fn published_base_and_large_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs");
    let base = BlipConfig::from_file(&dir.join("blip-image-captioning-base.json")).unwrap();
    let large = BlipConfig::from_file(&dir.join("blip-image-captioning-large.json")).unwrap();
    // The base config has no `encoder_hidden_size`: it defaults to the vision width.
    assert_eq!(base.text.encoder_hidden_size(), 768);
    assert_eq!(
        (base.vision.hidden_size, base.vision.num_hidden_layers),
        (768, 12)
    );
    assert_eq!(large.text.encoder_hidden_size(), 1024);
    assert_eq!(
        (large.vision.hidden_size, large.vision.num_hidden_layers),
        (1024, 24)
    );
    for cfg in [&base, &large] {
        assert_eq!(
            (
                cfg.text.vocab_size,
                cfg.text.bos_token_id,
                cfg.text.sep_token_id
            ),
            (30524, 30522, 102)
        );
        assert_eq!(cfg.vision.num_positions(), 577);
    }
    let missing = BlipConfig::from_file(&dir.join("absent.json")).unwrap_err();
    assert!(matches!(missing, ModelError::MissingFile { .. }));
}
