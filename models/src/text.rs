//! The BLIP text decoder (a BERT-style causal LM with cross-attention to the image), written for
//! incremental generation:
//! - the image's cross-attention keys/values are computed once per image ([`ImageContext`]) and
//!   shared by every sequence decoded for that image (all beams of a beam search);
//! - each sequence keeps its own self-attention key/value cache ([`DecoderCache`]);
//! - only the last position goes through the LM head.

use candle_core::{DType, Device, Tensor};

use crate::config::TextConfig;
use crate::error::{ModelError, Result};
use crate::vision::Activation;
use crate::weights::{LayerNorm, Linear, Rows, Weights};

/// Per-layer cross-attention keys and values of a set of images, each shared by `group`
/// consecutive sequences of the batch.
#[derive(Debug, Clone)]
pub struct ImageContext {
    /// Per layer: keys, transposed [images, heads, head_dim, positions] (the layout the
    /// attention kernel reads fastest), and values [images, heads, positions, head_dim].
    layers: Vec<(Tensor, Tensor)>,
    group: usize,
}

impl ImageContext {
    pub fn num_images(&self) -> usize {
        self.layers.first().map(|(k, _)| k.dims()[0]).unwrap_or(0)
    }

    /// Sequences decoded per image.
    pub fn group(&self) -> usize {
        self.group
    }

    /// The same images with `group` sequences each.
    pub fn with_group(&self, group: usize) -> Self {
        Self {
            layers: self.layers.clone(),
            group,
        }
    }

    /// Keeps only the given images (by index), e.g. when the others have finished decoding.
    pub fn select_images(&self, images: &[usize]) -> Result<Self> {
        let Some(device) = self.device() else {
            return Ok(self.clone());
        };
        let index = index_tensor(images, device)?;
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.index_select(&index, 0)?, v.index_select(&index, 0)?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            group: self.group,
        })
    }

    pub(crate) fn device(&self) -> Option<&Device> {
        self.layers.first().map(|(k, _)| k.device())
    }
}

/// The self-attention key/value cache of a batch of sequences.
#[derive(Debug, Clone, Default)]
pub struct DecoderCache {
    /// Per layer: keys and values [sequences, heads, cached_len, head_dim].
    layers: Vec<(Tensor, Tensor)>,
}

impl DecoderCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens already processed per sequence.
    pub fn len(&self) -> usize {
        self.layers.first().map(|(k, _)| k.dims()[2]).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reorders (and possibly repeats or drops) sequences: row `i` of the result is row
    /// `rows[i]` of the current cache. Beam search calls this after choosing the next beams.
    pub fn select_rows(&mut self, rows: &[usize]) -> Result<()> {
        let Some((first, _)) = self.layers.first() else {
            return Ok(());
        };
        let index = index_tensor(rows, first.device())?;
        for (k, v) in &mut self.layers {
            *k = k.index_select(&index, 0)?;
            *v = v.index_select(&index, 0)?;
        }
        Ok(())
    }
}

fn index_tensor(indices: &[usize], device: &Device) -> Result<Tensor> {
    let indices: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
    Ok(Tensor::from_vec(indices.clone(), indices.len(), device)?)
}

fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, d) = x.dims3()?;
    Ok(x.reshape((b, t, heads, d / heads))?
        .transpose(1, 2)?
        .contiguous()?)
}

fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, t, hd) = x.dims4()?;
    Ok(x.transpose(1, 2)?.reshape((b, t, h * hd))?)
}

/// Query/key/value projections, output projection and the residual LayerNorm of one BERT
/// attention block; used as self-attention over the text and as cross-attention to the image.
struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    norm: LayerNorm,
    heads: usize,
}

