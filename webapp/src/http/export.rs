//! Taking images along, over HTTP: an original with its captions in its XMP, and the dataset
//! ZIP streamed to the client as it is written. The REST operations are here; the pages serve
//! the same answers through [`download_response`] and [`dataset_response`].
//!
//! The dataset ZIP is never whole in memory: a task writes it entry by entry (stored, no
//! compression: JPEG and PNG do not shrink) into a channel of at most [`CHANNEL_FRAMES`] frames
//! of at most [`FRAME_BYTES`] each, and the connection takes them from there; the task waits
//! while the client is slow. What the server holds per export is one original at a time (at
//! most the upload limit), the frames in flight (256 KiB), the user's records and their
//! caption text (as the JSON and CSV exports hold), and the ZIP's central directory (about a
//! hundred bytes per file, written last).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use http_body_util::channel::{Channel, Sender};
use serde::Deserialize;
use utoipa::IntoParams;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use super::api::parse_id;
use super::auth::Caller;
use super::AppState;
use crate::core::domain::now_ms;
use crate::core::engine::{coco_captions, CaptionedOriginal, DatasetOptions, DatasetRow, Engine};
use crate::error::{ApiErrorBody, AppError, AppResult};

/// The largest piece of the ZIP handed to the connection at once.
pub const FRAME_BYTES: usize = 64 * 1024;
/// Frames written and not yet taken by the connection, at most.
pub const CHANNEL_FRAMES: usize = 4;

/// A download answer: `Content-Disposition: attachment` with `file_name`, never cached.
pub fn attachment(content_type: &str, file_name: &str, body: impl Into<Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body.into(),
    )
        .into_response()
}

pub fn download_response(original: CaptionedOriginal) -> Response {
    attachment(original.content_type, &original.file_name, original.bytes)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DatasetQuery {
    /// Only images whose captions a person reviewed (default `false`).
    pub reviewed_only: Option<bool>,
}

impl DatasetQuery {
    pub fn options(&self) -> DatasetOptions {
        DatasetOptions {
            reviewed_only: self.reviewed_only.unwrap_or(false),
        }
    }
}

/// The dataset ZIP of `rows`, written while it is sent. The rows are read before the answer
/// starts, so a failure to list them is still a proper error answer; a failure later (a blob
/// store error) can only cut the transfer short, which the client sees as an incomplete body
/// rather than as a ZIP that looks whole.
pub fn dataset_response(engine: Arc<Engine>, rows: Vec<DatasetRow>) -> Response {
    let (sender, body) = Channel::<Bytes, io::Error>::new(CHANNEL_FRAMES);
    tokio::spawn(async move {
        let mut zip = ZipStream::new(sender);
        let written = match write_dataset(&engine, &mut zip, rows).await {
            Ok(()) => zip.finish().await,
            Err(Stop::Failed(err)) => {
                zip.abort();
                Err(Stop::Failed(err))
            }
            Err(Stop::ClientGone) => Err(Stop::ClientGone),
        };
        match written {
            Ok(()) => {}
            Err(Stop::ClientGone) => tracing::info!("the client left during the dataset export"),
            Err(Stop::Failed(err)) => {
                tracing::error!(error = ?err, "the dataset export failed midway");
            }
        }
    });
    attachment("application/zip", "imgcap-dataset.zip", Body::new(body))
}

/// Images first, then the files that list them, so an image deleted while the export runs is
/// left out of the lists as well.
async fn write_dataset(
    engine: &Engine,
    zip: &mut ZipStream,
    rows: Vec<DatasetRow>,
) -> Result<(), Stop> {
    let mut written = Vec::with_capacity(rows.len());
    for row in rows {
        let bytes = match engine.original(&row.original).await {
            Ok(bytes) => bytes,
            Err(AppError::NotFound(_)) => continue,
            Err(err) => return Err(Stop::Failed(err.into())),
        };
        let name = format!("train/{}", row.file_name);
        zip.file(&name, row.created_ms, &bytes).await?;
        written.push(row);
    }
    let mut metadata = Vec::new();
    for row in &written {
        serde_json::to_writer(&mut metadata, row).map_err(failed)?;
        metadata.push(b'\n');
    }
    let now = now_ms();
    zip.file("train/metadata.jsonl", now, &metadata).await?;
    let coco = serde_json::to_vec_pretty(&coco_captions(&written)).map_err(failed)?;
    zip.file("annotations/captions.json", now, &coco).await
}

/// Why writing the ZIP stopped early.
#[derive(Debug)]
enum Stop {
    /// The connection is gone: nothing to report to anyone.
    ClientGone,
    Failed(anyhow::Error),
}

fn failed(err: impl Into<anyhow::Error>) -> Stop {
    Stop::Failed(err.into())
}

/// The bytes the ZIP writer produced that are not sent yet.
#[derive(Clone, Default)]
struct Produced(Arc<Mutex<Vec<u8>>>);

impl Produced {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("the buffer's lock is never poisoned"))
    }
}

