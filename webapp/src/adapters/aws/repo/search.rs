//! Caption search on DynamoDB without another service: each record carries its searchable words
//! in normalized attributes, and a search is a `Query` of the user's partition with a filter.
//!
//! - `search_text`: the words of the model's captions and the label names, written with the
//!   result (`complete`); `search_edits`: the words of the user's corrections (`set_edits`).
//!   Both are the distinct lower-case words, each preceded by a space and the whole followed by
//!   one (` a red car `), so `contains(search_text, " re")` is "a word begins with `re`".
//!   Regeneration removes `search_text` (the model's words go with its captions) and keeps
//!   `search_edits` (the corrections outlive it, `core::provenance`); deletion and TTL expiry
//!   remove the record.
//! - The filter keeps `done` records where every query word is in one of the two attributes,
//!   which can only be more than the exact matches (a corrected caption's replaced words are
//!   still in `search_text`), so the app checks each candidate against what the record shows
//!   (`SearchQuery::is_match`) and ranks it (`SearchQuery::score`). Records captioned before
//!   the attributes existed have none; the filter lets them through to that exact check.
//! - A search reads the whole partition (DynamoDB charges the items read, before the filter):
//!   for 10,000 records of about 1 KB that is about 10 `Query` pages of 1 MB one after the
//!   other and about 2,500 read units (consistent reads). `docs/design.md` has the limits.

use anyhow::Context;

use crate::adapters::aws::table::s;
use crate::core::domain::{ImageStatus, UserId};
use crate::core::search::{words_of, SearchAfter, SearchHit, SearchQuery};

use super::items::record_from_item;
use super::DynamoRepo;

/// The normalized attribute of `texts`: their distinct lower-case words, space-separated, with
/// a space before the first and after the last; `None` when there are no words.
pub(super) fn search_words<'t>(texts: impl IntoIterator<Item = &'t str>) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for text in texts {
        for (_, word) in words_of(text) {
            if !words.contains(&word) {
                words.push(word);
            }
        }
    }
    (!words.is_empty()).then(|| format!(" {} ", words.join(" ")))
}

impl DynamoRepo {
    pub(super) async fn search_partition(
        &self,
        user: &UserId,
        query: &SearchQuery,
        after: Option<SearchAfter>,
        limit: usize,
    ) -> anyhow::Result<Vec<SearchHit>> {
        if query.words().is_empty() {
            return Ok(Vec::new());
        }
        let terms = (0..query.words().len())
            .map(|i| format!("(contains(search_text, :w{i}) OR contains(search_edits, :w{i}))"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            // AND binds tighter than OR; DynamoDB refuses redundant parentheses.
            .filter_expression(format!(
                "#status = :done AND (attribute_not_exists(search_text) OR {terms})"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pk", s(user.as_str()))
            .expression_attribute_values(":done", s(ImageStatus::Done.as_str()))
            .consistent_read(true);
        for (i, word) in query.words().iter().enumerate() {
            request = request.expression_attribute_values(format!(":w{i}"), s(format!(" {word}")));
        }
        let mut items = request.into_paginator().items().send();
        let mut hits = Vec::new();
        while let Some(item) = items.next().await {
            let record = record_from_item(&item.context("cannot search the images")?)?;
            if !query.is_match(&record) {
                continue;
            }
            let rank = query.score(&record);
            if after.is_none_or(|after| after.is_followed_by(rank, record.id)) {
                hits.push(SearchHit { record, rank });
            }
        }
        hits.sort_by(|a, b| {
            b.rank
                .total_cmp(&a.rank)
                .then_with(|| b.record.id.cmp(&a.record.id))
        });
        hits.truncate(limit);
        Ok(hits)
    }
}
