//! The images an evaluation captions: every JPEG/PNG of a directory (ids are the file names), or
//! the `images` of a COCO captions file (ids are theirs, files relative to it), whose
//! `annotations` are then the references.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;

/// One image to caption.
#[derive(Debug, Clone)]
pub struct SetImage {
    pub image_id: String,
    pub path: PathBuf,
}

/// What `eval run` and `eval compare` caption, and the references that come with it.
#[derive(Debug, Clone)]
pub struct EvalSet {
    pub images: Vec<SetImage>,
    /// A COCO file with reference captions (the `--coco` file itself, or `--references`).
    pub references: Option<PathBuf>,
}

impl EvalSet {
    pub fn open(
        images: Option<&Path>,
        coco: Option<&Path>,
        references: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let (images, coco_references) = match (images, coco) {
            (Some(dir), None) => (from_dir(dir)?, None),
            (None, Some(file)) => (from_coco(file)?, Some(file.to_path_buf())),
            _ => bail!("give exactly one of --images DIR and --coco ANNOTATIONS.json"),
        };
        if images.is_empty() {
            bail!("the set has no JPEG or PNG images");
        }
        Ok(Self {
            images,
            references: references.map(Path::to_path_buf).or(coco_references),
        })
    }
}

fn from_dir(dir: &Path) -> anyhow::Result<Vec<SetImage>> {
    let mut images = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase);
        if matches!(extension.as_deref(), Some("jpg" | "jpeg" | "png")) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            images.push(SetImage {
                image_id: name.to_owned(),
                path,
            });
        }
    }
    images.sort_by(|a, b| a.image_id.cmp(&b.image_id));
    Ok(images)
}

fn from_coco(file: &Path) -> anyhow::Result<Vec<SetImage>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let Some(Value::Array(list)) = json.get("images") else {
        bail!(
            "{}: a COCO captions file needs an `images` list",
            file.display()
        );
    };
    let base = file.parent().unwrap_or(Path::new("."));
    list.iter()
        .enumerate()
        .map(|(i, image)| {
            let image_id = match image.get("id") {
                Some(Value::Number(id)) => id.to_string(),
                Some(Value::String(id)) => id.clone(),
                _ => bail!("{} image {i}: no `id`", file.display()),
            };
            let Some(Value::String(name)) = image.get("file_name") else {
                bail!("{} image {i}: no `file_name`", file.display());
            };
            Ok(SetImage {
                image_id,
                path: base.join(name),
            })
        })
        .collect()
}
