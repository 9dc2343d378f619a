//! The admin page: usage figures, queue depth, flush the queue, retry failed jobs.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::{render, Nav, PageError};
use crate::http::session::AdminUser;
use crate::http::{AppState, RequestId};
use crate::service::AdminStats;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_page))
        .route("/admin/flush", post(flush))
        .route("/admin/retry", post(retry))
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Nav,
    stats: AdminStats,
    notice: Option<String>,
}

async fn admin_view(
    state: &AppState,
    AdminUser(signed_in): &AdminUser,
    notice: Option<String>,
) -> Result<Response, PageError> {
    Ok(render(&AdminPage {
        nav: Nav::from(&signed_in.visitor),
        stats: state.engine.admin_stats().await?,
        notice,
    }))
}

async fn admin_page(
    State(state): State<AppState>,
    admin: AdminUser,
) -> Result<Response, PageError> {
    admin_view(&state, &admin, None).await
}

async fn flush(State(state): State<AppState>, admin: AdminUser) -> Result<Response, PageError> {
    let removed = state.engine.flush_queue().await?;
    let notice = format!("{removed} queued jobs removed; their images are marked failed.");
    admin_view(&state, &admin, Some(notice)).await
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
    )
    .await
}
