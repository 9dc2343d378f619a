//! Sign-up and sign-in with local accounts; sign-out; the Account page (API tokens, export,
//! delete all my data).
//!
//! Sign-up follows the configured policy (`open`, `invite`, `closed`) and is throttled per
//! client address; sign-in is throttled per user name and address for untrusted clients and
//! per device for the account's trusted devices (`crate::http::device`).

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::visitor::SignedIn;
use super::{friendly_message, minutes, render, render_with, Nav, PageError};
use crate::auth::api_tokens::TokenInfo;
use crate::auth::local_accounts::{check_new, MIN_PASSWORD_CHARS};
use crate::auth::sign_in_throttle::SignInClient;
use crate::config::SignUpPolicy;
use crate::core::domain::rfc3339_ms;
use crate::core::ports::RateDecision;
use crate::error::{retry_after_value, AppError};
use crate::http::session::Visitor;
use crate::http::AppState;
use crate::telemetry::SignInOutcome;

/// The local accounts' forms, served when no identity provider is configured.
pub fn local_sign_in_routes() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-up", get(sign_up_page).post(sign_up))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign-out", post(sign_out))
        .route("/account", get(account_page))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route(
            "/account/delete-data",
            get(delete_data_page).post(delete_data),
        )
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    nav: Nav,
    /// `true` for the sign-up form.
    new_account: bool,
    user_name: String,
    error: Option<String>,
    min_password: usize,
    /// The sign-up form asks for an invite code.
    invite: bool,
}

#[derive(Deserialize)]
struct Credentials {
    user_name: String,
    password: String,
    /// The invite code, when sign-up is by invitation.
    #[serde(default)]
    invite: String,
}

fn credentials_page(
    state: &AppState,
    visitor: &Visitor,
    new_account: bool,
    user_name: String,
    error: Option<String>,
) -> SignInPage {
    SignInPage {
        nav: Nav::from(visitor),
        new_account,
        user_name,
        error,
        min_password: MIN_PASSWORD_CHARS,
        invite: state.sign_up.policy() == SignUpPolicy::Invite,
    }
}

/// The form again with `message`, answered 429 with `Retry-After`.
fn throttled_form(page: SignInPage, retry_after: Duration) -> Response {
    (
        [(RETRY_AFTER, retry_after_value(retry_after))],
        render_with(StatusCode::TOO_MANY_REQUESTS, &page),
    )
        .into_response()
}

/// The empty form; signed-in visitors go on to the upload page.
fn empty_credentials_page(state: &AppState, visitor: &Visitor, new_account: bool) -> Response {
    if visitor.principal.is_some() {
        return Redirect::to("/upload").into_response();
    }
    render(&credentials_page(
        state,
        visitor,
        new_account,
        String::new(),
        None,
    ))
}

async fn sign_in_page(State(state): State<AppState>, visitor: Visitor) -> Response {
    empty_credentials_page(&state, &visitor, false)
}

/// Nobody may create an account (`sign_up_policy = "closed"`): 403 on the page and the form.
const SIGN_UP_CLOSED: &str =
    "sign-up is closed on this service: ask an administrator to create an account for you";

async fn sign_up_page(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    if state.sign_up.policy() == SignUpPolicy::Closed {
        return Err(AppError::Forbidden(SIGN_UP_CLOSED).into());
    }
    Ok(empty_credentials_page(&state, &visitor, true))
}

/// Starts a session for `principal`, marks the browser as a trusted device of the account,
/// and goes to the upload page.
async fn signed_in_redirect(
    state: &AppState,
    principal: &crate::core::domain::Principal,
) -> Result<Response, PageError> {
    let cookie = state.sessions.start_session(principal).await?;
    let device = state.device_cookies.issue(&principal.user);
    Ok((
        AppendHeaders([(SET_COOKIE, cookie), (SET_COOKIE, device)]),
        Redirect::to("/upload"),
    )
        .into_response())
}

/// Checks the password unless the client has too many recent failures: a trusted device of the
/// account its own, an untrusted client those of the user name and the address. Unknown and
/// known user names are throttled alike.
async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, PageError> {
    let metrics = state.engine.metrics();
    let throttle = &state.sign_in_throttle;
    let client = SignInClient {
        user_name: &form.user_name,
        address: peer.ip(),
        device: state.device_cookies.trusted(&headers, &form.user_name),
    };
    if let RateDecision::Limited { retry_after } = throttle.attempt(&client).await? {
        metrics.sign_in(SignInOutcome::Throttled);
        let message = format!(
            "Too many sign-in attempts — try again in {}",
            minutes(retry_after)
        );
        let page = credentials_page(&state, &visitor, false, form.user_name, Some(message));
        return Ok(throttled_form(page, retry_after));
    }
    match state
        .accounts
        .verify(&form.user_name, &form.password)
        .await?
    {
        Some(principal) => {
            throttle.succeeded(&client).await?;
            metrics.sign_in(SignInOutcome::SignedIn);
            signed_in_redirect(&state, &principal).await
        }
        None => {
            metrics.sign_in(SignInOutcome::Refused);
            Ok(render_with(
                StatusCode::UNAUTHORIZED,
                &credentials_page(
                    &state,
                    &visitor,
                    false,
                    form.user_name,
                    Some("That user name and password do not match an account".into()),
                ),
            ))
        }
    }
}

