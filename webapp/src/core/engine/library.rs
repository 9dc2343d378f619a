//! A user's images: one record, signed URLs, the history pages, caption corrections,
//! regeneration and the full export.

use crate::core::domain::{now_ms, CaptionEdits, ImageId, ImageRecord, ImageStatus, UserId};
use crate::core::ports::{CaptionJob, RateDecision, SignedUrl};
use crate::core::provenance::{CaptionKind, UserChange};
use crate::error::{AppError, AppResult};

use super::Engine;

/// A user's change of a captioned image; `None` leaves a caption unchanged, an empty text
/// removes the correction (back to the model's text, which is how a suggestion is taken).
#[derive(Debug, Default, Clone)]
pub struct CaptionChange {
    pub concise: Option<String>,
    pub creative: Option<String>,
    /// Sets (`true`) or removes (`false`) the review mark.
    pub reviewed: Option<bool>,
}

/// Trims a corrected caption and holds it to the same length rules as the model's.
fn checked_caption(text: String, kind: CaptionKind) -> AppResult<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (words, chars, rule) = match kind {
        CaptionKind::Concise => (
            10,
            imgcap_common::caption::CONCISE_MAX_CHARS,
            "the concise caption must be at most 10 words and 125 characters (it is alt text)",
        ),
        CaptionKind::Creative => (
            80,
            600,
            "the creative caption must be at most 600 characters (one or two sentences)",
        ),
    };
    if text.split(' ').count() > words || text.chars().count() > chars {
        return Err(AppError::bad_request("invalid_caption", rule));
    }
    Ok(text)
}

impl Engine {
    pub async fn get(&self, user: &UserId, id: ImageId) -> AppResult<ImageRecord> {
        self.ports
            .repo
            .get(user, id)
            .await?
            .ok_or(AppError::NotFound("no such image"))
    }

    /// Short-lived URLs of the original and the thumbnail.
    pub async fn urls(&self, record: &ImageRecord) -> AppResult<(SignedUrl, SignedUrl)> {
        let ttl = self.settings.url_ttl;
        let (original, thumbnail) = (record.original_key(), record.thumbnail_key());
        let (original, thumbnail) = tokio::try_join!(
            self.ports.blobs.signed_url(&original, ttl),
            self.ports.blobs.signed_url(&thumbnail, ttl),
        )?;
        Ok((original, thumbnail))
    }

    /// One page of history, newest first, and the cursor of the next page.
    pub async fn list(
        &self,
        user: &UserId,
        cursor: Option<&str>,
        limit: usize,
    ) -> AppResult<(Vec<ImageRecord>, Option<String>)> {
        let before = cursor
            .map(|c| self.open_cursor(user, &[], c).map(ImageId::from_bytes))
            .transpose()?;
        let mut records = self.ports.repo.list(user, before, limit + 1).await?;
        let next = if records.len() > limit {
            records.truncate(limit);
            records
                .last()
                .map(|last| self.make_cursor(user, &[], &last.id.to_bytes()))
        } else {
            None
        };
        Ok((records, next))
    }

    /// Stores the user's corrections and review mark of a captioned image; the model's
    /// captions stay beside them. `None` in `change` leaves that caption as it is, `Some("")`
    /// goes back to the model's text. Each caption named in `change` settles its waiting
    /// suggestion, and each whose shown text changes gets a version (`core::provenance`).
    pub async fn edit_captions(
        &self,
        user: &UserId,
        id: ImageId,
        change: CaptionChange,
    ) -> AppResult<ImageRecord> {
        let record = self.get(user, id).await?;
        if record.status != ImageStatus::Done {
            return Err(AppError::Conflict(
                "the captions can be edited once the image is captioned",
            ));
        }
        let now = now_ms();
        let touched: Vec<CaptionKind> = [
            (CaptionKind::Concise, change.concise.is_some()),
            (CaptionKind::Creative, change.creative.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, named)| named.then_some(kind))
        .collect();
        let previous = record.edits.clone();
        let keep = |new: Option<String>, old: Option<String>| match new {
            None => old,
            Some(text) if text.is_empty() => None,
            Some(text) => Some(text),
        };
        let concise = keep(
            change
                .concise
                .map(|t| checked_caption(t, CaptionKind::Concise))
                .transpose()?,
            previous.as_ref().and_then(|e| e.concise.clone()),
        );
        let creative = keep(
            change
                .creative
                .map(|t| checked_caption(t, CaptionKind::Creative))
                .transpose()?,
            previous.and_then(|e| e.creative),
        );
        let edited_ms = match &record.edits {
            Some(edits) if touched.is_empty() => edits.edited_ms,
            _ => now,
        };
        let edits = (concise.is_some() || creative.is_some()).then_some(CaptionEdits {
            concise,
            creative,
            edited_ms,
        });
        let user_change = UserChange {
            edits,
            touched,
            reviewed: change.reviewed,
        };
        let provenance = record
            .provenance
            .after_user_change(&record, &user_change, now);
        let stored = self
            .ports
            .repo
            .set_edits(
                user,
                id,
                user_change.edits.as_ref(),
                &provenance,
                record.updated_ms,
            )
            .await?;
        if !stored {
            return Err(AppError::Conflict(
                "the image changed meanwhile; reload it and try again",
            ));
        }
        self.get(user, id).await
    }

    /// Captions an image again: the model's captions are dropped and a new job is queued; the
    /// user's corrections stay, and the new model text waits beside them as a suggestion. Each regeneration is one more captioner call (billed by Bedrock and Hugging
    /// Face), so it takes a token of the user's regenerate budget; an image already being
    /// captioned or not the user's is refused before the budget is touched.
    pub async fn recaption(
        &self,
        user: &UserId,
        id: ImageId,
        request_id: &str,
    ) -> AppResult<ImageRecord> {
        if self.get(user, id).await?.status == ImageStatus::Pending {
            return Err(AppError::Conflict("the image is already being captioned"));
        }
        let per_hour = self.settings.rate_limit.regenerations_per_hour;
        if let RateDecision::Limited { retry_after } = self
            .ports
            .limiter
            .acquire(user, "regenerate", per_hour)
            .await?
        {
            return Err(AppError::RegenerateLimited { retry_after });
        }
        if !self.ports.repo.reset_for_recaption(user, id).await? {
            self.get(user, id).await?;
            return Err(AppError::Conflict("the image is already being captioned"));
        }
        let job = CaptionJob::new(user.clone(), id, request_id);
        self.ports.queue.enqueue(&job).await?;
        self.job_queued.notify_one();
        self.get(user, id).await
    }

    /// Every record of the user, newest first (for the data export).
    pub async fn all_records(&self, user: &UserId) -> AppResult<Vec<ImageRecord>> {
        const PAGE: usize = 200;
        let mut all: Vec<ImageRecord> = Vec::new();
        loop {
            let before = all.last().map(|r| r.id);
            let page = self.ports.repo.list(user, before, PAGE).await?;
            let done = page.len() < PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }
}
