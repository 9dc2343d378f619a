//! Cognito access tokens as REST API bearer tokens. They are JWTs without an audience: Cognito
//! marks them with `token_use` = `access` and names the app client in `client_id`, so the
//! library's ID-token verifier does not apply; the signature is still checked with its keys.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::keys::KeyCache;
use super::{principal, CognitoGroups, Rejection};
use crate::core::domain::Principal;
use crate::core::ports::{Authenticator, BoxFuture, PortResult};

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    exp: i64,
    token_use: Option<String>,
    client_id: Option<String>,
    #[serde(flatten)]
    groups: CognitoGroups,
}

/// Verifies Cognito access tokens: RS256 signature by a key of the provider's set, issuer,
/// expiry, `token_use` = `access`, and `client_id` = this app's client.
pub struct AccessTokenVerifier {
    keys: Arc<KeyCache>,
    issuer: String,
    client_id: String,
    admin_group: String,
}

fn decode_part<T: DeserializeOwned>(part: &str, what: &str) -> Result<T, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::Malformed(format!("the {what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|e| Rejection::Malformed(format!("the {what}: {e}")))
}

impl AccessTokenVerifier {
    pub(super) fn new(
        keys: Arc<KeyCache>,
        issuer: String,
        client_id: String,
        admin_group: String,
    ) -> Self {
        Self {
            keys,
            issuer,
            client_id,
            admin_group,
        }
    }

    /// The caller of a valid access token, or why the token is refused.
    pub async fn verify(&self, token: &str) -> Result<Principal, Rejection> {
        let now = chrono::Utc::now().timestamp();
        let claims = self
            .keys
            .verify_with(|keys| verified_claims(token, keys, &self.issuer, &self.client_id, now))
            .await?;
        principal(&claims.sub, &claims.groups.groups, &self.admin_group)
    }
}

/// The claims of `token` once its signature (by one of `keys`) and claims check out.
fn verified_claims(
    token: &str,
    keys: &CoreJsonWebKeySet,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<AccessClaims, Rejection> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed("not a JSON Web Token".into()));
    };
    let header: Header = decode_part(header_b64, "header")?;
    // Decided by configuration, never by the token: `alg` may only confirm RS256.
    if header.alg != "RS256" {
        return Err(Rejection::DisallowedAlgorithm(header.alg));
    }
    let kid = header
        .kid
        .ok_or_else(|| Rejection::Malformed("the header has no key id".into()))?;
    let key = keys
        .keys()
        .iter()
        .find(|key| key.key_id().is_some_and(|id| id.as_str() == kid))
        .ok_or(Rejection::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| Rejection::Malformed("the signature is not base64url".into()))?;
    // The signing input is `header.payload`, exactly as sent.
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    key.verify_signature(
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        signed.as_bytes(),
        &signature,
    )
    .map_err(|_| Rejection::BadSignature)?;

    let claims: AccessClaims = decode_part(payload_b64, "payload")?;
    if claims.iss != issuer {
        return Err(Rejection::WrongIssuer);
    }
    if claims.exp <= now {
        return Err(Rejection::Expired);
    }
    if claims.token_use.as_deref() != Some("access") {
        return Err(Rejection::WrongTokenUse);
    }
    if claims.client_id.as_deref() != Some(client_id) {
        return Err(Rejection::WrongClient);
    }
    Ok(claims)
}

impl Authenticator for AccessTokenVerifier {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, PortResult<Option<Principal>>> {
        Box::pin(async move {
            match self.verify(token).await {
                Ok(principal) => Ok(Some(principal)),
                Err(rejection) => {
                    tracing::info!(%rejection, "bearer token refused");
                    Ok(None)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::core::CoreJsonWebKey;
    use openidconnect::JsonWebKeyId;

    fn part(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Checks that fail before any signature is computed, against a set with key `k1`.
    fn refusal(token: &str) -> Rejection {
        let keys = CoreJsonWebKeySet::new(vec![CoreJsonWebKey::new_rsa(
            vec![0xc3; 256],
            vec![1, 0, 1],
            Some(JsonWebKeyId::new("k1".into())),
        )]);
        match verified_claims(token, &keys, "https://issuer", "client", 0) {
            Err(rejection) => rejection,
            Ok(_) => panic!("{token} was accepted"),
        }
    }

    #[test]
    fn tokens_are_refused_before_the_signature_for_shape_algorithm_and_key_id() {
        let claims = part(r#"{"sub":"u"}"#);
        let with_header = |header: &str| format!("{}.{claims}.AAAA", part(header));
        let malformed = |r: Rejection| matches!(r, Rejection::Malformed(_));
        assert!(malformed(refusal("a.b")));
        assert!(malformed(refusal("a.b.c.d")));
        assert!(malformed(refusal(&format!("!!.{claims}.AAAA"))));
        assert!(malformed(refusal(&with_header("not json"))));
        assert!(malformed(refusal(&with_header(r#"{"alg":"RS256"}"#))));
        assert_eq!(
            refusal(&with_header(r#"{"alg":"none","kid":"k1"}"#)),
            Rejection::DisallowedAlgorithm("none".into())
        );
        assert_eq!(
            refusal(&with_header(r#"{"alg":"HS256","kid":"k1"}"#)),
            Rejection::DisallowedAlgorithm("HS256".into())
        );
        assert_eq!(
            refusal(&with_header(r#"{"alg":"RS256","kid":"k9"}"#)),
            Rejection::UnknownKey
        );
        let known = part(r#"{"alg":"RS256","kid":"k1"}"#);
        assert!(malformed(refusal(&format!("{known}.{claims}.!!"))));
        assert_eq!(
            refusal(&format!("{known}.{claims}.AAAA")),
            Rejection::BadSignature
        );
    }
}