impl Write for Produced {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .expect("the buffer's lock is never poisoned")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A ZIP written into a response body as it goes: after every [`FRAME_BYTES`] of a file the
/// produced bytes are sent, waiting while the channel is full.
struct ZipStream {
    zip: ZipWriter<StreamWriter<Produced>>,
    produced: Produced,
    sender: Sender<Bytes, io::Error>,
}

impl ZipStream {
    fn new(sender: Sender<Bytes, io::Error>) -> Self {
        let produced = Produced::default();
        Self {
            zip: ZipWriter::new_stream(produced.clone()),
            produced,
            sender,
        }
    }

    /// One stored file, dated `modified_ms` (epoch milliseconds, UTC).
    async fn file(&mut self, name: &str, modified_ms: i64, bytes: &[u8]) -> Result<(), Stop> {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(zip_time(modified_ms))
            .unix_permissions(0o644);
        self.zip.start_file(name, options).map_err(failed)?;
        for piece in bytes.chunks(FRAME_BYTES) {
            self.zip.write_all(piece).map_err(failed)?;
            send(&self.produced, &mut self.sender).await?;
        }
        Ok(())
    }

    /// The last file's data descriptor and the central directory.
    async fn finish(self) -> Result<(), Stop> {
        let Self {
            zip,
            produced,
            mut sender,
        } = self;
        if let Err(err) = zip.finish() {
            abort(sender);
            return Err(failed(err));
        }
        send(&produced, &mut sender).await
    }

    fn abort(self) {
        abort(self.sender);
    }
}

/// Ends the body with an error: the client's transfer breaks off instead of ending as if the
/// ZIP were whole.
fn abort(sender: Sender<Bytes, io::Error>) {
    sender.abort(io::Error::other("the dataset export failed midway"));
}

async fn send(produced: &Produced, sender: &mut Sender<Bytes, io::Error>) -> Result<(), Stop> {
    let bytes = Bytes::from(produced.take());
    for start in (0..bytes.len()).step_by(FRAME_BYTES) {
        let frame = bytes.slice(start..bytes.len().min(start + FRAME_BYTES));
        sender
            .send_data(frame)
            .await
            .map_err(|_| Stop::ClientGone)?;
    }
    Ok(())
}

/// A ZIP entry's time (local time in the format; we write UTC). Before 1980 the format cannot
/// say, and the earliest time it can is used.
fn zip_time(ms: i64) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let time = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    u16::try_from(time.year())
        .ok()
        .and_then(|year| {
            zip::DateTime::from_date_and_time(
                year,
                time.month() as u8,
                time.day() as u8,
                time.hour() as u8,
                time.minute() as u8,
                time.second() as u8,
            )
            .ok()
        })
        .unwrap_or_default()
}

/// One of the caller's images, the stored original with its captions written into its XMP
/// metadata: the concise caption as the IPTC alt text (`Iptc4xmpCore:AltTextAccessibility`),
/// the creative one as `dc:description`, your corrections over the model's text. The image
/// data is not re-encoded.
#[utoipa::path(get, path = "/api/v1/images/{id}/download", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ULID")),
    responses(
        (status = 200, description = "The original as an attachment, with its captions in its XMP",
            content(("image/jpeg"), ("image/png"))),
        (status = 400, description = "Not a ULID", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 404, description = "No such image of the caller", body = ApiErrorBody),
        (status = 409, description = "The image has no captions (pending or failed)", body = ApiErrorBody),
    ))]
