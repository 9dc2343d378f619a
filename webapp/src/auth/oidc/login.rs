//! The authorization-code flow with PKCE (S256), state and nonce.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::url::Url;
use openidconnect::{
    AuthorizationCode, Client, ClientId, CsrfToken, EmptyExtraTokenFields, EndpointNotSet,
    EndpointSet, IdTokenFields, IssuerUrl, JsonWebKeySet, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse,
    TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::access::AccessTokenVerifier;
use super::keys::KeyCache;
use super::settings::OidcSettings;
use super::{principal, CognitoGroups, OidcError, Rejection};
use crate::adapters::outbound;
use crate::core::domain::{Principal, Sha256};

type CognitoTokenResponse = StandardTokenResponse<
    IdTokenFields<
        CognitoGroups,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// `CoreClient` with the `cognito:groups` claim; in use, the authorization and token endpoints
/// are set.
type CognitoClient<HasAuthUrl = EndpointSet, HasTokenUrl = EndpointSet> = Client<
    CognitoGroups,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    CognitoTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    HasAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
    EndpointNotSet,
>;

/// Upper bound of remembered used states (one per completed or failed callback within the
/// login timeout), so a flood of callbacks cannot grow memory without end.
const MAX_USED_STATES: usize = 100_000;

/// The states already presented to a callback (as SHA-256), each with the Unix second after
/// which its pending login is refused as expired anyway, so the entry can go. Per process: the
/// provider's single-use codes cover replays across instances.
struct UsedStates {
    entries: Mutex<HashMap<Sha256, i64>>,
    capacity: usize,
}

impl UsedStates {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Remembers `state` as used; a second use is a replay.
    fn mark(&self, state: Sha256, expires_at: i64, now: i64) -> Result<(), OidcError> {
        let mut entries = self.entries.lock().expect("used-state lock poisoned");
        if entries.contains_key(&state) {
            return Err(OidcError::StateReplayed);
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, until| *until > now);
            if entries.len() >= self.capacity {
                return Err(OidcError::Busy);
            }
        }
        entries.insert(state, expires_at);
        Ok(())
    }
}

/// A started sign-in, kept by the caller between [`OidcClient::begin_login`] and the callback.
/// It holds secrets (the PKCE verifier): store it where the browser can neither read nor change
/// it, e.g. an encrypted session or an `HttpOnly` signed cookie scoped to the callback.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    /// Unix seconds.
    started_at: i64,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// Sign-in through the provider's hosted pages; built once at start-up and shared (`Arc`).
pub struct OidcClient {
    client: CognitoClient,
    http: reqwest::Client,
    issuer: IssuerUrl,
    client_id: ClientId,
    scopes: Vec<Scope>,
    keys: Arc<KeyCache>,
    admin_group: String,
    login_timeout: Duration,
    logout: Option<Url>,
    used_states: UsedStates,
}

/// The one HTTP client for the provider: no redirects, bounded time.
fn provider_http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client for the identity provider")
}

