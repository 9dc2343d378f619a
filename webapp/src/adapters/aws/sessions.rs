//! [`SessionStore`] on the DynamoDB table, so every app instance behind the load balancer sees
//! the same sessions: one item per session under `pk = session#<SHA-256 of its id>`.
//!
//! Expired sessions are removed by the table's TTL (`expires_at` = creation + the absolute
//! timeout); until TTL gets to them, [`Sessions`](crate::http::session::Sessions) refuses them
//! by their own timestamps, so `remove_expired` has nothing to do here.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::Client;

use super::table::{get_n, key, n, principal_attributes, principal_of, session_pk, Item};
use crate::core::ports::{BoxFuture, PortResult, SessionRecord, SessionStore};

/// The sort key of every session item (its partition key is already unique).
const SESSION_SK: &str = "session";

pub struct DynamoSessions {
    client: Client,
    table: String,
    /// Sessions end this long after sign-in at the latest: their TTL.
    absolute: Duration,
}

impl DynamoSessions {
    pub fn new(client: Client, table: String, absolute: Duration) -> Self {
        Self {
            client,
            table,
            absolute,
        }
    }

    fn key(id_sha256: &str) -> Item {
        key(session_pk(id_sha256), SESSION_SK)
    }
}

impl SessionStore for DynamoSessions {
    fn insert<'a>(
        &'a self,
        id_sha256: &'a str,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let mut item = Self::key(id_sha256);
            item.extend(principal_attributes(&session.principal));
            item.extend([
                ("created_ms".to_owned(), n(session.created_ms)),
                ("last_seen_ms".to_owned(), n(session.last_seen_ms)),
                (
                    "expires_at".to_owned(),
                    n(session.created_ms / 1000 + self.absolute.as_secs() as i64),
                ),
            ]);
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                // A fresh random id: a collision would be a bug, never overwrite silently.
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .context("cannot store a session")?;
            Ok(())
        })
    }

    fn find<'a>(&'a self, id_sha256: &'a str) -> BoxFuture<'a, PortResult<Option<SessionRecord>>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(id_sha256)))
                .consistent_read(true)
                .send()
                .await
                .context("cannot read a session")?;
            output
                .item
                .map(|item| {
                    Ok(SessionRecord {
                        principal: principal_of(&item)?,
                        created_ms: get_n(&item, "created_ms")?,
                        last_seen_ms: get_n(&item, "last_seen_ms")?,
                    })
                })
                .transpose()
        })
    }

    fn touch<'a>(&'a self, id_sha256: &'a str, now_ms: i64) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let outcome = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(id_sha256)))
                .update_expression("SET last_seen_ms = :now")
                // Never re-create a session removed meanwhile (sign-out on another instance).
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":now", n(now_ms))
                .send()
                .await;
            super::table::applied(outcome).context("cannot refresh a session")?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id_sha256: &'a str) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(id_sha256)))
                .send()
                .await
                .context("cannot remove a session")?;
            Ok(())
        })
    }

    fn remove_expired(&self, _: i64, _: i64) -> BoxFuture<'_, PortResult<()>> {
        // The table's TTL removes them (see the module documentation).
        Box::pin(async { Ok(()) })
    }
}
