//! The single DynamoDB table shared by the repo, the queue and the rate limiter: key layout and
//! attribute helpers. Layout (`infra/README_infra.md`): image records under `pk = <user id>`,
//! `sk = <image ULID>`; everything else under a `pk` that contains `#`, which no user id can
//! (`UserId` allows only letters, digits, `-`, `_`, `.`), so a user's partition holds only
//! their records.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use crate::core::domain::{Principal, UserId};

pub type Item = HashMap<String, AttributeValue>;

/// The rate-limit buckets of a user: `ratelimit#<user>` / bucket name.
pub fn rate_limit_pk(user: &UserId) -> String {
    format!("ratelimit#{user}")
}

/// One item per (user, SHA-256) pointing at the record, written in the same transaction as the
/// record: the conditional write that keeps one record per user and content.
pub fn sha256_pk(user: &UserId) -> String {
    format!("sha256#{user}")
}

/// A browser session, by the SHA-256 of its id (the cookie's id itself is never stored).
pub fn session_pk(id_sha256: &str) -> String {
    format!("session#{id_sha256}")
}

/// Markers of user deletions in progress: `sk` is the user id.
pub const DELETIONS_PK: &str = "deletion#users";

/// Admin figures: `day#<YYYY-MM-DD>` counters and `latency#<YYYY-MM-DD>#<provider>` samples.
pub const FIGURES_PK: &str = "figures#all";

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// The attributes that name who a session or token belongs to: `user`, and `admin` as 0/1.
pub fn principal_attributes(principal: &Principal) -> [(String, AttributeValue); 2] {
    [
        ("user".to_owned(), s(principal.user.as_str())),
        ("admin".to_owned(), n(u8::from(principal.admin))),
    ]
}

/// The principal [`principal_attributes`] wrote.
pub fn principal_of(item: &Item) -> anyhow::Result<Principal> {
    Ok(Principal {
        user: get_s(item, "user")?.parse().map_err(anyhow::Error::msg)?,
        admin: get_n::<u8>(item, "admin")? == 1,
    })
}

/// A string attribute; an error names it when missing or of another type.
pub fn get_s<'a>(item: &'a Item, name: &str) -> anyhow::Result<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(anyhow!(
            "item attribute `{name}` is missing or not a string"
        )),
    }
}

pub fn get_opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

/// A number attribute parsed as `T`.
pub fn get_n<T: FromStr>(item: &Item, name: &str) -> anyhow::Result<T> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| anyhow!("item attribute `{name}` = {value} is out of range")),
        _ => Err(anyhow!(
            "item attribute `{name}` is missing or not a number"
        )),
    }
}

pub fn get_opt_n<T: FromStr>(item: &Item, name: &str) -> anyhow::Result<Option<T>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_n(item, name).map(Some),
    }
}

/// Parses a string attribute with the domain type's parser.
pub fn parse_s<T: FromStr<Err = String>>(item: &Item, name: &str) -> anyhow::Result<T> {
    get_s(item, name)?
        .parse()
        .map_err(|e: String| anyhow!("item attribute `{name}`: {e}"))
}

/// Whether a conditional write happened: `Ok(false)` when only its condition was false.
pub fn applied<T, E: ProvideErrorMetadata, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<bool, SdkError<E, R>> {
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// Every item of partition `pk` (only the key attributes plus `extra`), oldest page first.
pub async fn query_partition(
    client: &Client,
    table: &str,
    pk: &str,
    extra: &[&str],
) -> anyhow::Result<Vec<Item>> {
    let mut projection = vec!["pk", "sk"];
    projection.extend_from_slice(extra);
    let names: Vec<String> = (0..projection.len()).map(|i| format!("#p{i}")).collect();
    let mut request = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s(pk))
        .projection_expression(names.join(", "))
        .consistent_read(true);
    for (placeholder, name) in names.iter().zip(&projection) {
        request = request.expression_attribute_names(placeholder, *name);
    }
    request
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .with_context(|| format!("cannot list the items of {pk}"))
}

/// Deletes the items with these keys, 25 per `BatchWriteItem`, re-sending what DynamoDB
/// leaves unprocessed (throttling) with a growing pause. Deleting a missing item is not an
/// error, so a deletion can be repeated after a crash.
pub async fn delete_keys(client: &Client, table: &str, keys: Vec<Item>) -> anyhow::Result<()> {
    const ROUNDS: u32 = 8;
    for chunk in keys.chunks(25) {
        let mut requests = chunk
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, _>>()?;
        for round in 0.. {
            let output = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .context("cannot delete items")?;
            requests = output
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
            anyhow::ensure!(
                round + 1 < ROUNDS,
                "DynamoDB left {} deletions unprocessed after {ROUNDS} rounds",
                requests.len()
            );
            tokio::time::sleep(Duration::from_millis(50 << round)).await;
        }
    }
    Ok(())
}

/// The key attributes of an item read back from a query.
pub fn key_of(item: &Item) -> anyhow::Result<Item> {
    Ok(key(get_s(item, "pk")?, get_s(item, "sk")?))
}
