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
use crate::domain::Principal;
use crate::ports::{Authenticator, BoxFuture, PortResult};

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
            .verify_with(|keys| self.verified_claims(token, keys, now))
            .await?;
        principal(&claims.sub, &claims.groups.groups, &self.admin_group)
    }

    fn verified_claims(
        &self,
        token: &str,
        keys: &CoreJsonWebKeySet,
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
        if claims.iss != self.issuer {
            return Err(Rejection::WrongIssuer);
        }
        if claims.exp <= now {
            return Err(Rejection::Expired);
        }
        if claims.token_use.as_deref() != Some("access") {
            return Err(Rejection::WrongTokenUse);
        }
        if claims.client_id.as_deref() != Some(self.client_id.as_str()) {
            return Err(Rejection::WrongClient);
        }
        Ok(claims)
    }
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
