//! Records as DynamoDB items, and the update expressions that change them.

use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::adapters::aws::table::{get_n, get_opt_n, get_opt_s, get_s, key, n, parse_s, s, Item};
use crate::core::domain::{
    image_content_type, CaptionEdits, CaptionResult, ImageRecord, ImageStatus, ScoredCaption,
};
use crate::core::provenance::Provenance;

pub(super) fn record_item(record: &ImageRecord) -> Item {
    let mut item = key(record.user.as_str(), record.id.to_string());
    item.extend([
        ("sha256".to_owned(), s(record.sha256.to_string())),
        ("status".to_owned(), s(record.status.as_str())),
        ("content_type".to_owned(), s(record.content_type)),
        ("size_bytes".to_owned(), n(record.size_bytes)),
        ("width".to_owned(), n(record.width)),
        ("height".to_owned(), n(record.height)),
        ("orientation".to_owned(), n(record.orientation)),
        ("created_ms".to_owned(), n(record.created_ms)),
        ("updated_ms".to_owned(), n(record.updated_ms)),
        ("expires_at".to_owned(), n(record.expires_at)),
        ("job_state".to_owned(), s(ImageStatus::Pending.as_str())),
    ]);
    item
}

pub(super) fn record_from_item(item: &Item) -> anyhow::Result<ImageRecord> {
    let content_type = get_s(item, "content_type")?;
    let content_type = image_content_type(content_type)
        .ok_or_else(|| anyhow!("unknown content type {content_type}"))?;
    let result = match (get_opt_s(item, "concise"), get_opt_s(item, "creative")) {
        (Some(concise), Some(creative)) => Some(CaptionResult {
            concise: ScoredCaption {
                text: concise.to_owned(),
                confidence: get_opt_n(item, "concise_confidence")?,
            },
            creative: ScoredCaption {
                text: creative.to_owned(),
                confidence: get_opt_n(item, "creative_confidence")?,
            },
            model: get_s(item, "model")?.to_owned(),
            provider: get_s(item, "provider")?.to_owned(),
            latency_ms: get_n(item, "latency_ms")?,
            labels: match get_opt_s(item, "labels") {
                Some(json) => serde_json::from_str(json).context("stored labels")?,
                None => Vec::new(),
            },
        }),
        _ => None,
    };
    let edits = get_opt_n(item, "edited_ms")?.map(|edited_ms| CaptionEdits {
        concise: get_opt_s(item, "concise_edited").map(str::to_owned),
        creative: get_opt_s(item, "creative_edited").map(str::to_owned),
        edited_ms,
    });
    let provenance = match get_opt_s(item, "provenance") {
        Some(json) => serde_json::from_str(json).context("stored provenance")?,
        None => Provenance::default(),
    };
    Ok(ImageRecord {
        user: parse_s(item, "pk")?,
        id: parse_s(item, "sk")?,
        sha256: parse_s(item, "sha256")?,
        status: parse_s(item, "status")?,
        content_type,
        size_bytes: get_n(item, "size_bytes")?,
        width: get_n(item, "width")?,
        height: get_n(item, "height")?,
        orientation: get_n(item, "orientation")?,
        created_ms: get_n(item, "created_ms")?,
        updated_ms: get_n(item, "updated_ms")?,
        expires_at: get_n(item, "expires_at")?,
        result,
        failure_reason: get_opt_s(item, "failure_reason").map(str::to_owned),
        edits,
        provenance,
    })
}

/// The SET and REMOVE clauses of an `UpdateItem` and the values they bind.
pub(super) struct Update {
    sets: Vec<String>,
    removes: Vec<&'static str>,
    pub(super) values: Item,
}

impl Update {
    pub(super) fn new(sets: &[&str], removes: &[&'static str], values: Item) -> Self {
        Self {
            sets: sets.iter().map(|clause| (*clause).to_owned()).collect(),
            removes: removes.to_vec(),
            values,
        }
    }

    /// `SET name = :name` for a value that is there, `REMOVE name` for one that is not.
    pub(super) fn set_or_remove(&mut self, name: &'static str, value: Option<AttributeValue>) {
        match value {
            Some(value) => {
                self.sets.push(format!("{name} = :{name}"));
                self.values.insert(format!(":{name}"), value);
            }
            None => self.removes.push(name),
        }
    }

    pub(super) fn expression(&self) -> String {
        let mut expression = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        expression
    }
}
