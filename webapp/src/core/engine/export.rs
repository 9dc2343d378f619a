//! Taking one's images along: an original with its captions written into its own metadata,
//! and the captioned images as a fine-tuning dataset (what is in it; the HTTP layer packs it
//! into a streamed ZIP).

use anyhow::Context as _;
use imgcap_imaging::sniff_format;
use imgcap_imaging::xmp::{embed_xmp, XmpCaptions};
use serde::Serialize;

use crate::core::domain::{now_ms, rfc3339_ms, BlobKey, ImageId, ImageRecord, ImageStatus, UserId};
use crate::core::provenance::CaptionKind;
use crate::error::{AppError, AppResult};

use super::Engine;

/// A download: the stored original with the captions in its XMP.
#[derive(Debug)]
pub struct CaptionedOriginal {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub file_name: String,
}

/// Which images go into the dataset.
#[derive(Debug, Clone, Copy, Default)]
pub struct DatasetOptions {
    /// Only images whose captions a person reviewed.
    pub reviewed_only: bool,
}

/// One line of the dataset's `metadata.jsonl` (Hugging Face `imagefolder`).
#[derive(Debug, Clone, Serialize)]
pub struct DatasetRow {
    /// Relative to the folder of `metadata.jsonl`.
    pub file_name: String,
    /// The caption column `imagefolder` trains on: the final concise caption.
    pub text: String,
    pub concise: String,
    pub creative: String,
    /// Where `text` comes from: `user` for the user's correction, else
    /// `<model> via <provider>` (`core::provenance::CaptionSource`).
    pub source: String,
    /// Whether the owner marked the captions as reviewed.
    pub reviewed: bool,
    /// The stored file's pixel size, for the COCO file; not a metadata column.
    #[serde(skip)]
    pub width: u32,
    #[serde(skip)]
    pub height: u32,
    /// Upload time (epoch milliseconds), the file's time in the archive.
    #[serde(skip)]
    pub created_ms: i64,
    #[serde(skip)]
    pub original: BlobKey,
}

impl DatasetRow {
    /// The row of a captioned record; `None` while it has no captions.
    fn of(record: &ImageRecord) -> Option<Self> {
        let (concise, creative) = record.shown_captions()?;
        let source = record.shown(CaptionKind::Concise)?.source.to_string();
        let (width, height) = record.stored_dimensions();
        Some(Self {
            file_name: record.file_name(),
            text: concise.to_owned(),
            concise: concise.to_owned(),
            creative: creative.to_owned(),
            source,
            reviewed: record.reviewed(),
            width,
            height,
            created_ms: record.created_ms,
            original: record.original_key(),
        })
    }
}

impl Engine {
    /// The stored original of one of the user's images with the captions the user sees (their
    /// corrections over the model's text) in its XMP: the concise one as the alt text, the
    /// creative one as the description, and the upload's EXIF orientation, which the stored
    /// original no longer carries. The image data is copied, never re-encoded. An image
    /// without captions yet (pending or failed) is a conflict: the download is for taking the
    /// captions along, and the original alone is at the image's URL.
    pub async fn captioned_original(
        &self,
        user: &UserId,
        id: ImageId,
    ) -> AppResult<CaptionedOriginal> {
        let record = self.get(user, id).await?;
        let Some((concise, creative)) = record.shown_captions() else {
            return Err(AppError::Conflict(match record.status {
                ImageStatus::Failed => {
                    "the image could not be captioned, so there are no captions to download \
                     with it; regenerate it first"
                }
                _ => "the image is not captioned yet; download it once its status is done",
            }));
        };
        let original = self.original(&record.original_key()).await?;
        let captions = XmpCaptions {
            alt_text: Some(concise.to_owned()),
            description: Some(creative.to_owned()),
            orientation: Some(record.orientation),
        };
        // The stored original passed the same walker at upload and the captions are held to
        // 125 and 600 characters, so neither a bad file nor an oversized packet can happen
        // here: a failure is ours.
        let bytes = sniff_format(&original)
            .map_err(anyhow::Error::from)
            .and_then(|format| Ok(embed_xmp(&original, format, &captions)?))
            .with_context(|| format!("writing the captions into {}", record.original_key()))?;
        Ok(CaptionedOriginal {
            bytes,
            content_type: record.content_type,
            file_name: record.file_name(),
        })
    }

    /// The rows of the user's dataset: their captioned images, oldest first (so an image's
    /// COCO id stays the same as the library grows).
    pub async fn dataset_rows(
        &self,
        user: &UserId,
        options: DatasetOptions,
    ) -> AppResult<Vec<DatasetRow>> {
        let mut records = self.all_records(user).await?;
        records.reverse();
        Ok(records
            .iter()
            .filter(|r| r.status == ImageStatus::Done)
            .filter_map(DatasetRow::of)
            .filter(|row| row.reviewed || !options.reviewed_only)
            .collect())
    }

    /// The stored original's bytes; `NotFound` when it is gone (deleted meanwhile).
    pub async fn original(&self, key: &BlobKey) -> AppResult<Vec<u8>> {
        self.ports
            .blobs
            .get(key)
            .await?
            .ok_or(AppError::NotFound("no such image"))
    }
}

/// The COCO captions file (`annotations/captions.json`).
#[derive(Debug, Serialize)]
pub struct CocoCaptions {
    pub info: CocoInfo,
    pub images: Vec<CocoImage>,
    pub annotations: Vec<CocoAnnotation>,
}

#[derive(Debug, Serialize)]
pub struct CocoInfo {
    pub description: &'static str,
    /// RFC 3339.
    pub date_created: String,
}

#[derive(Debug, Serialize)]
pub struct CocoImage {
    /// 1, 2, ... in the order of the rows.
    pub id: u64,
    /// In `train/`, as in `metadata.jsonl`.
    pub file_name: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Serialize)]
pub struct CocoAnnotation {
    pub id: u64,
    pub image_id: u64,
    pub caption: String,
}

/// The rows in the COCO captions format: each image with two annotations, its concise and its
/// creative caption (as shown to the user).
pub fn coco_captions(rows: &[DatasetRow]) -> CocoCaptions {
    let mut images = Vec::with_capacity(rows.len());
    let mut annotations = Vec::with_capacity(rows.len() * 2);
    for (image_id, row) in (1u64..).zip(rows) {
        images.push(CocoImage {
            id: image_id,
            file_name: row.file_name.clone(),
            width: row.width,
            height: row.height,
        });
        for caption in [&row.concise, &row.creative] {
            annotations.push(CocoAnnotation {
                id: annotations.len() as u64 + 1,
                image_id,
                caption: caption.clone(),
            });
        }
    }
    CocoCaptions {
        info: CocoInfo {
            description: "imgcap captions",
            date_created: rfc3339_ms(now_ms()),
        },
        images,
        annotations,
    }
}
