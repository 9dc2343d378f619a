//! Sign-in with the identity provider's hosted pages (Cognito hosted UI) when `[oidc]` is
//! configured: `GET /auth/login` starts the authorization-code flow, `GET /auth/callback`
//! finishes it and starts a session. The local sign-in and sign-up pages lead to the provider
//! instead (its hosted UI offers sign-up), and their forms are not served.
//!
//! Between the two requests the [`PendingLogin`] (state, nonce, PKCE verifier) waits in a
//! signed `HttpOnly` cookie scoped to `/auth` that lives no longer than a sign-in may take.
//! Signed, not encrypted: only this browser and the app see it, and the verifier is useless
//! without the code, which the provider hands out once.

use std::sync::Arc;

use anyhow::Context as _;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

use super::{not_found, render_with, Nav};
use crate::auth::oidc::{AccessTokenVerifier, OidcClient, OidcError, OidcSettings, PendingLogin};
use crate::auth::signing::Signer;
use crate::core::domain::Principal;
use crate::http::session::{cookie_value, http_only_cookie, Visitor};
use crate::http::AppState;

const PENDING_COOKIE: &str = "imgcap_sign_in";
const PENDING_COOKIE_PATH: &str = "/auth";

/// The provider's client and what the sign-in routes need around it; built once at start-up.
pub struct CognitoSignIn {
    client: OidcClient,
    pending_signer: Signer,
    /// Seconds: the pending-login cookie outlives no sign-in that may still complete.
    login_timeout_secs: u64,
    secure_cookies: bool,
}

impl CognitoSignIn {
    /// Reads the provider's discovery document and key set; fails start-up with the cause.
    pub async fn connect(
        settings: &OidcSettings,
        signing_key: &[u8],
        secure_cookies: bool,
    ) -> anyhow::Result<Self> {
        let client = OidcClient::connect(settings).await.with_context(|| {
            format!(
                "cannot set up sign-in with the identity provider `{}` (the [oidc] settings)",
                settings.issuer
            )
        })?;
        Ok(Self {
            client,
            pending_signer: Signer::derive(signing_key, "oidc-pending-login"),
            login_timeout_secs: settings.login_timeout_secs,
            secure_cookies,
        })
    }

    /// The REST API's verifier of the provider's access tokens.
    pub fn access_token_verifier(&self) -> AccessTokenVerifier {
        self.client.access_token_verifier()
    }

    /// Where sign-out sends the browser so that the provider's session ends too.
    pub fn logout_url(&self) -> Option<&str> {
        self.client.logout_url().map(|url| url.as_str())
    }

    /// The origin of [`Self::logout_url`], for the pages' `form-action` policy.
    pub fn logout_origin(&self) -> Option<String> {
        self.client
            .logout_url()
            .map(|url| url.origin().ascii_serialization())
    }

    fn pending_cookie(&self, pending: &PendingLogin) -> HeaderValue {
        let json = serde_json::to_vec(pending).expect("a pending login serializes to JSON");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let signature = self.pending_signer.sign(&[payload.as_bytes()]);
        http_only_cookie(
            PENDING_COOKIE,
            &format!("{payload}.{signature}"),
            PENDING_COOKIE_PATH,
            Some(self.login_timeout_secs),
            self.secure_cookies,
        )
    }

    fn cleared_pending_cookie(&self) -> HeaderValue {
        http_only_cookie(
            PENDING_COOKIE,
            "",
            PENDING_COOKIE_PATH,
            Some(0),
            self.secure_cookies,
        )
    }

    /// The pending login of this browser's cookie; `None` when absent or not signed by us.
    fn pending_login(&self, headers: &HeaderMap) -> Option<PendingLogin> {
        let (payload, signature) = cookie_value(headers, PENDING_COOKIE)?.split_once('.')?;
        if !self.pending_signer.verify(&[payload.as_bytes()], signature) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

pub fn routes(sign_in: Arc<CognitoSignIn>) -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        // The layout's and other pages' links still point here.
        .route("/sign-in", get(to_login).post(not_found))
        .route("/sign-up", get(to_login).post(not_found))
        .layer(Extension(sign_in))
}

async fn to_login() -> Redirect {
    Redirect::to("/auth/login")
}

async fn login(Extension(sign_in): Extension<Arc<CognitoSignIn>>, visitor: Visitor) -> Response {
    if visitor.principal.is_some() {
        return Redirect::to("/upload").into_response();
    }
    let (authorize_url, pending) = sign_in.client.begin_login();
    (
        [(SET_COOKIE, sign_in.pending_cookie(&pending))],
        Redirect::to(authorize_url.as_str()),
    )
        .into_response()
}

/// The provider's redirect back: `code` and `state`, or `error` (e.g. `access_denied` when the
/// person cancels).
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Why a callback signed no one in. The variant and its cause go to the log; the person sees
/// [`CallbackError::public_message`].
#[derive(Debug, thiserror::Error)]
enum CallbackError {
    #[error("the identity provider answered `{error}`: {description}")]
    Provider { error: String, description: String },
    #[error("this browser has no pending sign-in (expired, already used, or cookies blocked)")]
    NoPendingLogin,
    #[error("the callback carries no `code` or no `state`")]
    Incomplete,
    #[error(transparent)]
    Login(#[from] OidcError),
}

impl CallbackError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Login(OidcError::Busy | OidcError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn public_message(&self) -> &'static str {
        match self {
            Self::Provider { error, .. } if error == "access_denied" => {
                "Sign-in was cancelled or not allowed. You can try again."
            }
            Self::Provider { .. } => "The sign-in service could not sign you in. Please try again.",
            // To the person, these are a sign-in link that no longer works.
            Self::NoPendingLogin | Self::Incomplete => OidcError::LoginExpired.public_message(),
            Self::Login(err) => err.public_message(),
        }
    }
}

async fn complete(
    sign_in: &CognitoSignIn,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> Result<Principal, CallbackError> {
    if let Some(error) = query.error {
        return Err(CallbackError::Provider {
            error,
            description: query.error_description.unwrap_or_default(),
        });
    }
    let pending = sign_in
        .pending_login(headers)
        .ok_or(CallbackError::NoPendingLogin)?;
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return Err(CallbackError::Incomplete);
    };
    Ok(sign_in
        .client
        .complete_login(pending, &state, &code)
        .await?)
}

#[derive(Template)]
#[template(path = "sign_in_failed.html")]
struct SignInFailedPage {
    nav: Nav,
    message: &'static str,
}

/// Signs the person in with a new session and goes home, or explains why not. Either way the
/// pending login is spent: its cookie is cleared.
async fn callback(
    State(state): State<AppState>,
    Extension(sign_in): Extension<Arc<CognitoSignIn>>,
    visitor: Visitor,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let mut response = match complete(&sign_in, &headers, query).await {
        Ok(principal) => match state.sessions.start_session(&principal).await {
            Ok(session_cookie) => {
                tracing::info!(user = %principal.user, admin = principal.admin, "signed in");
                ([(SET_COOKIE, session_cookie)], Redirect::to("/")).into_response()
            }
            Err(err) => super::PageError(err).into_response(),
        },
        Err(err) => {
            let status = err.status();
            if status.is_server_error() {
                tracing::warn!(error = ?err, "sign-in callback failed");
            } else {
                tracing::info!(error = %err, "sign-in callback refused");
            }
            let page = SignInFailedPage {
                nav: Nav::from(&visitor),
                message: err.public_message(),
            };
            render_with(status, &page)
        }
    };
    response
        .headers_mut()
        .append(SET_COOKIE, sign_in.cleared_pending_cookie());
    response
}
