//! The pages' side of sessions: the middleware that resolves the [`Visitor`] of every page
//! request and checks its CSRF token, and the extractors for signed-in users and
//! administrators (which answer with pages, hence here and not in `http::session`).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::PageError;
use crate::core::domain::Principal;
use crate::error::AppError;
use crate::http::session::{Visitor, CSRF_FIELD, CSRF_HEADER, MAX_FORM_BYTES};
use crate::http::AppState;

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The CSRF token a state-changing request carries: the header, else the form field (the body
/// is read and put back for the handler).
async fn submitted_csrf_token(request: Request) -> Result<(Option<String>, Request), AppError> {
    if let Some(token) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return Ok((Some(token.to_owned()), request));
    }
    if !is_form(request.headers()) {
        return Ok((None, request));
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| AppError::bad_request("invalid_form", "the form is too large"))?;
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(name, _)| name == CSRF_FIELD)
                .map(|(_, value)| value)
        });
    Ok((token, Request::from_parts(parts, Body::from(bytes))))
}

/// Page middleware: resolves the [`Visitor`] into the request's extensions and refuses
/// POST, PUT, PATCH and DELETE without the visitor's CSRF token (403).
pub async fn visitor_context(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut visitor, new_cookie) = match state.sessions.visitor(request.headers()).await {
        Ok(resolved) => resolved,
        Err(err) => return PageError(err).into_response(),
    };
    if visitor.principal.is_some() {
        visitor.captioning_notice = state.engine.captioning_notice();
    }
    visitor.sign_up_link = state.offers_sign_up();
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let mut request = request;
    if !safe {
        let (token, body_restored) = match submitted_csrf_token(request).await {
            Ok(found) => found,
            Err(err) => return PageError(err).into_response(),
        };
        request = body_restored;
        if !token.is_some_and(|token| state.sessions.csrf_valid(&visitor, &token)) {
            return PageError(AppError::Forbidden(
                "this form has expired or did not come from this site; reload the page and try again",
            ))
            .into_response();
        }
    }
    request.extensions_mut().insert(visitor);
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        parts.extensions.get::<Visitor>().cloned().ok_or_else(|| {
            PageError(AppError::Internal(anyhow::anyhow!(
                "a page route runs without the visitor middleware"
            )))
        })
    }
}

/// A signed-in visitor; others are sent to the sign-in page.
pub struct SignedIn {
    pub principal: Principal,
    pub visitor: Visitor,
}

/// A signed-in administrator; other signed-in users get 403.
pub struct AdminUser(pub SignedIn);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match visitor.principal.clone() {
            Some(principal) => Ok(SignedIn { principal, visitor }),
            None if parts.headers.contains_key("hx-request") => Err((
                axum::http::StatusCode::UNAUTHORIZED,
                [("hx-redirect", "/sign-in")],
            )
                .into_response()),
            None => Err(axum::response::Redirect::to("/sign-in").into_response()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.principal.admin {
            Ok(AdminUser(signed_in))
        } else {
            Err(
                PageError(AppError::Forbidden("this page is for administrators only"))
                    .into_response(),
            )
        }
    }
}