async fn read_discovery(
    http: &reqwest::Client,
    url: &Url,
    issuer: &IssuerUrl,
) -> anyhow::Result<CoreProviderMetadata> {
    let response = http
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("cannot read the OpenID discovery document at {url}"))?;
    let body = outbound::read_body(response)
        .await
        .with_context(|| format!("cannot read the OpenID discovery document at {url}"))?;
    let metadata: CoreProviderMetadata = serde_json::from_slice(&body)
        .with_context(|| format!("the OpenID discovery document at {url} is not valid"))?;
    anyhow::ensure!(
        metadata.issuer() == issuer,
        "the discovery document at {url} is for issuer `{}`, but `oidc.issuer` is `{}`",
        metadata.issuer().as_str(),
        issuer.as_str()
    );
    Ok(metadata)
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl OidcClient {
    /// Reads the discovery document (unless every endpoint is configured) and the key set;
    /// fails with a message naming the setting or URL at fault.
    pub async fn connect(settings: &OidcSettings) -> anyhow::Result<Self> {
        let parsed = settings.parse().map_err(anyhow::Error::msg)?;
        let http = provider_http_client()?;
        let metadata = match &parsed.discovery {
            Some(url) => Some(read_discovery(&http, url, &parsed.issuer).await?),
            None => None,
        };
        let authorize_url = parsed
            .authorize_url
            .or_else(|| {
                metadata
                    .as_ref()
                    .map(|m| m.authorization_endpoint().clone())
            })
            .context("no authorization endpoint: set `oidc.authorize_url`")?;
        let token_url = parsed
            .token_url
            .or_else(|| metadata.as_ref().and_then(|m| m.token_endpoint().cloned()))
            .context("the discovery document has no token endpoint: set `oidc.token_url`")?;
        let jwks_url = parsed
            .jwks_url
            .or_else(|| metadata.as_ref().map(|m| m.jwks_uri().clone()))
            .context("no key set URL: set `oidc.jwks_url`")?;
        let keys = KeyCache::load(jwks_url, http.clone(), parsed.jwks_refresh_min_interval).await?;
        // The client's own key set stays empty: ID tokens are verified against `keys`, which
        // follows the provider's rotations.
        let mut client = CognitoClient::<EndpointNotSet, EndpointNotSet>::new(
            parsed.client_id.clone(),
            parsed.issuer.clone(),
            JsonWebKeySet::new(Vec::new()),
        )
        .set_auth_uri(authorize_url)
        .set_token_uri(token_url)
        .set_redirect_uri(parsed.redirect_url);
        if let Some(secret) = parsed.client_secret {
            client = client.set_client_secret(secret);
        }
        Ok(Self {
            client,
            http,
            issuer: parsed.issuer,
            client_id: parsed.client_id,
            scopes: parsed.scopes.into_iter().map(Scope::new).collect(),
            keys: Arc::new(keys),
            admin_group: parsed.admin_group,
            login_timeout: parsed.login_timeout,
            logout: parsed.logout,
            used_states: UsedStates::new(MAX_USED_STATES),
        })
    }

    /// The URL to send the browser to, and what the callback needs to finish the sign-in.
    pub fn begin_login(&self) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.scopes.iter().cloned())
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            started_at: now_secs(),
        };
        (url, pending)
    }

    /// Finishes the sign-in from the callback's `state` and `code`: checks the state (once
    /// only), trades the code and PKCE verifier for tokens, and verifies the ID token (issuer,
    /// audience, expiry, nonce, RS256 signature).
    pub async fn complete_login(
        &self,
        pending: PendingLogin,
        returned_state: &str,
        code: &str,
    ) -> Result<Principal, OidcError> {
        // Comparing digests keeps the comparison's time independent of the secret.
        let state = Sha256::of(pending.state.as_bytes());
        if Sha256::of(returned_state.as_bytes()) != state {
            return Err(OidcError::StateMismatch);
        }
        let now = now_secs();
        let expires_at = pending.started_at + self.login_timeout.as_secs() as i64;
        // A start time far in the future is not from this app (a minute covers clock skew
        // between instances).
        if now >= expires_at || pending.started_at > now + 60 {
            return Err(OidcError::LoginExpired);
        }
        self.used_states.mark(state, expires_at, now)?;

        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&outbound::capped(&self.http))
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(response) => {
                    OidcError::CodeRejected(response.to_string())
                }
                RequestTokenError::Request(err) => {
                    OidcError::Unavailable(anyhow::Error::new(err).context("token request failed"))
                }
                RequestTokenError::Parse(err, _) => OidcError::BadTokenResponse(err.to_string()),
                // Includes answers other than 200 without a body, such as redirects.
                RequestTokenError::Other(message) => OidcError::BadTokenResponse(message),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| Rejection::Malformed("the token response has no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let (subject, groups) = self
            .keys
            .verify_with(|keys| {
                // The library's defaults: RS256 only, `aud` must hold our client id and no
                // untrusted other audience, `exp` in the future.
                let verifier = CoreIdTokenVerifier::new_public_client(
                    self.client_id.clone(),
                    self.issuer.clone(),
                    keys.clone(),
                );
                let claims = id_token.claims(&verifier, &nonce)?;
                Ok((
                    claims.subject().to_string(),
                    claims.additional_claims().groups.clone(),
                ))
            })
            .await?;
        Ok(principal(&subject, &groups, &self.admin_group)?)
    }

    /// Where to send the browser at sign-out so that the provider's session ends too
    /// (Cognito's `/logout?client_id=..&logout_uri=..`); `None` when not configured.
    pub fn logout_url(&self) -> Option<&Url> {
        self.logout.as_ref()
    }

    /// The bearer-token authenticator for the REST API, sharing this client's key cache.
    pub fn access_token_verifier(&self) -> AccessTokenVerifier {
        AccessTokenVerifier::new(
            self.keys.clone(),
            self.issuer.as_str().to_owned(),
            self.client_id.as_str().to_owned(),
            self.admin_group.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_used_once_and_expired_entries_make_room() {
        let used = UsedStates::new(2);
        let (a, b, c) = (Sha256::of(b"a"), Sha256::of(b"b"), Sha256::of(b"c"));
        used.mark(a, 100, 0).unwrap();
        used.mark(b, 200, 0).unwrap();
        assert!(matches!(
            used.mark(a, 100, 10),
            Err(OidcError::StateReplayed)
        ));
        // Full of entries still in their time: refuse rather than grow.
        assert!(matches!(used.mark(c, 300, 10), Err(OidcError::Busy)));
        // At 150 the entry of `a` has expired (its pending login would be refused anyway).
        used.mark(c, 300, 150).unwrap();
        assert!(matches!(
            used.mark(b, 200, 150),
            Err(OidcError::StateReplayed)
        ));
    }

    #[test]
    fn pending_logins_do_not_show_their_secrets() {
        let pending = PendingLogin {
            state: "state-secret".into(),
            nonce: "nonce-secret".into(),
            pkce_verifier: "verifier-secret".into(),
            started_at: 1,
        };
        assert!(!format!("{pending:?}").contains("secret"));
    }
}
