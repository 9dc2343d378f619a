//! [`TokenStore`] on the DynamoDB table, so a token made on one instance (or by
//! `imgcap-webapp create-token`) works on every instance. Two items per token, written in one
//! transaction: `token#<SHA-256>` (the lookup of every API call) and `tokens#<user>` /
//! `<SHA-256>` (the user's list on the Account page).

use anyhow::Context;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use super::table::{
    applied, get_n, get_s, key, n, principal_attributes, principal_of, query_partition, s, Item,
};
use crate::core::domain::UserId;
use crate::core::ports::{BoxFuture, PortResult, TokenRecord, TokenStore};

/// The sort key of a token's lookup item (its partition key is already unique).
const TOKEN_SK: &str = "token";

fn token_pk(token_sha256: &str) -> String {
    format!("token#{token_sha256}")
}

fn user_tokens_pk(user: &UserId) -> String {
    format!("tokens#{user}")
}

pub struct DynamoTokens {
    client: Client,
    table: String,
}

impl DynamoTokens {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn put(&self, item: Item, condition: Option<&str>) -> anyhow::Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// What both items of a token hold besides their keys.
fn token_attributes(token: &TokenRecord) -> Item {
    let mut attributes = Item::from(principal_attributes(&token.principal));
    attributes.insert("created_ms".to_owned(), n(token.created_ms));
    if let Some(expires_ms) = token.expires_ms {
        attributes.insert("expires_ms".to_owned(), n(expires_ms));
    }
    attributes
}

fn record_of(item: &Item) -> anyhow::Result<TokenRecord> {
    Ok(TokenRecord {
        principal: principal_of(item)?,
        created_ms: get_n(item, "created_ms")?,
        expires_ms: match item.contains_key("expires_ms") {
            true => Some(get_n(item, "expires_ms")?),
            false => None,
        },
    })
}

impl TokenStore for DynamoTokens {
    fn insert<'a>(
        &'a self,
        token_sha256: &'a str,
        token: &'a TokenRecord,
    ) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let mut lookup = key(token_pk(token_sha256), TOKEN_SK);
            lookup.extend(token_attributes(token));
            let mut listed = key(user_tokens_pk(&token.principal.user), token_sha256);
            listed.extend(token_attributes(token));
            self.client
                .transact_write_items()
                // A fresh random token: a collision would be a bug, never overwrite silently.
                .transact_items(self.put(lookup, Some("attribute_not_exists(pk)"))?)
                .transact_items(self.put(listed, None)?)
                .send()
                .await
                .context("cannot store an API token")?;
            Ok(())
        })
    }

    fn find<'a>(&'a self, token_sha256: &'a str) -> BoxFuture<'a, PortResult<Option<TokenRecord>>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(token_pk(token_sha256), TOKEN_SK)))
                .consistent_read(true)
                .send()
                .await
                .context("cannot read an API token")?;
            output.item.as_ref().map(record_of).transpose()
        })
    }

    fn list<'a>(
        &'a self,
        user: &'a UserId,
    ) -> BoxFuture<'a, PortResult<Vec<(String, TokenRecord)>>> {
        Box::pin(async move {
            let items = query_partition(
                &self.client,
                &self.table,
                &user_tokens_pk(user),
                &["user", "admin", "created_ms", "expires_ms"],
            )
            .await?;
            items
                .iter()
                .map(|item| Ok((get_s(item, "sk")?.to_owned(), record_of(item)?)))
                .collect()
        })
    }

    fn remove<'a>(
        &'a self,
        user: &'a UserId,
        token_sha256: &'a str,
    ) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            // The credential first, and only the user's own; then the list entry. A crash in
            // between leaves a listed dead token, which revoking again removes.
            let outcome = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(token_pk(token_sha256), TOKEN_SK)))
                .condition_expression("attribute_not_exists(pk) OR #user = :user")
                .expression_attribute_names("#user", "user")
                .expression_attribute_values(":user", s(user.as_str()))
                .send()
                .await;
            if !applied(outcome).context("cannot revoke an API token")? {
                return Ok(false);
            }
            let listed = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(user_tokens_pk(user), token_sha256)))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .context("cannot remove an API token from its owner's list")?;
            Ok(listed.attributes.is_some())
        })
    }
}
