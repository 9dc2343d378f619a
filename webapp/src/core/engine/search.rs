//! Searching a user's captions (`crate::core::search`), a page at a time, best first.

use crate::core::domain::{ImageId, UserId};
use crate::core::search::{SearchAfter, SearchHit, SearchQuery};
use crate::error::AppResult;

use super::Engine;

/// What a search cursor is signed for besides the user: a cursor of one query does not page
/// another (or the history).
const SCOPE: &[u8] = b"search";

impl Engine {
    /// One page of the user's images that match `query`, and the cursor of the next page. The
    /// ranks come from the index at the time of each page: an image added or changed between
    /// two pages may move across the page boundary.
    pub async fn search(
        &self,
        user: &UserId,
        query: &SearchQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> AppResult<(Vec<SearchHit>, Option<String>)> {
        let words = query.words().join(" ");
        let scope: [&[u8]; 2] = [SCOPE, words.as_bytes()];
        let after = cursor
            .map(|c| self.open_cursor::<24>(user, &scope, c))
            .transpose()?
            .map(|position| {
                let (id, rank) = position.split_at(16);
                SearchAfter {
                    id: ImageId::from_bytes(id.try_into().expect("16 bytes")),
                    rank: f64::from_be_bytes(rank.try_into().expect("8 bytes")),
                }
            });
        let mut hits = self
            .ports
            .repo
            .search(user, query, after, limit + 1)
            .await?;
        let next = if hits.len() > limit {
            hits.truncate(limit);
            hits.last().map(|last| {
                let mut position = last.record.id.to_bytes().to_vec();
                position.extend_from_slice(&last.rank.to_be_bytes());
                self.make_cursor(user, &scope, &position)
            })
        } else {
            None
        };
        Ok((hits, next))
    }
}
