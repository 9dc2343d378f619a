//! Browser sessions and CSRF protection of the web pages.
//!
//! The session cookie holds `<random id>.<HMAC>`; the server keeps the session (keyed by the
//! id's SHA-256) with its principal, so sign-out and expiry are decided server-side. Any
//! identity provider signs a user in the same way: [`Sessions::start_session`] with a
//! [`Principal`] returns the `Set-Cookie` value (local accounts, or Cognito through
//! `super::pages::cognito`).
//!
//! CSRF: every page gets a token bound to the session id (or, before sign-in, to a random
//! pre-session cookie), signed with its own key. State-changing page requests must send it in
//! the `x-csrf-token` header (htmx, scripts) or the `_csrf` form field.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use crate::auth::signing::Signer;
use crate::core::domain::{now_ms, Principal, Sha256};
use crate::core::ports::{SessionRecord, SessionStore};
use crate::error::AppResult;

const SESSION_COOKIE: &str = "imgcap_session";
const PRESESSION_COOKIE: &str = "imgcap_presession";
/// Their names over HTTPS. A browser accepts a `__Host-` cookie only with `Secure`, `Path=/` and
/// no `Domain`, so neither a sibling subdomain nor a plain-HTTP man-in-the-middle can set or
/// overwrite it (session fixation, a planted CSRF binding).
const HOST_SESSION_COOKIE: &str = "__Host-imgcap_session";
const HOST_PRESESSION_COOKIE: &str = "__Host-imgcap_presession";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "_csrf";
/// Largest urlencoded form read to find the CSRF field (page forms are small).
pub(crate) const MAX_FORM_BYTES: usize = 64 * 1024;
/// A session's last use is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How long sessions last and how their cookies are set: the `[session]` section
/// (`crate::config::SessionConfig`) and the public URL, resolved.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
    /// `Secure` cookie attribute (everywhere but plain-HTTP localhost).
    pub secure_cookies: bool,
    /// Served over HTTPS: the cookies' names carry the `__Host-` prefix (plain names over HTTP,
    /// where browsers refuse such cookies).
    pub host_prefix: bool,
}

pub struct Sessions {
    store: Arc<dyn SessionStore>,
    cookie_signer: Signer,
    csrf_signer: Signer,
    settings: SessionPolicy,
    session_cookie: &'static str,
    presession_cookie: &'static str,
}

/// Who is looking at a page, resolved once per request by the pages' visitor middleware
/// (`super::pages::visitor`).
#[derive(Debug, Clone)]
pub struct Visitor {
    pub principal: Option<Principal>,
    /// The token the page's forms and htmx requests must send back.
    pub csrf_token: String,
    /// What the token is bound to: the session id, or the pre-session nonce.
    csrf_binding: CsrfBinding,
    /// SHA-256 of the session id, for sign-out.
    session_key: Option<String>,
    /// The banner of signed-in visitors' pages while the captioning model loads or after it
    /// failed to load.
    pub captioning_notice: Option<String>,
    /// Whether the pages link to the sign-up page (not when sign-up is closed).
    pub sign_up_link: bool,
}

