//! The ports: what the domain needs from the world. Each has an embedded adapter
//! (`crate::adapters::embedded`) and will get an AWS one.
//!
//! The traits are object-safe (methods return a boxed future) and used as `Arc<dyn Port>`:
//! adapters are chosen at run time from the configuration, and the captioner chain holds a list
//! of different providers, so static generics would only push a type parameter per port through
//! every handler without removing the choice at run time. One allocation per call is nothing
//! next to a database or network round trip.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::core::domain::{
    BlobKey, CaptionEdits, CaptionResult, ImageId, ImageLabel, ImageRecord, ImageStatus, Principal,
    Sha256, UserId,
};
use crate::core::provenance::Provenance;
use crate::core::search::{SearchAfter, SearchHit, SearchQuery};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type PortResult<T> = anyhow::Result<T>;

/// Private storage of originals and thumbnails, readable only through short-lived URLs.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key` atomically: readers see the whole blob or none.
    fn put<'a>(
        &'a self,
        key: &'a BlobKey,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> BoxFuture<'a, PortResult<()>>;
    /// `None` when there is no such blob.
    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, PortResult<Option<Vec<u8>>>>;
    /// Removes the blob; removing a missing blob is not an error.
    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, PortResult<()>>;
    /// Up to `limit` keys of blobs last written before `written_before` (epoch seconds), in
    /// the adapter's key order, continuing after `after` (the last key of the previous page);
    /// fewer than `limit` means the listing is complete. Objects that are not blob keys are
    /// skipped.
    fn list_written_before<'a>(
        &'a self,
        written_before: i64,
        after: Option<&'a BlobKey>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<BlobKey>>>;
    /// Removes every blob of the user (both prefixes); idempotent.
    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>>;
    /// A URL that serves the blob until `ttl` has passed. Asynchronous because presigning
    /// may have to resolve credentials first (S3).
    fn signed_url<'a>(
        &'a self,
        key: &'a BlobKey,
        ttl: Duration,
    ) -> BoxFuture<'a, PortResult<SignedUrl>>;
    /// Whether the store is reachable and writable.
    fn check(&self) -> BoxFuture<'_, PortResult<()>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    pub url: String,
    /// Epoch seconds.
    pub expires_at: i64,
}

/// A new record, or the user's existing record with the same bytes.
#[derive(Debug)]
pub enum Inserted {
    New,
    Duplicate(Box<ImageRecord>),
}

/// One day of activity for the admin figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub uploads: u64,
    pub captions: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordStats {
    pub per_day: Vec<DayCount>,
    pub by_status: Vec<(ImageStatus, u64)>,
    /// Caption latencies (ms) per provider, for percentiles.
    pub latencies: Vec<(String, Vec<u64>)>,
}