pub async fn download_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let original = state
        .engine
        .captioned_original(&caller.user, parse_id(&id)?)
        .await?;
    Ok(download_response(original))
}

/// The caller's captioned images as a fine-tuning dataset, a ZIP streamed as it is written:
/// `train/<image>` files and `train/metadata.jsonl` in the Hugging Face `imagefolder` layout
/// (`file_name`, `text` = the final concise caption, `concise`, `creative`, `source`,
/// `reviewed`), and `annotations/captions.json` in the COCO captions format (one annotation
/// per caption). Only images whose status is `done`.
#[utoipa::path(get, path = "/api/v1/export/dataset", tag = "images", security(("bearer" = [])),
    params(DatasetQuery),
    responses(
        (status = 200, description = "The dataset as a ZIP attachment", content_type = "application/zip"),
        (status = 400, description = "`reviewed_only` is not `true` or `false`", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
    ))]
pub async fn export_dataset(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<DatasetQuery>, QueryRejection>,
) -> AppResult<Response> {
    let Query(query) = query.map_err(|e| AppError::bad_request("invalid_query", e.body_text()))?;
    let rows = state
        .engine
        .dataset_rows(&caller.user, query.options())
        .await?;
    Ok(dataset_response(state.engine.clone(), rows))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn the_zip_leaves_in_frames_no_larger_than_a_frame_and_is_whole() {
        let (sender, mut body) = Channel::<Bytes, io::Error>::new(CHANNEL_FRAMES);
        let files: Vec<(String, Vec<u8>)> = (0..3u8)
            .map(|i| {
                let bytes = (0..300_000u32).map(|b| (b as u8) ^ i).collect();
                (format!("train/{i}.jpg"), bytes)
            })
            .collect();
        let expected = files.clone();
        let writer = tokio::spawn(async move {
            let mut zip = ZipStream::new(sender);
            for (name, bytes) in &files {
                zip.file(name, 1_700_000_000_000, bytes).await.unwrap();
            }
            zip.file("train/empty.txt", 0, b"").await.unwrap();
            zip.finish().await.unwrap();
        });
        let mut archive = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= FRAME_BYTES, "a frame of {} bytes", data.len());
            frames += 1;
            archive.extend_from_slice(&data);
        }
        writer.await.unwrap();
        assert!(frames >= 900_000 / FRAME_BYTES, "{frames} frames");

        let mut zip = zip::ZipArchive::new(io::Cursor::new(archive)).unwrap();
        assert_eq!(zip.len(), 4);
        for (name, bytes) in &expected {
            let mut file = zip.by_name(name).unwrap();
            assert_eq!(file.compression(), CompressionMethod::Stored);
            let mut read = Vec::new();
            file.read_to_end(&mut read).unwrap();
            assert_eq!(&read, bytes, "{name}");
        }
        let mut file = zip.by_name("train/0.jpg").unwrap();
        let modified = file.last_modified().unwrap();
        assert_eq!((modified.year(), modified.month()), (2023, 11));
        drop(file.read_to_end(&mut Vec::new()));
    }

    #[tokio::test]
    async fn an_export_failing_midway_breaks_the_body_off() {
        let (sender, mut body) = Channel::<Bytes, io::Error>::new(CHANNEL_FRAMES);
        tokio::spawn(async move {
            let mut zip = ZipStream::new(sender);
            zip.file("train/a.jpg", 0, &[1; 1000]).await.unwrap();
            zip.abort();
        });
        let mut received = 0;
        let ended_with = loop {
            match body.frame().await {
                Some(Ok(frame)) => received += frame.into_data().unwrap().len(),
                other => break other,
            }
        };
        assert!(received > 1000, "what was written before still arrives");
        assert!(
            matches!(ended_with, Some(Err(_))),
            "the body ended as if complete"
        );
    }

    #[test]
    fn zip_times_before_1980_take_the_earliest_the_format_has() {
        assert_eq!(zip_time(0), zip::DateTime::default());
        let time = zip_time(1_700_000_000_000); // 2023-11-14T22:13:20Z
        assert_eq!(
            (time.year(), time.month(), time.day(), time.hour()),
            (2023, 11, 14, 22)
        );
    }
}
