//! The server-rendered pages (askama templates under `webapp/templates/`, htmx for partial
//! updates) and the files under `/static/`. Every page calls the same [`crate::core::engine::Engine`]
//! as the REST API; only the presentation differs.

mod account;
mod admin;
mod cognito;
mod exports;
mod history;
mod images;
mod provenance;
mod visitor;

pub use cognito::CognitoSignIn;

use std::time::Duration;

use askama::Template;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use imgcap_imaging::ImageError;

use super::session::Visitor;
use super::AppState;
use crate::error::AppError;
use visitor::visitor_context;

pub fn routes(state: AppState) -> Router<AppState> {
    let sign_in = match &state.oidc {
        Some(provider) => cognito::routes(provider.clone()),
        None => account::local_sign_in_routes(),
    };
    Router::new()
        .route("/", get(home))
        .route("/privacy", get(privacy))
        .merge(sign_in)
        .merge(account::routes())
        .merge(images::routes())
        .merge(history::routes())
        .merge(exports::routes())
        .merge(provenance::routes())
        .merge(admin::routes())
        .layer(middleware::from_fn_with_state(state, visitor_context))
}

/// The vendored and own front-end files, compiled into the binary.
pub fn static_routes() -> Router<AppState> {
    const FILES: [(&str, &str, &str); 3] = [
        (
            "/static/htmx.min.js",
            "text/javascript; charset=utf-8",
            include_str!("../../../static/htmx.min.js"),
        ),
        (
            "/static/app.js",
            "text/javascript; charset=utf-8",
            include_str!("../../../static/app.js"),
        ),
        (
            "/static/app.css",
            "text/css; charset=utf-8",
            include_str!("../../../static/app.css"),
        ),
    ];
    FILES
        .into_iter()
        .fold(Router::new(), |router, (path, content_type, body)| {
            router.route(
                path,
                get(move || async move {
                    (
                        [
                            (header::CONTENT_TYPE, content_type),
                            (header::CACHE_CONTROL, "public, max-age=3600"),
                        ],
                        body,
                    )
                }),
            )
        })
}

/// What the layout needs on every page: who is signed in and the CSRF token.
pub struct Nav {
    pub user: Option<String>,
    pub admin: bool,
    pub csrf: String,
    /// The captioning model's banner (loading, or failed to load).
    pub captioning_notice: Option<String>,
    /// Links to the sign-up page (hidden when sign-up is closed).
    pub sign_up_link: bool,
}

impl From<&Visitor> for Nav {
    fn from(visitor: &Visitor) -> Self {
        Self {
            user: visitor.principal.as_ref().map(|p| p.user.to_string()),
            admin: visitor.principal.as_ref().is_some_and(|p| p.admin),
            csrf: visitor.csrf_token.clone(),
            captioning_notice: visitor.captioning_notice.clone(),
            sign_up_link: visitor.sign_up_link,
        }
    }
}

/// Renders a template as an HTML answer.
fn render(template: &impl Template) -> Response {
    render_with(StatusCode::OK, template)
}

fn render_with(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => PageError(AppError::Internal(anyhow::anyhow!(
            "cannot render a template: {err}"
        )))
        .into_response(),
    }
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// `1 MB`, `1.5 MB`: limits as people read them.
fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

/// A wait as people read it, in whole minutes rounded up: `1 minute`, `15 minutes`.
fn minutes(wait: Duration) -> String {
    match wait.as_secs().div_ceil(60).max(1) {
        1 => "1 minute".into(),
        n => format!("{n} minutes"),
    }
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// What a person is told when a page request fails (the API keeps its own wording).
pub fn friendly_message(err: &AppError) -> String {
    match err {
        AppError::PayloadTooLarge { limit } => {
            format!("Image too large — the limit is {}", megabytes(*limit))
        }
        AppError::UnsupportedMediaType(_)
        | AppError::InvalidImage(ImageError::UnsupportedFormat) => {
            "That file is not a JPEG or PNG".into()
        }
        AppError::InvalidImage(ImageError::Empty) => "That file is empty".into(),
        AppError::InvalidImage(ImageError::Decode(_)) => {
            "That image is damaged or incomplete and cannot be read".into()
        }
        AppError::RateLimited { retry_after } => format!(
            "You have reached the upload limit for now — try again in {}",
            minutes(*retry_after)
        ),
        AppError::RegenerateLimited { retry_after } => format!(
            "You have regenerated captions as often as allowed for now — try again in {}",
            minutes(*retry_after)
        ),
        AppError::UnknownRoute => "We could not find that page".into(),
        AppError::Internal(_) => "Something went wrong on our side — please try again".into(),
        AppError::NotReady => {
            "Captioning is unavailable right now — please try again shortly".into()
        }
        other => sentence(&other.to_string()),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    status: u16,
    title: &'static str,
    message: String,
}

/// A failed page request: an HTML page with the status and a friendly message (the cause of
/// a 5xx goes to the log only). htmx requests get just the message, to show in place.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        Self(err)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(err: anyhow::Error) -> Self {
        Self(AppError::Internal(err))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(error = ?self.0, "page request failed");
        } else {
            tracing::info!(error = %self.0, kind = self.0.kind(), "page request refused");
        }
        let title = match status {
            StatusCode::NOT_FOUND => "Page not found",
            StatusCode::FORBIDDEN => "Not allowed",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let page = ErrorPage {
            nav: Nav {
                user: None,
                admin: false,
                csrf: String::new(),
                captioning_notice: None,
                sign_up_link: false,
            },
            status: status.as_u16(),
            title,
            message: friendly_message(&self.0),
        };
        render_with(status, &page)
    }
}

/// The HTML 404 for unknown page paths.
pub async fn not_found() -> PageError {
    PageError(AppError::UnknownRoute)
}

async fn home(visitor: Visitor) -> Redirect {
    Redirect::to(if visitor.principal.is_some() {
        "/upload"
    } else {
        "/sign-in"
    })
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    nav: Nav,
    retention_days: u32,
    max_upload: String,
    /// Accounts live in Cognito (the `[oidc]` section), not in the local accounts table.
    cognito: bool,
}

async fn privacy(
    axum::extract::State(state): axum::extract::State<AppState>,
    visitor: Visitor,
) -> Response {
    render(&PrivacyPage {
        nav: Nav::from(&visitor),
        retention_days: state.engine.settings().retention_days,
        max_upload: megabytes(state.max_upload_bytes),
        cognito: state.oidc.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_errors_read_like_sentences() {
        assert_eq!(
            friendly_message(&AppError::PayloadTooLarge {
                limit: 10 * 1024 * 1024
            }),
            "Image too large — the limit is 10 MB"
        );
        assert_eq!(
            friendly_message(&AppError::InvalidImage(ImageError::UnsupportedFormat)),
            "That file is not a JPEG or PNG"
        );
        assert_eq!(megabytes(1536 * 1024), "1.5 MB");
        assert_eq!(
            friendly_message(&AppError::RateLimited {
                retry_after: Duration::from_secs(61)
            }),
            "You have reached the upload limit for now — try again in 2 minutes"
        );
        assert_eq!(
            friendly_message(&AppError::RegenerateLimited {
                retry_after: Duration::from_secs(1800)
            }),
            "You have regenerated captions as often as allowed for now — try again in 30 minutes"
        );
        assert_eq!(minutes(Duration::from_millis(1)), "1 minute");
        assert_eq!(
            friendly_message(&AppError::Conflict("that user name is taken")),
            "That user name is taken"
        );
    }
}
