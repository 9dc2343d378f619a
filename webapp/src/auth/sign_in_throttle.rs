//! Throttling of password guessing on the local accounts' sign-in: failed attempts are counted
//! in a fixed window that starts at the first failure; once a count reaches its limit, further
//! attempts are refused until the window ends, before any password is checked (no argon2 work
//! is spent on them).
//!
//! Which counts apply depends on the client, following OWASP's device cookies ("Slow down
//! online guessing attacks with device cookies"). A browser that signed in to the account
//! before holds a signed device cookie for it (`crate::http::device`): a *trusted device*.
//! Its attempts count only against that device, so a stranger's failures never lock the owner
//! out of a browser they used before. Every other attempt is *untrusted* and counts per user
//! name and per client address, as before: an attacker who does not hold the owner's device
//! cookie locks out only untrusted clients, whatever address they guess from.
//!
//! Why this and not counting per (account, address) plus a slower per-account limit: with
//! addresses, an attacker with many addresses (a botnet, IPv6) gets the per-address budget at
//! each of them and can still run the slower per-account limit down, which locks the owner out
//! again; and behind a proxy every client has one address. A device cookie cannot be had
//! without the password, so neither can lock out the owner's device. The cost: the owner on a
//! new browser during an attack waits like the attacker, until the window ends.
//!
//! Why not the [`RateLimiter`](crate::core::ports::RateLimiter) port: it takes a token from a user's
//! hourly bucket on every call, with one capacity for the whole limiter and no way to look at a
//! bucket without taking from it or to empty one bucket of a user. Sign-in needs to count
//! failures only, clear one key on success, and key by typed names and addresses rather than
//! users. The counts live in the embedded database beside the accounts they protect (local
//! accounts exist only there), so every process on that data directory shares them and a
//! restart does not clear them.
//!
//! An attempt is counted when it starts, not when it fails: concurrent guesses cannot all pass
//! the check before the first failure is written. A successful attempt is taken back.

use std::net::IpAddr;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::local_accounts::normalised_user_name;
use crate::adapters::embedded::db::Db;
use crate::core::domain::{now_ms, Sha256};
use crate::core::ports::{PortResult, RateDecision};

/// How many failures are allowed, and over how long.
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    /// Failures per user name in a window.
    pub per_account: u32,
    /// Failures per client address in a window; 0 turns the per-address limit off.
    pub per_ip: u32,
    pub window: Duration,
}

pub struct SignInThrottle {
    db: Db,
    limits: SignInLimits,
}

/// Who is signing in: the user name as typed, the client address, and the device id of a
/// valid device cookie issued for that user name (`None`: an untrusted client).
#[derive(Debug, Clone, Copy)]
pub struct SignInClient<'a> {
    pub user_name: &'a str,
    pub address: IpAddr,
    pub device: Option<&'a str>,
}

/// The account key: a digest of the normalised name as typed (any text, known or not), so rows
/// have a fixed size and hold no typed text (a password typed into the wrong field).
fn account_subject(user_name: &str) -> String {
    format!(
        "account:{}",
        Sha256::of(normalised_user_name(user_name).as_bytes())
    )
}

/// The device key: a digest of the device cookie's random id (not the id itself, which is a
/// bearer credential of the device).
fn device_subject(device: &str) -> String {
    format!("device:{}", Sha256::of(device.as_bytes()))
}

