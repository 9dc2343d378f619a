//! Every tensor a BLIP captioning checkpoint holds, and randomly initialised checkpoints of any
//! size: full-size ones give benchmarks the real FLOPs without downloading weights, and small
//! ones exercise the loaders (e.g. quantized layouts) in tests.

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::BlipConfig;
use crate::error::Result;

/// Names and shapes of the tensors the loader reads, in Hugging Face naming.
pub fn tensor_shapes(config: &BlipConfig) -> Vec<(String, Vec<usize>)> {
    let (v, t) = (&config.vision, &config.text);
    let mut shapes = Vec::new();
    let mut push = |name: String, shape: &[usize]| shapes.push((name, shape.to_vec()));
    let linear = |push: &mut dyn FnMut(String, &[usize]), prefix: String, i: usize, o: usize| {
        push(format!("{prefix}.weight"), &[o, i]);
        push(format!("{prefix}.bias"), &[o]);
    };
    let norm = |push: &mut dyn FnMut(String, &[usize]), prefix: String, d: usize| {
        push(format!("{prefix}.weight"), &[d]);
        push(format!("{prefix}.bias"), &[d]);
    };
    let (d, c, p) = (v.hidden_size, v.num_channels, v.patch_size);
    push("vision_model.embeddings.class_embedding".into(), &[1, 1, d]);
    push(
        "vision_model.embeddings.patch_embedding.weight".into(),
        &[d, c, p, p],
    );
    push("vision_model.embeddings.patch_embedding.bias".into(), &[d]);
    push(
        "vision_model.embeddings.position_embedding".into(),
        &[1, v.num_positions(), d],
    );
    for i in 0..v.num_hidden_layers {
        let l = format!("vision_model.encoder.layers.{i}");
        norm(&mut push, format!("{l}.layer_norm1"), d);
        linear(&mut push, format!("{l}.self_attn.qkv"), d, 3 * d);
        linear(&mut push, format!("{l}.self_attn.projection"), d, d);
        norm(&mut push, format!("{l}.layer_norm2"), d);
        linear(&mut push, format!("{l}.mlp.fc1"), d, v.intermediate_size);
        linear(&mut push, format!("{l}.mlp.fc2"), v.intermediate_size, d);
    }
    norm(&mut push, "vision_model.post_layernorm".into(), d);
    let (h, enc) = (t.hidden_size, t.encoder_hidden_size());
    let bert = "text_decoder.bert";
    push(
        format!("{bert}.embeddings.word_embeddings.weight"),
        &[t.vocab_size, h],
    );
    push(
        format!("{bert}.embeddings.position_embeddings.weight"),
        &[t.max_position_embeddings, h],
    );
    norm(&mut push, format!("{bert}.embeddings.LayerNorm"), h);
    for i in 0..t.num_hidden_layers {
        let l = format!("{bert}.encoder.layer.{i}");
        for (kind, kv_in) in [("attention", h), ("crossattention", enc)] {
            linear(&mut push, format!("{l}.{kind}.self.query"), h, h);
            linear(&mut push, format!("{l}.{kind}.self.key"), kv_in, h);
            linear(&mut push, format!("{l}.{kind}.self.value"), kv_in, h);
            linear(&mut push, format!("{l}.{kind}.output.dense"), h, h);
            norm(&mut push, format!("{l}.{kind}.output.LayerNorm"), h);
        }
        linear(
            &mut push,
            format!("{l}.intermediate.dense"),
            h,
            t.intermediate_size,
        );
        linear(
            &mut push,
            format!("{l}.output.dense"),
            t.intermediate_size,
            h,
        );
        norm(&mut push, format!("{l}.output.LayerNorm"), h);
    }
    let head = "text_decoder.cls.predictions";
    linear(&mut push, format!("{head}.transform.dense"), h, h);
    norm(&mut push, format!("{head}.transform.LayerNorm"), h);
    push(format!("{head}.decoder.weight"), &[t.vocab_size, h]);
    push(format!("{head}.bias"), &[t.vocab_size]);
    shapes
}

/// A tensor of normally distributed f32 values (Box–Muller over a seeded generator, so the same
/// seed gives the same tensor on every platform).
pub fn random_normal(shape: &[usize], std: f32, seed: u64) -> Result<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let count: usize = shape.iter().product();
    let mut values = Vec::with_capacity(count + 1);
    while values.len() < count {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let radius = (-2.0 * u1.ln()).sqrt() * std;
        let angle = std::f32::consts::TAU * u2;
        values.extend([radius * angle.cos(), radius * angle.sin()]);
    }
    values.truncate(count);
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// A randomly initialised checkpoint for `config` (weights ~ N(0, 0.02), LayerNorm scales near
/// 1), as f32 tensors on the CPU, ready for `candle_core::safetensors::save`.
pub fn random_weights(config: &BlipConfig, seed: u64) -> Result<Vec<(String, Tensor)>> {
    tensor_shapes(config)
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let noise = random_normal(
                &shape,
                0.02,
                seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
            )?;
            let is_norm_scale = name.ends_with(".weight") && shape.len() == 1;
            let tensor = if is_norm_scale { (noise + 1.0)? } else { noise };
            Ok((name, tensor))
        })
        .collect()
}
