//! Who may create a local account, and how often: the sign-up policy (`open`, `invite`,
//! `closed`), single-use invite codes, and a per-address throttle.
//!
//! Open sign-up lets anyone make as many accounts as they like, which voids every per-user
//! limit and costs an argon2 hash each; the throttle allows `per_ip_per_hour` new accounts per
//! client address and hour (a token bucket in the `rate_limits` table, keyed `ip:<address>`,
//! which no user id can be). Invite codes are random, stored only as their SHA-256, and spent in
//! the same transaction that creates the account (`LocalAccounts::create_invited`), so a failed
//! sign-up (name taken) keeps the code. Both live in the embedded database beside the local
//! accounts they gate: local accounts exist only there.

use std::net::IpAddr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use rusqlite::{params, Transaction};

use super::sign_in_throttle::ip_subject;
use crate::adapters::embedded::db::Db;
use crate::adapters::embedded::rate_limits::take_token;
use crate::config::SignUpPolicy;
use crate::core::domain::{now_ms, Sha256};
use crate::core::ports::{PortResult, RateDecision};

/// An invite not used within this time is void: codes get pasted into chats and mails.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 86_400);
const SIGN_UP_BUCKET: &str = "sign-up";

pub struct SignUp {
    db: Db,
    policy: SignUpPolicy,
    per_ip_per_hour: u32,
}

impl SignUp {
    /// `per_ip_per_hour` of 0 turns the throttle off.
    pub fn new(db: Db, policy: SignUpPolicy, per_ip_per_hour: u32) -> Self {
        Self {
            db,
            policy,
            per_ip_per_hour,
        }
    }

    pub fn policy(&self) -> SignUpPolicy {
        self.policy
    }

    /// Takes one sign-up from the client address's hourly allowance.
    pub async fn attempt(&self, client: IpAddr) -> PortResult<RateDecision> {
        if self.per_ip_per_hour == 0 {
            return Ok(RateDecision::Allowed);
        }
        let (subject, per_hour) = (ip_subject(client), self.per_ip_per_hour);
        self.db
            .call(move |conn| {
                // A bucket untouched for an hour is full again, the same as none: dropping those
                // keeps one row per recently seen address, not per address ever seen.
                conn.execute(
                    "DELETE FROM rate_limits WHERE bucket = ?1 AND updated_ms <= ?2",
                    params![SIGN_UP_BUCKET, now_ms() - 3_600_000],
                )?;
                take_token(conn, &subject, SIGN_UP_BUCKET, per_hour)
            })
            .await
    }

    /// A new single-use invite code, valid for [`INVITE_LIFETIME`]; `by` says who made it (an
    /// administrator's user id, or the command line).
    pub async fn create_invite(&self, by: &str) -> PortResult<String> {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let code = URL_SAFE_NO_PAD.encode(bytes);
        let (digest, by) = (code_digest(&code), by.to_owned());
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO invites (code_sha256, created_by, created_ms) VALUES (?1, ?2, ?3)",
                    params![digest, by, now_ms()],
                )
            })
            .await?;
        Ok(code)
    }
}

fn code_digest(code: &str) -> String {
    Sha256::of(code.trim().as_bytes()).to_string()
}

/// Spends the invite `code` for `user` in the account's transaction; `false` when the code is
/// unknown, used or expired.
pub(super) fn redeem_invite(
    tx: &Transaction<'_>,
    code: &str,
    user: &str,
) -> rusqlite::Result<bool> {
    let now = now_ms();
    let oldest = now - INVITE_LIFETIME.as_millis() as i64;
    let redeemed = tx.execute(
        "UPDATE invites SET used_by = ?1, used_ms = ?2 \
         WHERE code_sha256 = ?3 AND used_by IS NULL AND created_ms > ?4",
        params![user, now, code_digest(code), oldest],
    )?;
    Ok(redeemed == 1)
}
