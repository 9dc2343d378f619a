//! The admin page: usage figures, queue depth, flush the queue, retry failed jobs, sign-up
//! invite codes.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::visitor::AdminUser;
use super::{render, Nav, PageError};
use crate::auth::sign_up::INVITE_LIFETIME;
use crate::config::SignUpPolicy;
use crate::core::engine::AdminStats;
use crate::http::{AppState, RequestId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_page))
        .route("/admin/flush", post(flush))
        .route("/admin/retry", post(retry))
        .route("/admin/invites", post(create_invite))
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Nav,
    stats: AdminStats,
    notice: Option<String>,
    /// Sign-up is by invitation: the page offers to create invite codes.
    invites: bool,
    /// An invite code just created, shown once.
    new_invite: Option<String>,
    invite_days: u64,
}

/// The page, with a notice of what was just done and an invite code just created.
async fn admin_view(
    state: &AppState,
    AdminUser(signed_in): &AdminUser,
    notice: Option<String>,
    new_invite: Option<String>,
) -> Result<Response, PageError> {
    Ok(render(&AdminPage {
        nav: Nav::from(&signed_in.visitor),
        stats: state.engine.admin_stats().await?,
        notice,
        invites: state.sign_up.policy() == SignUpPolicy::Invite,
        new_invite,
        invite_days: INVITE_LIFETIME.as_secs() / 86_400,
    }))
}

/// A single-use invite code for the sign-up page (`sign_up_policy = "invite"`), shown once.
async fn create_invite(
    State(state): State<AppState>,
    admin: AdminUser,
) -> Result<Response, PageError> {
    let code = state
        .sign_up
        .create_invite(admin.0.principal.user.as_str())
        .await?;
    admin_view(&state, &admin, None, Some(code)).await
}

async fn admin_page(
    State(state): State<AppState>,
    admin: AdminUser,
) -> Result<Response, PageError> {
    admin_view(&state, &admin, None, None).await
}

async fn flush(State(state): State<AppState>, admin: AdminUser) -> Result<Response, PageError> {
    let removed = state.engine.flush_queue().await?;
    let notice = format!("{removed} queued jobs removed; their images are marked failed.");
    admin_view(&state, &admin, Some(notice), None).await
}

async fn retry(
    State(state): State<AppState>,
    admin: AdminUser,
    RequestId(request_id): RequestId,
) -> Result<Response, PageError> {
    let queued = state.engine.retry_failed(&request_id).await?;
    admin_view(
        &state,
        &admin,
        Some(format!("{queued} failed images queued again.")),
        None,
    )
    .await
}
