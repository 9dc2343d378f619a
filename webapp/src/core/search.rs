//! Searching a user's captions: the query, parsed at the edge into plain words; what an image
//! offers to search (the captions it shows and its labels); which of its words match, for the
//! highlighting of the pages and the API's `matches`; and where a page of results ends.
//!
//! The meaning is the same in both adapters: every word of the query must begin a word of the
//! image's shown concise caption, shown creative caption or labels (so `dog` finds "dogs" and
//! `red car` finds images with both). A correction replaces the model's text: an edited caption
//! is found by its new words, not by the words it replaced. Case is ignored; accents are not.

use serde::Serialize;
use utoipa::ToSchema;

use crate::core::domain::{ImageId, ImageRecord};
use crate::error::{AppError, AppResult};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words one query may hold: each is one more condition for the backend.
pub const MAX_QUERY_WORDS: usize = 16;

/// A search as the user typed it and the distinct words in it. Only runs of letters and digits
/// count; quotes, `*`, `-`, `:`, brackets and the like separate words and mean nothing, so no
/// query syntax of a backend (FTS5 operators, DynamoDB expressions) can come from the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    text: String,
    words: Vec<String>,
}

impl SearchQuery {
    /// `Ok(None)` for a blank query: the caller shows the plain history. A query with no words
    /// in it (only punctuation) is valid and matches nothing.
    pub fn parse(text: &str) -> AppResult<Option<Self>> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(AppError::bad_request(
                "invalid_search",
                format!("the search must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let mut words: Vec<String> = Vec::new();
        for (_, word) in words_of(text) {
            if !words.contains(&word) {
                words.push(word);
            }
        }
        if words.len() > MAX_QUERY_WORDS {
            return Err(AppError::bad_request(
                "invalid_search",
                format!("the search must have at most {MAX_QUERY_WORDS} words"),
            ));
        }
        Ok(Some(Self {
            text: text.to_owned(),
            words,
        }))
    }

    /// The query as typed (trimmed), to show it back.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The distinct words, lower-case, in the order typed.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Whether a (lower-case) word of an image matches: one of the query's words begins it.
    pub fn matches_word(&self, word: &str) -> bool {
        self.words
            .iter()
            .any(|query| word.starts_with(query.as_str()))
    }

    /// Whether every query word begins some word of the record's searchable text.
    pub fn is_match(&self, record: &ImageRecord) -> bool {
        let fields = searchable_fields(record);
        !self.words.is_empty()
            && self.words.iter().all(|query| {
                fields.iter().any(|(_, text)| {
                    words_of(text).any(|(_, word)| word.starts_with(query.as_str()))
                })
            })
    }

    /// A simple relevance score, higher is better: the matching words of each field, weighted
    /// by the field ([`SearchField::weight`]). The AWS adapter ranks by it; the embedded one
    /// uses FTS5's bm25 with the same weights.
    pub fn score(&self, record: &ImageRecord) -> f64 {
        searchable_fields(record)
            .iter()
            .map(|(field, text)| {
                let hits = words_of(text)
                    .filter(|(_, word)| self.matches_word(word))
                    .count();
                field.weight() * hits as f64
            })
            .sum()
    }

    /// The fields of the record with matching words, and those words as written.
    pub fn field_matches(&self, record: &ImageRecord) -> Vec<FieldMatch> {
        searchable_fields(record)
            .into_iter()
            .filter_map(|(field, text)| {
                let mut words: Vec<String> = Vec::new();
                for (range, word) in words_of(&text) {
                    let written = &text[range];
                    if self.matches_word(&word) && !words.iter().any(|w| w == written) {
                        words.push(written.to_owned());
                    }
                }
                (!words.is_empty()).then_some(FieldMatch { field, words })
            })
            .collect()
    }

    /// `text` cut into pieces, each marked whether it is a matching word: the pages escape each
    /// piece and wrap the matching ones in `<mark>`.
    pub fn highlight<'t>(&self, text: &'t str) -> Vec<(&'t str, bool)> {
        let mut pieces = Vec::new();
        let mut at = 0;
        for (range, word) in words_of(text) {
            if self.matches_word(&word) {
                if range.start > at {
                    pieces.push((&text[at..range.start], false));
                }
                pieces.push((&text[range.clone()], true));
                at = range.end;
            }
        }
        if at < text.len() {
            pieces.push((&text[at..], false));
        }
        pieces
    }
}

/// What can be searched in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchField {
    /// The concise caption shown (the user's correction, else the model's).
    Concise,
    /// The creative caption shown.
    Creative,
    /// The label names, joined by `, `.
    Labels,
}