/// The address key: IPv4 as is, IPv6 by its /64 (one site's network; a host can pick any
/// address in it). Also the sign-up throttle's.
pub(super) fn ip_subject(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Counts an attempt against each `(subject, limit)` unless one of them is spent: then nothing
/// is counted and the answer says when the latest-ending window ends.
fn attempt_at(
    conn: &mut Connection,
    subjects: &[(String, u32)],
    window_ms: i64,
    now: i64,
) -> rusqlite::Result<RateDecision> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Rows of ended windows are dropped here, so the table holds only the current window's.
    tx.execute(
        "DELETE FROM sign_in_failures WHERE window_start_ms <= ?1",
        params![now - window_ms],
    )?;
    let mut wait_ms = 0;
    for (subject, limit) in subjects {
        let row: Option<(u32, i64)> = tx
            .query_row(
                "SELECT failures, window_start_ms FROM sign_in_failures WHERE subject = ?1",
                params![subject],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((_, start)) = row.filter(|(failures, _)| failures >= limit) {
            // In this order: no overflow whatever the window.
            wait_ms = wait_ms.max(start - now + window_ms);
        }
    }
    if wait_ms > 0 {
        tx.commit()?;
        return Ok(RateDecision::Limited {
            retry_after: Duration::from_millis(wait_ms.unsigned_abs()),
        });
    }
    for (subject, _) in subjects {
        tx.execute(
            "INSERT INTO sign_in_failures (subject, failures, window_start_ms) VALUES (?1, 1, ?2) \
             ON CONFLICT (subject) DO UPDATE SET failures = failures + 1",
            params![subject, now],
        )?;
    }
    tx.commit()?;
    Ok(RateDecision::Allowed)
}

impl SignInThrottle {
    pub fn new(db: Db, limits: SignInLimits) -> Self {
        Self { db, limits }
    }

    /// A trusted device's attempts count against the device alone (with the per-account
    /// limit); an untrusted client's against the user name and the address.
    fn subjects(&self, client: &SignInClient<'_>) -> Vec<(String, u32)> {
        if let Some(device) = client.device {
            return vec![(device_subject(device), self.limits.per_account)];
        }
        let mut subjects = vec![(account_subject(client.user_name), self.limits.per_account)];
        if self.limits.per_ip > 0 {
            subjects.push((ip_subject(client.address), self.limits.per_ip));
        }
        subjects
    }

    /// Before the password is checked: `Limited` when the client's counts are spent (then
    /// nothing is counted), else the attempt counts as a failure until [`Self::succeeded`]
    /// takes it back.
    pub async fn attempt(&self, client: &SignInClient<'_>) -> PortResult<RateDecision> {
        let subjects = self.subjects(client);
        let window_ms = i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX);
        self.db
            .call(move |conn| attempt_at(conn, &subjects, window_ms, now_ms()))
            .await
    }

    /// The attempt signed in: the failures of the device, or of the user name, are forgotten,
    /// and an untrusted attempt no longer counts against the address.
    pub async fn succeeded(&self, client: &SignInClient<'_>) -> PortResult<()> {
        let (forgotten, address) = match client.device {
            Some(device) => (device_subject(device), None),
            None => (
                account_subject(client.user_name),
                Some(ip_subject(client.address)),
            ),
        };
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM sign_in_failures WHERE subject = ?1",
                    params![forgotten],
                )?;
                if let Some(ip) = address {
                    conn.execute(
                        "UPDATE sign_in_failures SET failures = failures - 1 \
                         WHERE subject = ?1 AND failures > 0",
                        params![ip],
                    )?;
                }
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW_MS: i64 = 60_000;

    async fn attempt(db: &Db, subjects: &[(&str, u32)], now: i64) -> RateDecision {
        let subjects: Vec<_> = subjects.iter().map(|(s, l)| (s.to_string(), *l)).collect();
        db.call(move |conn| attempt_at(conn, &subjects, WINDOW_MS, now))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn attempts_run_out_until_the_window_ends() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db.sqlite3")).unwrap();
        let both = [("account:a", 2), ("ip:1", 3)];
        assert_eq!(attempt(&db, &both, 0).await, RateDecision::Allowed);
        assert_eq!(attempt(&db, &both, 1_000).await, RateDecision::Allowed);
        // The account's window started at the first failure and ends a minute later.
        assert_eq!(
            attempt(&db, &both, 10_000).await,
            RateDecision::Limited {
                retry_after: Duration::from_millis(50_000)
            }
        );
        // A refused attempt counts against nothing: the address has one attempt left.
        let other = [("account:b", 2), ("ip:1", 3)];
        assert_eq!(attempt(&db, &other, 20_000).await, RateDecision::Allowed);
        assert!(matches!(
            attempt(&db, &other, 30_000).await,
            RateDecision::Limited { .. }
        ));
        // Both windows have ended.
        assert_eq!(attempt(&db, &both, WINDOW_MS).await, RateDecision::Allowed);
    }

    #[test]
    fn names_are_keyed_normalised_and_ipv6_by_network() {
        assert_eq!(account_subject(" Alice "), account_subject("alice"));
        assert!(!account_subject("alice").contains("alice"));
        assert_eq!(ip_subject("192.0.2.7".parse().unwrap()), "ip:192.0.2.7");
        assert_eq!(
            ip_subject("::ffff:192.0.2.7".parse().unwrap()),
            "ip:192.0.2.7"
        );
        assert_eq!(
            ip_subject("2001:db8:1:2:aaaa::1".parse().unwrap()),
            ip_subject("2001:db8:1:2:bbbb::9".parse().unwrap()),
        );
        assert_eq!(
            ip_subject("2001:db8:1:2::1".parse().unwrap()),
            "ip:2001:db8:1:2::/64"
        );
    }
}
