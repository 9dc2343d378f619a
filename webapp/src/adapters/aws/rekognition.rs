//! [`Labeler`] on Rekognition `DetectLabels`: the stored S3 object when the blobs live in S3
//! (no bytes travel through the app, and the 5 MB limit of inline images does not apply), the
//! image bytes otherwise (embedded blob store).

use aws_sdk_rekognition::error::DisplayErrorContext;
use aws_sdk_rekognition::primitives::Blob;
use aws_sdk_rekognition::types::{Image, S3Object};

use crate::core::domain::{BlobKey, ImageLabel};
use crate::core::ports::{BoxFuture, Labeler, PortResult};

/// The largest image `DetectLabels` accepts inline.
const MAX_INLINE_BYTES: usize = 5 * 1024 * 1024;

pub struct RekognitionLabeler {
    client: aws_sdk_rekognition::Client,
    /// The bucket of the S3 blob store; `None` sends the bytes.
    s3_bucket: Option<String>,
    max_labels: i32,
    /// Percent.
    min_confidence: f32,
}

impl RekognitionLabeler {
    pub fn new(
        client: aws_sdk_rekognition::Client,
        s3_bucket: Option<String>,
        max_labels: u32,
        min_confidence: u32,
    ) -> Self {
        Self {
            client,
            s3_bucket,
            max_labels: max_labels.try_into().unwrap_or(i32::MAX),
            min_confidence: min_confidence as f32,
        }
    }
}

impl Labeler for RekognitionLabeler {
    fn detect<'a>(
        &'a self,
        image: &'a [u8],
        key: &'a BlobKey,
    ) -> BoxFuture<'a, PortResult<Vec<ImageLabel>>> {
        Box::pin(async move {
            let source = match &self.s3_bucket {
                Some(bucket) => Image::builder().s3_object(
                    S3Object::builder()
                        .bucket(bucket)
                        .name(key.as_str())
                        .build(),
                ),
                None => {
                    anyhow::ensure!(
                        image.len() <= MAX_INLINE_BYTES,
                        "the image ({} bytes) is over the 5 MB DetectLabels accepts inline",
                        image.len()
                    );
                    Image::builder().bytes(Blob::new(image))
                }
            };
            let output = self
                .client
                .detect_labels()
                .image(source.build())
                .max_labels(self.max_labels)
                .min_confidence(self.min_confidence)
                .send()
                .await
                .map_err(|err| {
                    anyhow::anyhow!("DetectLabels failed: {}", DisplayErrorContext(err))
                })?;
            let mut labels: Vec<ImageLabel> = output
                .labels()
                .iter()
                .filter_map(|label| {
                    Some(ImageLabel {
                        name: label.name()?.to_owned(),
                        confidence: label.confidence()?,
                    })
                })
                .collect();
            labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
            labels.truncate(self.max_labels as usize);
            Ok(labels)
        })
    }
}