/// Creates an account as the policy allows. The name and password are checked before the
/// address's sign-up allowance is taken, so a typo does not spend it; everything after costs an
/// argon2 hash.
async fn sign_up(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    visitor: Visitor,
    Form(form): Form<Credentials>,
) -> Result<Response, PageError> {
    let policy = state.sign_up.policy();
    if policy == SignUpPolicy::Closed {
        return Err(AppError::Forbidden(SIGN_UP_CLOSED).into());
    }
    let form_with = |message: String| {
        credentials_page(
            &state,
            &visitor,
            true,
            form.user_name.clone(),
            Some(message),
        )
    };
    let refused = |err: AppError| render_with(err.status(), &form_with(friendly_message(&err)));
    if let Err(err) = check_new(&form.user_name, &form.password) {
        return Ok(refused(err));
    }
    if let RateDecision::Limited { retry_after } = state.sign_up.attempt(peer.ip()).await? {
        let message = format!(
            "Too many accounts were created from your network — try again in {}",
            minutes(retry_after)
        );
        return Ok(throttled_form(form_with(message), retry_after));
    }
    let accounts = &state.accounts;
    let created = match policy {
        SignUpPolicy::Invite => {
            accounts
                .create_invited(&form.user_name, &form.password, &form.invite)
                .await
        }
        _ => {
            accounts
                .create(&form.user_name, &form.password, false)
                .await
        }
    };
    match created {
        Ok(principal) => signed_in_redirect(&state, &principal).await,
        Err(
            err @ (AppError::BadRequest { .. } | AppError::Conflict(_) | AppError::Forbidden(_)),
        ) => Ok(refused(err)),
        Err(err) => Err(err.into()),
    }
}

async fn sign_out(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let cookie = state.sessions.end_session(&visitor).await?;
    let next = match &state.oidc {
        // The provider's session would sign the browser straight back in: end it too.
        Some(provider) => provider.logout_url().unwrap_or("/"),
        None => "/sign-in",
    };
    Ok(([(SET_COOKIE, cookie)], Redirect::to(next)).into_response())
}

struct TokenRow {
    id: String,
    created_at: String,
    /// `None`: the token works until revoked.
    expires_at: Option<String>,
    admin: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    user: String,
    admin: bool,
    tokens: Vec<TokenRow>,
    /// A token just created, shown once.
    new_token: Option<String>,
    notice: Option<&'static str>,
}

async fn account_view(
    state: &AppState,
    signed_in: &SignedIn,
    new_token: Option<String>,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let principal = &signed_in.principal;
    let tokens = state
        .api_tokens
        .list_tokens(&principal.user)
        .await?
        .into_iter()
        .map(
            |TokenInfo {
                 id,
                 admin,
                 created_ms,
                 expires_ms,
             }| TokenRow {
                id,
                admin,
                created_at: rfc3339_ms(created_ms),
                expires_at: expires_ms.map(rfc3339_ms),
            },
        )
        .collect();
    Ok(render(&AccountPage {
        nav: Nav::from(&signed_in.visitor),
        user: principal.user.to_string(),
        admin: principal.admin,
        tokens,
        new_token,
        notice,
    }))
}

#[derive(Deserialize)]
struct AccountQuery {
    deleted: Option<String>,
}

async fn account_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    axum::extract::Query(query): axum::extract::Query<AccountQuery>,
) -> Result<Response, PageError> {
    let notice = query
        .deleted
        .map(|_| "All your images, captions and jobs are deleted.");
    account_view(&state, &signed_in, None, notice).await
}

async fn create_token(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let principal = &signed_in.principal;
    // With an identity provider, the admin role is its group membership at each sign-in; a
    // token that never expires must not keep it after the person leaves the group.
    let admin = principal.admin && state.oidc.is_none();
    let token = state
        .api_tokens
        .create_token(&principal.user, admin)
        .await?;
    account_view(&state, &signed_in, Some(token), None).await
}

async fn revoke_token(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    if !state
        .api_tokens
        .revoke_token(&signed_in.principal.user, &id)
        .await?
    {
        return Err(AppError::NotFound("you have no such API token").into());
    }
    account_view(&state, &signed_in, None, Some("The API token is revoked.")).await
}

#[derive(Template)]
#[template(path = "delete_data.html")]
struct DeleteDataPage {
    nav: Nav,
}

async fn delete_data_page(signed_in: SignedIn) -> Response {
    render(&DeleteDataPage {
        nav: Nav::from(&signed_in.visitor),
    })
}

async fn delete_data(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Redirect, PageError> {
    state.engine.delete_user(&signed_in.principal.user).await?;
    Ok(Redirect::to("/account?deleted=1"))
}
