//! [`BlobStore`] on S3: a private, versioned bucket encrypted with SSE-KMS; images are served
//! only through presigned GET URLs. Keys follow `infra/README_infra.md`
//! (`originals/<user>/<image>`, `thumbnails/<user>/<image>.jpg`, the [`BlobKey`] layout).
//!
//! The bucket keeps versions, so deleting means deleting every version and delete marker of a
//! key (`ListObjectVersions` + `DeleteObjects` with version ids); listing again finds whatever
//! an interrupted deletion left, so deletions can resume.

use std::time::Duration;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, ServerSideEncryption};
use aws_sdk_s3::Client;

use crate::core::domain::{BlobKey, UserId};
use crate::core::ports::{BlobStore, BoxFuture, PortResult, SignedUrl};

pub struct S3Blobs {
    client: Client,
    bucket: String,
    kms_key_arn: Option<String>,
    url_origin: String,
}

impl S3Blobs {
    /// Path-style addressing when the endpoint is overridden (an emulator has no per-bucket
    /// host names).
    pub fn new(sdk: &SdkConfig, bucket: String, kms_key_arn: Option<String>) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        let url_origin = match sdk.endpoint_url() {
            Some(endpoint) => origin_of(endpoint),
            None => {
                let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
                format!("https://{bucket}.s3.{region}.amazonaws.com")
            }
        };
        Self {
            client: Client::from_conf(config),
            bucket,
            kms_key_arn,
            url_origin,
        }
    }

    /// Scheme, host and port of the presigned URLs (the pages' CSP must allow images from it).
    pub fn url_origin(&self) -> String {
        self.url_origin.clone()
    }

    /// Deletes every version and delete marker under `prefix`; with `exact`, only those of
    /// the key `prefix` itself.
    async fn delete_versions(&self, prefix: &str, exact: bool) -> anyhow::Result<()> {
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .with_context(|| format!("cannot list the versions under {prefix}"))?;
            let versions = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    page.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                );
            let mut objects = Vec::new();
            for (key, version) in versions {
                let Some(key) = key.filter(|key| !exact || *key == prefix) else {
                    continue;
                };
                objects.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.map(str::to_owned))
                        .build()?,
                );
            }
            if !objects.is_empty() {
                let output = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(
                        Delete::builder()
                            .set_objects(Some(objects))
                            .quiet(true)
                            .build()?,
                    )
                    .send()
                    .await
                    .with_context(|| format!("cannot delete the versions under {prefix}"))?;
                if let Some(error) = output.errors().first() {
                    anyhow::bail!(
                        "cannot delete {} ({} more failed): {}",
                        error.key().unwrap_or("an object"),
                        output.errors().len() - 1,
                        error.message().unwrap_or("no reason given")
                    );
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }
}

impl BlobStore for S3Blobs {
    fn put<'a>(
        &'a self,
        key: &'a BlobKey,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let mut request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .content_type(content_type)
                .body(ByteStream::from(bytes));
            // Without an explicit key the bucket's default (SSE-KMS, the same key) applies.
            if let Some(arn) = &self.kms_key_arn {
                request = request
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(arn);
            }
            request
                .send()
                .await
                .with_context(|| format!("cannot write blob {key}"))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, PortResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            let output = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .send()
                .await
            {
                Ok(output) => output,
                Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                    return Ok(None)
                }
                Err(err) => return Err(err).with_context(|| format!("cannot read blob {key}")),
            };
            let bytes = output
                .body
                .collect()
                .await
                .with_context(|| format!("cannot read blob {key}"))?;
            Ok(Some(bytes.to_vec()))
        })
    }

    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(self.delete_versions(key.as_str(), true))
    }

    /// Lists each prefix on its own: the task role may list only `originals/*` and
    /// `thumbnails/*`, not the bucket's root.
    fn list_written_before<'a>(
        &'a self,
        written_before: i64,
        after: Option<&'a BlobKey>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<BlobKey>>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            for prefix in ["originals/", "thumbnails/"] {
                // Keys sort by prefix first: a page that ended in thumbnails has no originals left.
                let start_after = match after.map(BlobKey::as_str) {
                    Some(key) if key.starts_with(prefix) => Some(key.to_owned()),
                    Some(key) if key > prefix => continue,
                    _ => None,
                };
                let mut pages = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_start_after(start_after)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page =
                        page.with_context(|| format!("cannot list the blobs under {prefix}"))?;
                    for object in page.contents() {
                        let written = object.last_modified().map_or(i64::MAX, |t| t.secs());
                        let Some(key) = object.key().and_then(|k| k.parse::<BlobKey>().ok()) else {
                            continue;
                        };
                        if written < written_before {
                            keys.push(key);
                            if keys.len() == limit {
                                return Ok(keys);
                            }
                        }
                    }
                }
            }
            Ok(keys)
        })
    }

    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            for prefix in ["originals", "thumbnails"] {
                self.delete_versions(&format!("{prefix}/{user}/"), false)
                    .await?;
            }
            Ok(())
        })
    }

    fn signed_url<'a>(
        &'a self,
        key: &'a BlobKey,
        ttl: Duration,
    ) -> BoxFuture<'a, PortResult<SignedUrl>> {
        Box::pin(async move {
            let expires_at = chrono::Utc::now().timestamp() + ttl.as_secs() as i64;
            let presigned = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .presigned(PresigningConfig::expires_in(ttl)?)
                .await
                .with_context(|| format!("cannot presign a URL for {key}"))?;
            Ok(SignedUrl {
                url: presigned.uri().to_owned(),
                expires_at,
            })
        })
    }

    /// Lists one key of the originals prefix: the role may list only the two prefixes.
    fn check(&self) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            self.client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix("originals/")
                .max_keys(1)
                .send()
                .await
                .with_context(|| format!("cannot reach the bucket {}", self.bucket))?;
            Ok(())
        })
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    url[..end].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_drop_the_path() {
        assert_eq!(
            super::origin_of("http://127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            super::origin_of("https://s3.example/base/"),
            "https://s3.example"
        );
    }
}
