//! Device cookies of the local sign-in (OWASP's "Slow down online guessing attacks with device
//! cookies"): after a successful sign-in the browser gets a cookie, signed for that account,
//! that marks it as a trusted device of the account. The sign-in throttle counts a trusted
//! device's failures apart from everyone else's (`crate::auth::sign_in_throttle`), so a
//! stranger's wrong passwords cannot lock the owner out of a browser they have used before.
//!
//! The cookie is `<device id>.<expiry, epoch seconds>.<HMAC over user name, id and expiry>`.
//! The user name is not in it: it is checked against the name typed on the form, so a cookie
//! proves nothing for any other account. It is sent only to `/sign-in`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use super::session::{cookie_value, http_only_cookie};
use crate::auth::local_accounts::normalised_user_name;
use crate::auth::signing::Signer;
use crate::core::domain::{now_ms, UserId};

const DEVICE_COOKIE: &str = "imgcap_device";
/// How long a browser stays a trusted device without signing in again (each sign-in issues a
/// new cookie). Long, because it only relaxes throttling: it is no session.
const LIFETIME: Duration = Duration::from_secs(180 * 86_400);

pub struct DeviceCookies {
    signer: Signer,
    secure: bool,
}

impl DeviceCookies {
    pub fn new(signing_key: &[u8], secure: bool) -> Self {
        Self {
            signer: Signer::derive(signing_key, "device-cookie"),
            secure,
        }
    }

    /// The device id of the request's device cookie when it was issued for `user_name` (as
    /// typed) and has not expired; `None` for an untrusted client.
    pub fn trusted<'a>(&self, headers: &'a HeaderMap, user_name: &str) -> Option<&'a str> {
        let mut parts = cookie_value(headers, DEVICE_COOKIE)?.splitn(3, '.');
        let (id, expires, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let name = normalised_user_name(user_name);
        let valid = self.signer.verify(
            &[name.as_bytes(), id.as_bytes(), expires.as_bytes()],
            signature,
        );
        let unexpired = expires
            .parse::<i64>()
            .is_ok_and(|secs| secs > now_ms() / 1000);
        (valid && unexpired).then_some(id)
    }

    /// The `Set-Cookie` value of a new device cookie for `user`, issued at each sign-in.
    pub fn issue(&self, user: &UserId) -> HeaderValue {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let expires = (now_ms() / 1000 + LIFETIME.as_secs() as i64).to_string();
        let signature =
            self.signer
                .sign(&[user.as_str().as_bytes(), id.as_bytes(), expires.as_bytes()]);
        http_only_cookie(
            DEVICE_COOKIE,
            &format!("{id}.{expires}.{signature}"),
            "/sign-in",
            Some(LIFETIME.as_secs()),
            self.secure,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;

    fn request_with(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(pair).unwrap());
        headers
    }

    #[test]
    fn a_cookie_trusts_the_device_for_its_account_only() {
        let cookies = DeviceCookies::new(b"a signing key of at least 32 bytes!", false);
        let alice: UserId = "alice".parse().unwrap();
        let headers = request_with(&cookies.issue(&alice));
        assert!(cookies.trusted(&headers, " Alice ").is_some());
        assert!(cookies.trusted(&headers, "bob").is_none());
        assert!(cookies.trusted(&HeaderMap::new(), "alice").is_none());
        let other_key = DeviceCookies::new(b"another signing key of 32 bytes!!", false);
        assert!(other_key.trusted(&headers, "alice").is_none());
    }
}