/// Image records, history, and user-deletion markers.
pub trait CaptionRepo: Send + Sync {
    /// Writes a `pending` record unless the user already has one with the same SHA-256.
    fn insert_pending<'a>(&'a self, record: &'a ImageRecord)
        -> BoxFuture<'a, PortResult<Inserted>>;
    fn find_by_sha256<'a>(
        &'a self,
        user: &'a UserId,
        sha256: Sha256,
    ) -> BoxFuture<'a, PortResult<Option<ImageRecord>>>;
    fn get<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
    ) -> BoxFuture<'a, PortResult<Option<ImageRecord>>>;
    /// Newest first, strictly older than `before` when given.
    fn list<'a>(
        &'a self,
        user: &'a UserId,
        before: Option<ImageId>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<ImageRecord>>>;
    /// The user's records that match `query` (every word begins a word of the shown captions
    /// or the labels, `crate::core::search`), best first: rank descending, then newest first;
    /// strictly after `after` when given; at most `limit`. A query without words finds nothing.
    fn search<'a>(
        &'a self,
        user: &'a UserId,
        query: &'a SearchQuery,
        after: Option<SearchAfter>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<SearchHit>>>;
    /// Sets `done` with the result and the provenance that follows from it; `false` when the
    /// record is gone.
    fn complete<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        result: &'a CaptionResult,
        provenance: &'a Provenance,
    ) -> BoxFuture<'a, PortResult<bool>>;
    /// Sets `failed` with a reason a person can read.
    fn fail<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        reason: &'a str,
    ) -> BoxFuture<'a, PortResult<bool>>;
    /// Stores the user's corrections (`None`: none) and the provenance that follows from them
    /// on a `done` record last updated at `seen_updated_ms`; `false` when there is no such
    /// record (gone, recaptioned or changed by another request meanwhile), so no change is
    /// lost to a concurrent one.
    fn set_edits<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        edits: Option<&'a CaptionEdits>,
        provenance: &'a Provenance,
        seen_updated_ms: i64,
    ) -> BoxFuture<'a, PortResult<bool>>;
    /// Sets a `done` or `failed` record back to `pending`, dropping the model's captions; the
    /// user's corrections and the provenance stay. `false` when there is no such record or it
    /// is already pending.
    fn reset_for_recaption<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
    ) -> BoxFuture<'a, PortResult<bool>>;
    /// Sets up to `limit` failed records back to `pending` and returns their keys.
    fn reset_failed(&self, limit: usize) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>>;
    /// `false` when there was no such record.
    fn delete<'a>(&'a self, user: &'a UserId, id: ImageId) -> BoxFuture<'a, PortResult<bool>>;
    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<u64>>;
    /// Records whose retention ended before `now_secs`, at most `limit`.
    fn expired(
        &self,
        now_secs: i64,
        limit: usize,
    ) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>>;
    fn stats(&self, since_ms: i64) -> BoxFuture<'_, PortResult<RecordStats>>;
    /// Marks the user's data deletion as started (kept until [`Self::end_user_deletion`]).
    fn begin_user_deletion<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>>;
    fn end_user_deletion<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>>;
    /// Deletions that started and did not finish (a crash midway).
    fn unfinished_user_deletions(&self) -> BoxFuture<'_, PortResult<Vec<UserId>>>;
    fn check(&self) -> BoxFuture<'_, PortResult<()>>;
}

/// A caption job: which image, and the request that created it (for log correlation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionJob {
    pub user: UserId,
    pub image: ImageId,
    pub request_id: String,
    /// The W3C `traceparent` of the span that queued the job, so the job's span joins that
    /// request's trace; `None` when traces are not exported.
    pub traceparent: Option<String>,
}

impl CaptionJob {
    /// A job queued from the current span (its trace continues in the worker).
    pub fn new(user: UserId, image: ImageId, request_id: &str) -> Self {
        Self {
            user,
            image,
            request_id: request_id.to_owned(),
            traceparent: imgcap_common::server::current_traceparent(),
        }
    }
}

/// A received job, hidden from other workers until its visibility timeout passes.
#[derive(Debug, Clone)]
pub struct Lease {
    pub job: CaptionJob,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    /// Proves the holder's lease when acknowledging; a stale holder's receipt is refused.
    pub receipt: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// Jobs a worker may take now.
    pub ready: u64,
    /// Jobs being worked on or waiting for a retry.
    pub in_flight: u64,
    /// Jobs that ran out of attempts (the dead-letter queue).
    pub dead: u64,
    /// Jobs put back with [`JobQueue::defer`] (no captioner could take them) and not finished
    /// since; counted in `ready` or `in_flight` too.
    pub waiting_for_captioner: u64,
}

/// Durable at-least-once queue of caption jobs with a dead-letter state.
pub trait JobQueue: Send + Sync {
    /// Queues the job; queueing a job the image already has (queued or dead-lettered) resets
    /// it to a fresh, visible job.
    fn enqueue<'a>(&'a self, job: &'a CaptionJob) -> BoxFuture<'a, PortResult<()>>;
    /// The next visible job, hidden for `visibility` from now on.
    fn receive(&self, visibility: Duration) -> BoxFuture<'_, PortResult<Option<Lease>>>;
    /// The job is finished: remove it.
    fn ack<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, PortResult<()>>;
    /// Try again after `delay`.
    fn retry_later<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
    ) -> BoxFuture<'a, PortResult<()>>;
    /// No captioner could take the job: deliver it again after `delay` without counting this
    /// delivery, so the next one has the same `attempts` as this one. It may be deferred any
    /// number of times.
    fn defer<'a>(&'a self, lease: &'a Lease, delay: Duration) -> BoxFuture<'a, PortResult<()>>;
    /// Attempts are spent: move the job to the dead-letter state; it is not received again.
    fn dead_letter<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, PortResult<()>>;
    /// Removes every job not dead-lettered and returns their images.
    fn flush(&self) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>>;
    fn remove<'a>(&'a self, user: &'a UserId, image: ImageId) -> BoxFuture<'a, PortResult<()>>;
    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>>;
    fn depth(&self) -> BoxFuture<'_, PortResult<QueueDepth>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after: Duration },
}