impl SearchField {
    /// How much a matching word in this field counts: the concise caption says what the image
    /// is, labels name what is in it, the creative caption embroiders.
    pub fn weight(self) -> f64 {
        match self {
            Self::Concise => 3.0,
            Self::Creative => 1.0,
            Self::Labels => 2.0,
        }
    }
}

/// The words of one field that matched a search, as written there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldMatch {
    pub field: SearchField,
    pub words: Vec<String>,
}

/// The searchable text of a record, field by field; empty until it is captioned.
pub fn searchable_fields(record: &ImageRecord) -> Vec<(SearchField, String)> {
    let Some((concise, creative)) = record.shown_captions() else {
        return Vec::new();
    };
    let labels = record
        .result
        .iter()
        .flat_map(|r| r.labels.iter().map(|l| l.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        (SearchField::Concise, concise.to_owned()),
        (SearchField::Creative, creative.to_owned()),
        (SearchField::Labels, labels),
    ]
}

/// The words of `text`: byte range and lower-case form of each run of letters and digits (the
/// same split as SQLite's `unicode61` tokenizer).
pub fn words_of(text: &str) -> impl Iterator<Item = (std::ops::Range<usize>, String)> + '_ {
    let mut start = None;
    text.char_indices()
        .chain(std::iter::once((text.len(), ' ')))
        .filter_map(move |(at, c)| match (start, c.is_alphanumeric()) {
            (None, true) => {
                start = Some(at);
                None
            }
            (Some(from), false) => {
                start = None;
                Some((from..at, text[from..at].to_lowercase()))
            }
            _ => None,
        })
}

/// One image found by a search and its rank: higher ranks first, then newer images.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub record: ImageRecord,
    pub rank: f64,
}

/// Where a page of results ended: the next page holds the hits strictly after it in the order
/// of [`SearchHit`] (a lower rank, or the same rank and an older id).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchAfter {
    pub rank: f64,
    pub id: ImageId,
}

impl SearchAfter {
    /// Whether a hit of `rank` and `id` comes after this position.
    pub fn is_followed_by(&self, rank: f64, id: ImageId) -> bool {
        rank < self.rank || (rank == self.rank && id < self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> SearchQuery {
        SearchQuery::parse(text).unwrap().unwrap()
    }

    #[test]
    fn queries_are_reduced_to_their_words() {
        assert_eq!(SearchQuery::parse("   ").unwrap(), None);
        assert_eq!(
            query(r#" "Red" car* -NEAR(x) red:"#).words(),
            ["red", "car", "near", "x"]
        );
        assert!(query(r#""*-:()"#).words().is_empty());
        assert!(SearchQuery::parse(&"a".repeat(201)).is_err());
        assert!(
            SearchQuery::parse(&"a ".repeat(17)).is_ok(),
            "the same word repeated"
        );
        let many: Vec<String> = (0..17).map(|i| format!("w{i}")).collect();
        assert!(SearchQuery::parse(&many.join(" ")).is_err());
    }

    #[test]
    fn words_split_like_unicode61() {
        let words: Vec<String> = words_of("Crème-brûlée, 2 cafés!").map(|w| w.1).collect();
        assert_eq!(words, ["crème", "brûlée", "2", "cafés"]);
    }

    #[test]
    fn highlighting_marks_words_a_query_word_begins() {
        let pieces = query("do car").highlight("Dogs <b>and</b> cars, a dock");
        assert_eq!(
            pieces,
            [
                ("Dogs", true),
                (" <b>and</b> ", false),
                ("cars", true),
                (", a ", false),
                ("dock", true),
            ]
        );
    }
}
