//! [`BlobStore`] on the local file system: `<data dir>/blobs/<key>`, with the S3 key layout.
//! Writes go to a temporary file that is synced and renamed into place, so a reader sees a
//! whole blob or none. Blobs are served only by [`routes`], through URLs signed with HMAC that
//! expire (the embedded counterpart of S3 presigned GETs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::private_files;
use crate::auth::signing::Signer;
use crate::core::domain::{BlobKey, UserId};
use crate::core::ports::{BlobStore, BoxFuture, PortResult, SignedUrl};
use crate::error::{AppError, AppResult};

pub struct FileBlobs {
    root: PathBuf,
    public_base_url: String,
    signer: Signer,
}

impl FileBlobs {
    pub fn new(root: PathBuf, public_base_url: String, signer: Signer) -> Self {
        Self {
            root,
            public_base_url,
            signer,
        }
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(".tmp")
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        self.signer.sign(&[key.as_bytes(), &expires.to_be_bytes()])
    }
}

/// The blob prefixes, each a directory of user directories.
const PREFIXES: [&str; 2] = ["originals", "thumbnails"];

/// The names in `dir`, sorted; none when it does not exist.
fn sorted_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Walks `<root>/<prefix>/<user>/<file>` in (prefix, user, file) order, skipping whole user
/// directories before `after`, so each page reads only what it returns (plus directory names).
fn list_files_written_before(
    root: &Path,
    written_before: i64,
    after: Option<&BlobKey>,
    limit: usize,
) -> anyhow::Result<Vec<BlobKey>> {
    let after: Option<Vec<&str>> = after.map(|key| key.as_str().split('/').collect());
    let after = after.as_ref().map(|parts| (parts[0], parts[1], parts[2]));
    let mut keys = Vec::new();
    for prefix in PREFIXES {
        for user in sorted_names(&root.join(prefix))? {
            if after.is_some_and(|(p, u, _)| (prefix, user.as_str()) < (p, u)) {
                continue;
            }
            let dir = root.join(prefix).join(&user);
            for name in sorted_names(&dir)? {
                if after.is_some_and(|after| (prefix, user.as_str(), name.as_str()) <= after) {
                    continue;
                }
                let Ok(key) = format!("{prefix}/{user}/{name}").parse::<BlobKey>() else {
                    continue;
                };
                let modified = std::fs::metadata(dir.join(&name))?.modified()?;
                let modified = modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                if modified < written_before {
                    keys.push(key);
                    if keys.len() == limit {
                        return Ok(keys);
                    }
                }
            }
        }
    }
    Ok(keys)
}

async fn remove_file_if_present(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

async fn remove_dir_if_present(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

impl BlobStore for FileBlobs {
    fn put<'a>(
        &'a self,
        key: &'a BlobKey,
        bytes: Vec<u8>,
        _content_type: &'static str,
    ) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let target = self.path(key);
            let parent = target.parent().expect("keys have a directory");
            private_files::create_dir_all_async(parent)
                .await
                .with_context(|| format!("cannot create {}", parent.display()))?;
            private_files::create_dir_all_async(&self.tmp_dir()).await?;
            let tmp = self.tmp_dir().join(ulid::Ulid::new().to_string());
            let written = async {
                let mut file = private_files::create_file(&tmp).await?;
                file.write_all(&bytes).await?;
                file.sync_all().await?;
                tokio::fs::rename(&tmp, &target).await
            }
            .await;
            if let Err(err) = written {
                // Best effort: the temporary name is never visible as a blob anyway.
                let _ = remove_file_if_present(&tmp).await;
                return Err(err).with_context(|| format!("cannot write blob {key}"));
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, PortResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            match tokio::fs::read(self.path(key)).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(err) => Err(err).with_context(|| format!("cannot read blob {key}")),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            remove_file_if_present(&self.path(key))
                .await
                .with_context(|| format!("cannot delete blob {key}"))
        })
    }

    fn list_written_before<'a>(
        &'a self,
        written_before: i64,
        after: Option<&'a BlobKey>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<BlobKey>>> {
        let (root, after) = (self.root.clone(), after.cloned());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                list_files_written_before(&root, written_before, after.as_ref(), limit)
            })
            .await
            .context("the blob listing was interrupted")?
            .with_context(|| format!("cannot list the blobs under {}", self.root.display()))
        })
    }

    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            for prefix in PREFIXES {
                let dir = self.root.join(prefix).join(user.as_str());
                remove_dir_if_present(&dir)
                    .await
                    .with_context(|| format!("cannot delete {}", dir.display()))?;
            }
            Ok(())
        })
    }

    fn signed_url<'a>(
        &'a self,
        key: &'a BlobKey,
        ttl: Duration,
    ) -> BoxFuture<'a, PortResult<SignedUrl>> {
        let expires_at = chrono::Utc::now().timestamp() + ttl.as_secs() as i64;
        let sig = self.signature(key.as_str(), expires_at);
        let url = format!(
            "{}/blobs/{key}?expires={expires_at}&sig={sig}",
            self.public_base_url
        );
        Box::pin(std::future::ready(Ok(SignedUrl { url, expires_at })))
    }

    fn check(&self) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            private_files::create_dir_all_async(&self.tmp_dir()).await?;
            let probe = self.tmp_dir().join(format!("probe-{}", ulid::Ulid::new()));
            tokio::fs::write(&probe, b"ok").await?;
            tokio::fs::remove_file(&probe).await?;
            Ok(())
        })
    }
}

#[derive(Deserialize)]
struct SignedQuery {
    expires: i64,
    sig: String,
}

/// `GET /blobs/{*key}?expires=..&sig=..`: 403 for a bad or expired signature, 404 for a blob
/// that is gone.
pub fn routes(blobs: Arc<FileBlobs>) -> Router {
    Router::new()
        .route("/blobs/{*key}", get(serve_blob))
        .with_state(blobs)
}

async fn serve_blob(
    State(blobs): State<Arc<FileBlobs>>,
    UrlPath(key): UrlPath<String>,
    query: Result<Query<SignedQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Ok(Query(query)) = query else {
        return Err(AppError::Forbidden("this link is not signed"));
    };
    if !blobs
        .signer
        .verify(&[key.as_bytes(), &query.expires.to_be_bytes()], &query.sig)
    {
        return Err(AppError::Forbidden("this link's signature is not valid"));
    }
    if chrono::Utc::now().timestamp() > query.expires {
        return Err(AppError::Forbidden("this link has expired"));
    }
    let key: BlobKey = key
        .parse()
        .map_err(|_| AppError::NotFound("no such image"))?;
    let bytes = blobs
        .get(&key)
        .await?
        .ok_or(AppError::NotFound("no such image"))?;
    let content_type = match imgcap_imaging::sniff_format(&bytes) {
        Ok(format) => format.mime_type(),
        Err(_) => "application/octet-stream",
    };
    let max_age = (query.expires - chrono::Utc::now().timestamp()).max(0);
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("private, max-age={max_age}"))
            .expect("digits are a valid header value"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