/// Per-user token buckets, each refilled continuously at `per_hour` tokens an hour and holding
/// at most that many.
///
/// There is no way to delete a user's buckets: they are not the user's data but the service's
/// record of what the user spent, and "delete all my data" must not refill them (that would
/// turn the hourly limits into no limit). A bucket left alone for an hour is full again, so
/// adapters may drop such buckets by themselves.
pub trait RateLimiter: Send + Sync {
    /// Takes one token from the user's `bucket` of `per_hour` tokens an hour. A bucket name has
    /// one rate: callers pass the same `per_hour` for it every time.
    fn acquire<'a>(
        &'a self,
        user: &'a UserId,
        bucket: &'a str,
        per_hour: u32,
    ) -> BoxFuture<'a, PortResult<RateDecision>>;
}

/// The signing-key secret (signed URLs, history cursors, sessions), in both modes.
pub const SIGNING_KEY_SECRET: &str = "signing-key";
/// The Hugging Face API key secret, in both modes.
pub const HF_API_KEY_SECRET: &str = "hf-api-key";

/// Named secrets (signing keys, API keys).
pub trait Secrets: Send + Sync {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, PortResult<Vec<u8>>>;
}

/// A signed-in browser session, as stored server-side. The cookie holds only a random id; the
/// store is keyed by the id's SHA-256, so a leaked table holds no usable cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub principal: Principal,
    pub created_ms: i64,
    pub last_seen_ms: i64,
}

/// Server-side sessions of the web pages, whichever identity provider signed the user in.
pub trait SessionStore: Send + Sync {
    fn insert<'a>(
        &'a self,
        id_sha256: &'a str,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, PortResult<()>>;
    fn find<'a>(&'a self, id_sha256: &'a str) -> BoxFuture<'a, PortResult<Option<SessionRecord>>>;
    fn touch<'a>(&'a self, id_sha256: &'a str, now_ms: i64) -> BoxFuture<'a, PortResult<()>>;
    fn remove<'a>(&'a self, id_sha256: &'a str) -> BoxFuture<'a, PortResult<()>>;
    /// Removes sessions idle since before `idle_before_ms` or created before
    /// `created_before_ms`.
    fn remove_expired(
        &self,
        idle_before_ms: i64,
        created_before_ms: i64,
    ) -> BoxFuture<'_, PortResult<()>>;
}

/// A personal API token, as stored: whose it is, and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub principal: Principal,
    pub created_ms: i64,
    /// When it stops working (`api_tokens.lifetime_days`); `None`: never.
    pub expires_ms: Option<i64>,
}

/// Personal API tokens, keyed by the SHA-256 (hex) of the token: never the token itself.
pub trait TokenStore: Send + Sync {
    fn insert<'a>(
        &'a self,
        token_sha256: &'a str,
        token: &'a TokenRecord,
    ) -> BoxFuture<'a, PortResult<()>>;
    fn find<'a>(&'a self, token_sha256: &'a str) -> BoxFuture<'a, PortResult<Option<TokenRecord>>>;
    /// The user's tokens, in no particular order.
    fn list<'a>(
        &'a self,
        user: &'a UserId,
    ) -> BoxFuture<'a, PortResult<Vec<(String, TokenRecord)>>>;
    /// Removes one of the user's tokens; `false` when the user has no such token.
    fn remove<'a>(
        &'a self,
        user: &'a UserId,
        token_sha256: &'a str,
    ) -> BoxFuture<'a, PortResult<bool>>;
}

