//! Local accounts of embedded mode: a user name and an argon2id password hash (PHC string with
//! its own salt and parameters). The user name is the account's [`UserId`].

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use rusqlite::{params, OptionalExtension};

use super::sign_up::redeem_invite;
use crate::adapters::embedded::db::Db;
use crate::core::domain::{now_ms, Principal, UserId};
use crate::error::{AppError, AppResult};

pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_BYTES: usize = 1024;

pub struct LocalAccounts {
    db: Db,
}

/// A user name as typed, trimmed and lower-cased: the account it names, if it is valid.
pub fn normalised_user_name(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// The account a sign-up would create: the user name, when it and the password are acceptable
/// (400 otherwise). Cheap, with no hashing: the sign-up throttle counts only attempts that pass
/// it.
pub fn check_new(name: &str, password: &str) -> AppResult<UserId> {
    let user = user_name(name)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::bad_request(
            "weak_password",
            format!("choose a password of at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::bad_request(
            "weak_password",
            "that password is too long",
        ));
    }
    Ok(user)
}

/// How an account's insertion ended.
enum Insert {
    Created,
    NameTaken,
    InvalidInvite,
}

/// A user name as typed: normalised, 3 to 64 letters, digits, `-`, `_` or `.`.
fn user_name(name: &str) -> AppResult<UserId> {
    let name = normalised_user_name(name);
    let invalid = || {
        AppError::bad_request(
            "invalid_user_name",
            "a user name has 3 to 64 letters, digits, dots, dashes or underscores",
        )
    };
    if !(3..=64).contains(&name.len()) {
        return Err(invalid());
    }
    name.parse().map_err(|_| invalid())
}

fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash of no one's password: checked when the user name is unknown, so that an unknown name
/// takes as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password").expect("hashing a constant works"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(anyhow::Error::from)?)
}

impl LocalAccounts {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Creates an account; 400 for a bad name or a short password, 409 when the name is taken.
    pub async fn create(&self, name: &str, password: &str, admin: bool) -> AppResult<Principal> {
        self.insert(name, password, admin, None).await
    }

    /// Creates a user's account with an invite code, spent in the same transaction (a name
    /// already taken keeps the code); 403 when the code is unknown, used or expired.
    pub async fn create_invited(
        &self,
        name: &str,
        password: &str,
        invite: &str,
    ) -> AppResult<Principal> {
        self.insert(name, password, false, Some(invite.to_owned()))
            .await
    }

    async fn insert(
        &self,
        name: &str,
        password: &str,
        admin: bool,
        invite: Option<String>,
    ) -> AppResult<Principal> {
        let user = check_new(name, password)?;
        let password = password.to_owned();
        let hash = blocking(move || hash_password(&password)).await??;
        let id = user.as_str().to_owned();
        let outcome = self
            .db
            .call(move |conn| {
                let tx = conn.transaction()?;
                if let Some(code) = invite {
                    if !redeem_invite(&tx, &code, &id)? {
                        return Ok(Insert::InvalidInvite);
                    }
                }
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO accounts (user_id, password_hash, admin, created_ms) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![id, hash, admin, now_ms()],
                )?;
                if inserted == 0 {
                    // Dropped without a commit: the invite is not spent.
                    return Ok(Insert::NameTaken);
                }
                tx.commit()?;
                Ok(Insert::Created)
            })
            .await?;
        match outcome {
            Insert::Created => Ok(Principal { user, admin }),
            Insert::NameTaken => Err(AppError::Conflict("that user name is taken")),
            Insert::InvalidInvite => Err(AppError::Forbidden(
                "that invite code is not valid: it may be mistyped, already used or expired",
            )),
        }
    }

    /// The account's principal when the name and password match; `None` otherwise.
    pub async fn verify(&self, name: &str, password: &str) -> AppResult<Option<Principal>> {
        let Ok(user) = user_name(name) else {
            return Ok(None);
        };
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let id = user.as_str().to_owned();
        let row = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT password_hash, admin FROM accounts WHERE user_id = ?1",
                    params![id],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?)),
                )
                .optional()
            })
            .await?;
        let password = password.to_owned();
        let (hash, admin, known) = match row {
            Some((hash, admin)) => (hash, admin, true),
            None => (decoy_hash().to_owned(), false, false),
        };
        let matches = blocking(move || password_matches(&password, &hash)).await?;
        Ok((known && matches).then_some(Principal { user, admin }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterx", &hash));
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
        assert!(!password_matches("x", "not a hash"));
    }

    #[test]
    fn user_names_are_normalised_and_checked() {
        assert_eq!(user_name("  Alice.B ").unwrap().as_str(), "alice.b");
        for bad in ["ab", ".hidden", "a b", "émile", &"x".repeat(65)] {
            assert!(user_name(bad).is_err(), "{bad}");
        }
    }
}