#[derive(Debug, Clone)]
struct CsrfBinding {
    scope: &'static [u8],
    value: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A cookie readable only by the server (`HttpOnly`), sent on top-level navigations from other
/// sites (`SameSite=Lax`, needed for the sign-in callback), limited to `path`.
pub(crate) fn http_only_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
    secure: bool,
) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(secs) = max_age {
        cookie.push_str(&format!("; Max-Age={secs}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("cookie names and values are visible ASCII")
}

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, signing_key: &[u8], settings: SessionPolicy) -> Self {
        Self {
            store,
            cookie_signer: Signer::derive(signing_key, "session-cookie"),
            csrf_signer: Signer::derive(signing_key, "csrf-token"),
            settings,
            session_cookie: match settings.host_prefix {
                true => HOST_SESSION_COOKIE,
                false => SESSION_COOKIE,
            },
            presession_cookie: match settings.host_prefix {
                true => HOST_PRESESSION_COOKIE,
                false => PRESESSION_COOKIE,
            },
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        http_only_cookie(name, value, "/", max_age, self.settings.secure_cookies)
    }

    /// Signs `principal` in: a new session with a new id (never one the browser sent before),
    /// and the `Set-Cookie` value that carries it.
    pub async fn start_session(&self, principal: &Principal) -> AppResult<HeaderValue> {
        let id = random_token();
        let now = now_ms();
        let record = SessionRecord {
            principal: principal.clone(),
            created_ms: now,
            last_seen_ms: now,
        };
        self.store
            .insert(&Sha256::of(id.as_bytes()).to_string(), &record)
            .await?;
        self.store
            .remove_expired(
                now - self.settings.idle.as_millis() as i64,
                now - self.settings.absolute.as_millis() as i64,
            )
            .await?;
        let signature = self.cookie_signer.sign(&[id.as_bytes()]);
        Ok(self.cookie(
            self.session_cookie,
            &format!("{id}.{signature}"),
            Some(self.settings.absolute.as_secs()),
        ))
    }

    /// Ends the visitor's session server-side and returns the `Set-Cookie` value that clears it.
    pub async fn end_session(&self, visitor: &Visitor) -> AppResult<HeaderValue> {
        if let Some(key) = &visitor.session_key {
            self.store.remove(key).await?;
        }
        Ok(self.cookie(self.session_cookie, "", Some(0)))
    }

    /// The live session named by the cookie: `(session id, record)`. A bad signature, an unknown
    /// id or an expired session is no session (an expired one is removed).
    async fn current(&self, headers: &HeaderMap) -> AppResult<Option<(String, SessionRecord)>> {
        let Some((id, signature)) =
            cookie_value(headers, self.session_cookie).and_then(|v| v.split_once('.'))
        else {
            return Ok(None);
        };
        if !self.cookie_signer.verify(&[id.as_bytes()], signature) {
            return Ok(None);
        }
        let key = Sha256::of(id.as_bytes()).to_string();
        let Some(record) = self.store.find(&key).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let idle_ends = record.last_seen_ms + self.settings.idle.as_millis() as i64;
        let absolute_ends = record.created_ms + self.settings.absolute.as_millis() as i64;
        if now >= idle_ends || now >= absolute_ends {
            self.store.remove(&key).await?;
            return Ok(None);
        }
        if now - record.last_seen_ms >= TOUCH_EVERY_MS {
            self.store.touch(&key, now).await?;
        }
        Ok(Some((id.to_owned(), record)))
    }

    fn visitor_with(&self, principal: Option<Principal>, binding: CsrfBinding) -> Visitor {
        Visitor {
            session_key: principal
                .as_ref()
                .map(|_| Sha256::of(binding.value.as_bytes()).to_string()),
            principal,
            csrf_token: self
                .csrf_signer
                .sign(&[binding.scope, binding.value.as_bytes()]),
            csrf_binding: binding,
            captioning_notice: None,
            sign_up_link: false,
        }
    }

    /// Whether `token` is the visitor's CSRF token (checked in constant time).
    pub(crate) fn csrf_valid(&self, visitor: &Visitor, token: &str) -> bool {
        let binding = &visitor.csrf_binding;
        self.csrf_signer
            .verify(&[binding.scope, binding.value.as_bytes()], token)
    }

    /// Resolves the visitor; the second value is a new pre-session cookie to set when the
    /// visitor has neither a session nor a pre-session cookie yet.
    pub(crate) async fn visitor(
        &self,
        headers: &HeaderMap,
    ) -> AppResult<(Visitor, Option<HeaderValue>)> {
        if let Some((id, record)) = self.current(headers).await? {
            let binding = CsrfBinding {
                scope: b"session",
                value: id,
            };
            return Ok((self.visitor_with(Some(record.principal), binding), None));
        }
        let (nonce, new_cookie) = match cookie_value(headers, self.presession_cookie) {
            Some(nonce) if !nonce.is_empty() => (nonce.to_owned(), None),
            _ => {
                let nonce = random_token();
                let cookie = self.cookie(self.presession_cookie, &nonce, None);
                (nonce, Some(cookie))
            }
        };
        let binding = CsrfBinding {
            scope: b"anonymous",
            value: nonce,
        };
        Ok((self.visitor_with(None, binding), new_cookie))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; imgcap_session=x.y"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("x.y"));
        assert_eq!(cookie_value(&headers, "b"), Some("2"));
        assert_eq!(cookie_value(&headers, "imgcap"), None);
    }
}