/// Turns a bearer token into a user.
pub trait Authenticator: Send + Sync {
    /// `None` for an unknown or revoked token.
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, PortResult<Option<Principal>>>;
}

/// Finds labels in an image before it is captioned (Rekognition `DetectLabels`).
pub trait Labeler: Send + Sync {
    /// `image` is the stored original; `key` names it in the blob store, for a labeler that
    /// reads the stored object itself.
    fn detect<'a>(
        &'a self,
        image: &'a [u8],
        key: &'a BlobKey,
    ) -> BoxFuture<'a, PortResult<Vec<ImageLabel>>>;
}

/// What a captioner gets for one image.
#[derive(Debug, Clone, Copy)]
pub struct CaptionInput<'a> {
    /// The stored original (JPEG or PNG bytes).
    pub image: &'a [u8],
    /// The id of the upload's request, for the provider's logs.
    pub request_id: &'a str,
    /// Labels found beforehand; empty when labels are off or failed.
    pub labels: &'a [ImageLabel],
}

/// Captions from one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderCaptions {
    pub concise: crate::core::domain::ScoredCaption,
    pub creative: crate::core::domain::ScoredCaption,
    pub model: String,
}

/// Why a provider gave no captions. The difference decides what a caption job does next: a
/// rejection belongs to the image and spends one of its attempts; an unavailable provider says
/// nothing about the image, so when no provider is available the job waits without spending
/// any (`Engine::process_job`).
#[derive(Debug, thiserror::Error)]
pub enum CaptionError {
    /// The provider could not answer now: connection refused, timeout, 5xx, 408/429, an answer
    /// that is not what the contract promises, a model still loading.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    /// The provider answered about this image and refused it: a 4xx on it, an image it cannot
    /// decode, captions with no words in them.
    #[error("{0:#}")]
    Rejected(anyhow::Error),
}

/// `?` on an `anyhow` error: the provider is unavailable unless it said otherwise.
impl From<anyhow::Error> for CaptionError {
    fn from(err: anyhow::Error) -> Self {
        Self::Unavailable(err)
    }
}

impl CaptionError {
    /// The image itself was refused (a problem a retry elsewhere would not solve).
    pub fn rejected(err: impl Into<anyhow::Error>) -> Self {
        Self::Rejected(err.into())
    }

    /// The same classification, with `what` said first.
    pub fn context(self, what: &'static str) -> Self {
        match self {
            Self::Unavailable(err) => Self::Unavailable(err.context(what)),
            Self::Rejected(err) => Self::Rejected(err.context(what)),
        }
    }

    /// `HTTP {status} ({detail})`: a 4xx other than 408 (timeout) and 429 (overloaded) is about
    /// the request, so about the image; everything else is the provider's state.
    pub fn from_status(status: u16, detail: &str) -> Self {
        let err = anyhow::anyhow!("HTTP {status} ({detail})");
        match status {
            408 | 429 => Self::Unavailable(err),
            400..=499 => Self::Rejected(err),
            _ => Self::Unavailable(err),
        }
    }
}

/// Whether a provider can take calls at all, whatever its circuit says.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderState {
    Ready,
    /// Not ready yet (the embedded model downloading or loading its weights); `percent` of the
    /// download when known.
    Loading {
        phase: &'static str,
        percent: Option<f64>,
    },
    /// It cannot start (the embedded model could not be fetched or loaded).
    Failed {
        message: String,
    },
}

/// One captioner of the chain (`embedded`, `endpoint`, `sagemaker`, `bedrock`, `hf`).
pub trait CaptionProvider: Send + Sync {
    /// The chain entry's name, stored with the result.
    fn name(&self) -> &'static str;
    fn caption<'a>(
        &'a self,
        input: CaptionInput<'a>,
    ) -> BoxFuture<'a, Result<ProviderCaptions, CaptionError>>;
    /// The chain skips a provider that is not [`ProviderState::Ready`] without calling it or
    /// counting a failure against its circuit. Remote providers are always ready here; their
    /// circuit tells whether they answer.
    fn state(&self) -> ProviderState {
        ProviderState::Ready
    }
}