impl Attention {
    /// `kv_rows`: self-attention projects one row per sequence and step; cross-attention
    /// projects every image position once per image.
    fn load(
        w: &Weights,
        prefix: &str,
        kv_in: usize,
        kv_rows: Rows,
        cfg: &TextConfig,
    ) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            query: w.linear(&format!("{prefix}.self.query"), d, d, true, Rows::Few)?,
            key: w.linear(&format!("{prefix}.self.key"), kv_in, d, true, kv_rows)?,
            value: w.linear(&format!("{prefix}.self.value"), kv_in, d, true, kv_rows)?,
            output: w.linear(&format!("{prefix}.output.dense"), d, d, true, Rows::Few)?,
            norm: w.layer_norm(&format!("{prefix}.output.LayerNorm"), d, eps)?,
            heads: cfg.num_attention_heads,
        })
    }

    /// Causal self-attention of `x` after the cached keys/values; returns the output and the
    /// keys/values including `x`'s.
    fn self_attend(
        &self,
        x: &Tensor,
        cache: Option<&mut (Tensor, Tensor)>,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let (_, t, d) = x.dims3()?;
        let head_dim = d / self.heads;
        let q = split_heads(&self.query.forward(x)?, self.heads)?;
        let mut k = split_heads(&self.key.forward(x)?, self.heads)?;
        let mut v = split_heads(&self.value.forward(x)?, self.heads)?;
        let past = match cache {
            Some((pk, pv)) => {
                let past = pk.dims()[2];
                k = Tensor::cat(&[&*pk, &k], 2)?;
                v = Tensor::cat(&[&*pv, &v], 2)?;
                past
            }
            None => 0,
        };
        let scale = (head_dim as f64).powf(-0.5);
        let context = if t == 1 {
            // One new position sees every cached one: nothing to mask.
            crate::kernels::attention(&q, &k, &v, scale)?
        } else {
            let mask = causal_mask(t, past, q.dtype(), x.device())?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            crate::kernels::softmax_last_dim(&scores)?.matmul(&v)?
        };
        let context = merge_heads(&context)?;
        let out = self.norm.forward(&(self.output.forward(&context)? + x)?)?;
        Ok((out, (k, v)))
    }

    /// Keys transposed [images, h, hd, n] and values [images, h, n, hd] of the image positions.
    fn keys_values(&self, image_embeds: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, n, _) = image_embeds.dims3()?;
        let keys_t = self
            .key
            .forward_transposed(image_embeds)?
            .reshape((b, self.heads, (), n))?;
        Ok((
            keys_t,
            split_heads(&self.value.forward(image_embeds)?, self.heads)?,
        ))
    }

    /// `x` [sequences, t, d] attends to the images of `segments`: its rows are, segment after
    /// segment, `group` consecutive sequences per image of that segment, and each attends to
    /// its own image's keys (transposed) and values at `layer`.
    fn cross_attend(&self, x: &Tensor, segments: &[&ImageContext], layer: usize) -> Result<Tensor> {
        let (_, t, d) = x.dims3()?;
        let (h, hd) = (self.heads, d / self.heads);
        let q = self.query.forward(x)?;
        let mut contexts = Vec::with_capacity(segments.len());
        let mut first = 0;
        for segment in segments {
            let (images, group) = (segment.num_images(), segment.group);
            let rows = images * group;
            let (keys_t, v) = &segment.layers[layer];
            // Fold the sequences of one image into the query length so all of them share one
            // pass over that image's keys, without copying the keys per sequence.
            let q = q
                .narrow(0, first, rows)?
                .reshape((images, group, t, h, hd))?
                .permute((0, 3, 1, 2, 4))?
                .contiguous()?
                .reshape((images, h, group * t, hd))?;
            let context =
                crate::kernels::attention_transposed_keys(&q, keys_t, v, (hd as f64).powf(-0.5))?
                    .reshape((images, h, group, t, hd))?
                    .permute((0, 2, 3, 1, 4))?
                    .reshape((rows, t, d))?;
            contexts.push(context);
            first += rows;
        }
        let context = if contexts.len() == 1 {
            contexts.remove(0)
        } else {
            Tensor::cat(&contexts, 0)?
        };
        self.norm.forward(&(self.output.forward(&context)? + x)?)
    }
}

/// Additive mask [t, past + t]: position i may attend to keys 0..=past + i.
fn causal_mask(t: usize, past: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let total = past + t;
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (t, total), device)?.to_dtype(dtype)?)
}

struct DecoderLayer {
    self_attention: Attention,
    cross_attention: Attention,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    act: Activation,
}

impl DecoderLayer {
    fn load(w: &Weights, prefix: &str, cfg: &TextConfig) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            self_attention: Attention::load(w, &format!("{prefix}.attention"), d, Rows::Few, cfg)?,
            cross_attention: Attention::load(
                w,
                &format!("{prefix}.crossattention"),
                cfg.encoder_hidden_size(),
                Rows::Many,
                cfg,
            )?,
            intermediate: w.linear(
                &format!("{prefix}.intermediate.dense"),
                d,
                cfg.intermediate_size,
                true,
                Rows::Few,
            )?,
            output: w.linear(
                &format!("{prefix}.output.dense"),
                cfg.intermediate_size,
                d,
                true,
                Rows::Few,
            )?,
            output_norm: w.layer_norm(&format!("{prefix}.output.LayerNorm"), d, eps)?,
            act: Activation::from_config(&cfg.hidden_act),
        })
    }
}

pub(crate) struct TextDecoder {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<DecoderLayer>,
    head_transform: Linear,
    head_norm: LayerNorm,
    head_act: Activation,
    head_decoder: Linear,
    max_positions: usize,
}

