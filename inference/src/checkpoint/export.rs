//! Writing checkpoints: `package` (the `model.tar.gz` SageMaker unpacks into `/opt/ml/model`)
//! and `quantize` (a GGUF copy), each checked with `check-model`'s checks.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use imgcap_models::source::{ModelFiles, ModelSource, WeightFiles};

use super::{check_dir, check_files, file_name, COMPANION_FILES, SAFETENSORS_INDEX};

/// The files of a checkpoint, each with the name it gets at the root of an archive or copy.
fn checkpoint_entries(files: &ModelFiles, include_weights: bool) -> Vec<(PathBuf, String)> {
    let mut entries = vec![
        (files.config.clone(), "config.json".to_string()),
        (files.tokenizer.clone(), "tokenizer.json".to_string()),
    ];
    if let Some(path) = &files.preprocessor_config {
        entries.push((path.clone(), "preprocessor_config.json".into()));
    }
    let dir = files
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if include_weights {
        match &files.weights {
            WeightFiles::Safetensors(paths) => {
                let index = dir.join(SAFETENSORS_INDEX);
                let single = paths.len() == 1 && file_name(&paths[0]) == "model.safetensors";
                if !single && index.is_file() {
                    entries.push((index, SAFETENSORS_INDEX.into()));
                }
                entries.extend(paths.iter().map(|p| (p.clone(), file_name(p))));
            }
            WeightFiles::PyTorch(path) | WeightFiles::Gguf(path) => {
                entries.push((path.clone(), file_name(path)));
            }
        }
    }
    for name in COMPANION_FILES {
        let path = dir.join(name);
        if path.is_file() {
            entries.push((path, name.to_string()));
        }
    }
    entries
}

/// Checks the checkpoint, then writes `out` (a gzipped tar with the files at its root, as
/// SageMaker unpacks them into `/opt/ml/model`). Returns the archive's size in bytes.
pub async fn package(source: &ModelSource, out: &Path) -> anyhow::Result<u64> {
    let files = source.resolve().await?;
    let checked = files.clone();
    let report = tokio::task::spawn_blocking(move || check_files(&checked)).await?;
    report.print(&mut std::io::stdout())?;
    if report.problems() > 0 {
        bail!("not packaging a checkpoint that fails its check");
    }
    let entries = checkpoint_entries(&files, true);
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || write_archive(&entries, &out)).await?
}

fn write_archive(entries: &[(PathBuf, String)], out: &Path) -> anyhow::Result<u64> {
    let partial = out.with_extension("partial");
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let gzip =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    let mut archive = tar::Builder::new(gzip);
    archive.mode(tar::HeaderMode::Deterministic);
    // Hub caches hold symlinks into a blob store; the archive gets the files themselves.
    archive.follow_symlinks(true);
    for (path, name) in entries {
        archive
            .append_path_with_name(path, name)
            .with_context(|| format!("cannot add {} to the archive", path.display()))?;
    }
    let gzip = archive.into_inner()?;
    let mut writer = gzip.finish()?;
    writer.flush()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot move the archive to {}", out.display()))?;
    Ok(std::fs::metadata(out)?.len())
}

/// Writes a GGUF copy of the checkpoint into `out` (model.gguf plus the config and tokenizer
/// files), then checks it. Returns how many matrices were quantized.
pub async fn quantize(
    source: &ModelSource,
    out: &Path,
    quantization: &str,
) -> anyhow::Result<usize> {
    let dtype = imgcap_models::quantize::parse_quantization(quantization)?;
    let files = source.resolve().await?;
    if out.join("config.json").exists() {
        bail!(
            "{} already holds a checkpoint; choose an empty directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let target = out.to_path_buf();
    let weights = files.weights.clone();
    let quantized = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let tensors = imgcap_models::quantize::read_all(&weights)?;
        Ok(imgcap_models::quantize::write_gguf(
            &tensors,
            dtype,
            &target.join("model.gguf"),
        )?)
    })
    .await??;
    for (path, name) in checkpoint_entries(&files, false) {
        std::fs::copy(&path, out.join(&name))
            .with_context(|| format!("cannot copy {} to {}", path.display(), out.display()))?;
    }
    let report = check_dir(out).await;
    report.print(&mut std::io::stdout())?;
    if report.problems() > 0 {
        bail!(
            "the quantized checkpoint in {} fails its check",
            out.display()
        );
    }
    Ok(quantized)
}
