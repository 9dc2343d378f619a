//! Bearer-token extractors: [`Caller`] for any signed-in user, [`Admin`] for the admin role.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::domain::Principal;
use crate::error::AppError;

/// The authenticated caller; 401 without a valid `Authorization: Bearer` token.
pub struct Caller(pub Principal);

/// An authenticated administrator; 403 for other users.
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        state
            .auth
            .authenticate(token)
            .await?
            .map(Caller)
            .ok_or(AppError::Unauthorized)
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