impl TextDecoder {
    pub fn load(w: &Weights, cfg: &TextConfig) -> Result<Self> {
        let (v, d, eps) = (cfg.vocab_size, cfg.hidden_size, cfg.layer_norm_eps);
        let bert = "text_decoder.bert";
        let head = "text_decoder.cls.predictions";
        let word_embeddings = w.matrix(
            &format!("{bert}.embeddings.word_embeddings.weight"),
            &[v, d],
        )?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::load(w, &format!("{bert}.encoder.layer.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        // The LM head is tied to the word embeddings in BLIP; checkpoints saved with the tie
        // may omit the decoder weight, and the bias may live under either name.
        let decoder_weight = format!("{head}.decoder.weight");
        let decoder_weight = if w.contains(&decoder_weight) {
            w.matrix(&decoder_weight, &[v, d])?
        } else {
            word_embeddings.clone()
        };
        let bias_name = [format!("{head}.bias"), format!("{head}.decoder.bias")]
            .into_iter()
            .find(|name| w.contains(name))
            .unwrap_or_else(|| format!("{head}.bias"));
        let decoder_bias = w.get(&bias_name, &[v])?;
        Ok(Self {
            position_embeddings: w.get(
                &format!("{bert}.embeddings.position_embeddings.weight"),
                &[cfg.max_position_embeddings, d],
            )?,
            embeddings_norm: w.layer_norm(&format!("{bert}.embeddings.LayerNorm"), d, eps)?,
            word_embeddings,
            layers,
            head_transform: w.linear(&format!("{head}.transform.dense"), d, d, true, Rows::Few)?,
            head_norm: w.layer_norm(&format!("{head}.transform.LayerNorm"), d, eps)?,
            head_act: Activation::from_config(&cfg.hidden_act),
            head_decoder: w.dense(decoder_weight, Some(decoder_bias), Rows::Few)?,
            max_positions: cfg.max_position_embeddings,
        })
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Computes every layer's cross-attention keys/values for `image_embeds` [images, n, enc].
    pub fn image_context(&self, image_embeds: &Tensor, group: usize) -> Result<ImageContext> {
        let layers = self
            .layers
            .iter()
            .map(|layer| layer.cross_attention.keys_values(image_embeds))
            .collect::<Result<_>>()?;
        Ok(ImageContext { layers, group })
    }

    /// Runs `input_ids` [sequences, t] after what `cache` holds, appends their keys/values to
    /// the cache, and returns the f32 logits of the last position [sequences, vocab].
    pub fn forward(
        &self,
        input_ids: &Tensor,
        image: &ImageContext,
        cache: &mut DecoderCache,
    ) -> Result<Tensor> {
        self.forward_segments(input_ids, &[image], cache)
    }

    /// [`Self::forward`] for sequences of several image contexts (e.g. the beams of one search
    /// and the samples of another): the rows of `input_ids` are the sequences of each segment
    /// in turn, and every layer's weights are read once for all of them.
    pub fn forward_segments(
        &self,
        input_ids: &Tensor,
        segments: &[&ImageContext],
        cache: &mut DecoderCache,
    ) -> Result<Tensor> {
        let (sequences, t) = input_ids.dims2()?;
        let past = cache.len();
        if past + t > self.max_positions {
            return Err(ModelError::InvalidOptions(format!(
                "a sequence of {} tokens exceeds the model's {} positions",
                past + t,
                self.max_positions
            )));
        }
        let expected: usize = segments.iter().map(|s| s.num_images() * s.group).sum();
        if sequences != expected {
            let layout: Vec<String> = segments
                .iter()
                .map(|s| format!("{} images x {} sequences each", s.num_images(), s.group))
                .collect();
            return Err(ModelError::InvalidOptions(format!(
                "{sequences} sequences do not match {}",
                layout.join(" + ")
            )));
        }
        let positions = self.position_embeddings.narrow(0, past, t)?;
        // The table may be kept in bf16 (see `Weights::matrix`); the rows looked up are not.
        let words = self
            .word_embeddings
            .embedding(&input_ids.flatten_all()?)?
            .to_dtype(positions.dtype())?;
        let mut x = words
            .reshape((sequences, t, ()))?
            .broadcast_add(&positions)?;
        x = self.embeddings_norm.forward(&x)?;
        let had_cache = !cache.layers.is_empty();
        for (i, layer) in self.layers.iter().enumerate() {
            let (attended, kv) = layer
                .self_attention
                .self_attend(&x, cache.layers.get_mut(i))?;
            if had_cache {
                cache.layers[i] = kv;
            } else {
                cache.layers.push(kv);
            }
            let attended = layer.cross_attention.cross_attend(&attended, segments, i)?;
            let hidden = layer.act.forward(&layer.intermediate.forward(&attended)?)?;
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&hidden)? + attended)?)?;
        }
        let last = x.narrow(1, t - 1, 1)?.squeeze(1)?;
        let h = self.head_norm.forward(
            &self
                .head_act
                .forward(&self.head_transform.forward(&last)?)?,
        )?;
        Ok(self
            .head_decoder
            .forward(&h)?
            .to_dtype(DType::F32)?
            .contiguous()?)
    }
}
