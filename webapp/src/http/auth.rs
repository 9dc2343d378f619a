//! Bearer-token extractors: [`Caller`] for any signed-in user, [`Admin`] for the admin role;
//! [`BearerTokens`], the tokens they accept.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::AppState;
use crate::auth::api_tokens::{is_personal_token, TokenAuthenticator};
use crate::auth::oidc::AccessTokenVerifier;
use crate::core::domain::Principal;
use crate::core::ports::{Authenticator, BoxFuture, PortResult};
use crate::error::AppError;

/// The REST API's tokens: personal API tokens (`imgcap_...`, made on the Account page or with
/// `imgcap-webapp create-token`) and, when the identity provider is configured, its access
/// tokens. A token's shape picks the one authenticator that checks it, so no token is tried
/// against both and each keeps its own rules. Personal tokens stay in use with Cognito because
/// scripts and the deploy smoke test need a credential that outlives an access token's hour.
/// Cognito does not know them: disabling a user there does not end them (revoke them on the
/// Account page), and those made on the Account page never carry the admin role.
pub struct BearerTokens {
    personal: Arc<TokenAuthenticator>,
    provider: Option<AccessTokenVerifier>,
}

impl BearerTokens {
    pub fn new(personal: Arc<TokenAuthenticator>, provider: Option<AccessTokenVerifier>) -> Self {
        Self { personal, provider }
    }
}

impl Authenticator for BearerTokens {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, PortResult<Option<Principal>>> {
        match &self.provider {
            Some(provider) if !is_personal_token(token) => provider.authenticate(token),
            _ => self.personal.authenticate(token),
        }
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The authenticated caller; 401 without a valid `Authorization: Bearer` token.
pub struct Caller(pub Principal);

/// An authenticated administrator; 403 for other users.
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer_token(&parts.headers).ok_or(AppError::Unauthorized)?;
        if let Some(principal) = state.auth.authenticate(token).await? {
            return Ok(Caller(principal));
        }
        // A refused personal token is looked up again only to say why.
        if is_personal_token(token) && state.api_tokens.expired(token).await? {
            return Err(AppError::TokenExpired);
        }
        Err(AppError::Unauthorized)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if principal.admin {
            Ok(Admin(principal))
        } else {
            Err(AppError::Forbidden("this needs the admin role"))
        }
    }
}
