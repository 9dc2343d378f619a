//! Request ids: a caller's `x-request-id` is kept when it is safe to echo
//! ([`accepted_request_id`]), otherwise the server generates a ULID. The id goes into the
//! request's extensions (handlers take it as [`RequestId`]), into the request's span, and back
//! out on the answer's `x-request-id`.
//!
//! The span and the line logged once the request is answered are made by each server
//! ([`RequestLog`]): made here, they would carry this crate's module as their target, and log
//! filters (`info,imgcap_inference=debug`) name the server's.

use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument, Span};

use super::traces::{continue_trace, TRACEPARENT};
use crate::{accepted_request_id, REQUEST_ID_HEADER};

/// The request's id: the caller's when it is sane, else a new ULID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A new ULID (26 characters).
    pub fn generate() -> Self {
        Self(ulid::Ulid::new().to_string())
    }

    /// The caller's `x-request-id` when [`accepted_request_id`] accepts it, else what
    /// `fallback` finds elsewhere in the headers when that is accepted, else a new ULID.
    pub fn from_headers(headers: &HeaderMap, fallback: fn(&HeaderMap) -> Option<String>) -> Self {
        let header = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
        header
            .and_then(accepted_request_id)
            .map(str::to_owned)
            .or_else(|| fallback(headers).filter(|id| accepted_request_id(id).is_some()))
            .map_or_else(Self::generate, Self)
    }
}

/// The id [`request_context`] put in the request; a new ULID where no such layer ran.
impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate))
    }
}

/// How one server takes and logs request ids; the state of [`request_context`].
#[derive(Clone, Copy)]
pub struct RequestLog {
    /// Where an id comes from when `x-request-id` has none to keep (checked the same way);
    /// [`no_fallback`] for none.
    pub fallback: fn(&HeaderMap) -> Option<String>,
    /// Where the caller's trace context comes from when there is no `traceparent` header;
    /// [`no_fallback`] for none.
    pub trace_fallback: fn(&HeaderMap) -> Option<String>,
    /// The request's span, from its id, method and path (never the query: query strings can
    /// hold signatures).
    pub span: fn(id: &str, method: &Method, path: &str) -> Span,
    /// Logs the answer, inside the request's span: its status and the milliseconds since the
    /// request arrived.
    pub answered: fn(method: &Method, status: StatusCode, elapsed_ms: f64),
}

/// A [`RequestLog::fallback`] that finds nothing: `x-request-id` or a new ULID.
pub fn no_fallback(_: &HeaderMap) -> Option<String> {
    None
}

/// The middleware (`axum::middleware::from_fn_with_state(log, request_context)`): the request's
/// id into its extensions and span, the span joined to the caller's trace (when traces are
/// exported), the answer logged, the id echoed on `x-request-id`.
pub async fn request_context(
    State(log): State<RequestLog>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = RequestId::from_headers(request.headers(), log.fallback);
    let method = request.method().clone();
    let span = (log.span)(&id.0, &method, request.uri().path());
    let headers = request.headers();
    let traceparent = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| (log.trace_fallback)(headers));
    continue_trace(&span, traceparent.as_deref());
    let header = HeaderValue::from_str(&id.0);
    request.extensions_mut().insert(id);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    span.in_scope(|| (log.answered)(&method, response.status(), elapsed_ms));
    // Accepted ids and ULIDs are visible ASCII: a valid header value.
    if let Ok(value) = header {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use axum::Router;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value)))
            .collect()
    }

    fn from_custom(headers: &HeaderMap) -> Option<String> {
        Some(headers.get("x-custom")?.to_str().ok()?.to_owned())
    }

    #[test]
    fn the_header_then_the_fallback_then_a_ulid() {
        let id = |pairs| RequestId::from_headers(&headers(pairs), from_custom).0;
        assert_eq!(id(&[("x-request-id", "abc-123")]), "abc-123");
        assert_eq!(
            id(&[("x-request-id", "from-header"), ("x-custom", "web-42")]),
            "from-header"
        );
        assert_eq!(
            id(&[("x-request-id", "has space"), ("x-custom", "web-42")]),
            "web-42"
        );
        for refused in [&[("x-custom", "a b")][..], &[("x-request-id", "")], &[]] {
            let generated = id(refused);
            assert_eq!(generated.len(), 26, "a ULID: {generated}");
            assert!(generated.parse::<ulid::Ulid>().is_ok(), "{generated}");
        }
        let no_fallback = RequestId::from_headers(&headers(&[("x-custom", "web-42")]), no_fallback);
        assert_eq!(no_fallback.0.len(), 26);
    }

    static ANSWERED: AtomicUsize = AtomicUsize::new(0);

    fn span(id: &str, method: &Method, path: &str) -> Span {
        tracing::info_span!("request", request_id = %id, %method, %path)
    }

    fn answered(_: &Method, status: StatusCode, _: f64) {
        assert_eq!(status, StatusCode::OK);
        ANSWERED.fetch_add(1, Ordering::SeqCst);
    }

    /// One request over a fresh connection; the raw answer.
    async fn fetch(router: Router, request_id: Option<&str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let id_header = request_id.map_or(String::new(), |id| format!("x-request-id: {id}\r\n"));
        let head =
            format!("GET /id?sig=x HTTP/1.1\r\nhost: test\r\n{id_header}connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        raw
    }

    #[tokio::test]
    async fn the_id_reaches_the_handler_and_is_echoed() {
        let log = RequestLog {
            fallback: no_fallback,
            trace_fallback: no_fallback,
            span,
            answered,
        };
        let router = Router::new()
            .route("/id", get(|RequestId(id): RequestId| async move { id }))
            .layer(from_fn_with_state(log, request_context));
        let before = ANSWERED.load(Ordering::SeqCst);

        let kept = fetch(router.clone(), Some("caller-7")).await;
        assert!(kept.contains("\r\nx-request-id: caller-7\r\n"), "{kept}");
        assert!(kept.ends_with("\r\n\r\ncaller-7"), "{kept}");

        let generated = fetch(router, Some("has space")).await;
        let (head, body) = generated.split_once("\r\n\r\n").unwrap();
        assert_eq!(body.len(), 26, "a ULID: {generated}");
        assert!(
            head.contains(&format!("\r\nx-request-id: {body}")),
            "{generated}"
        );
        assert_eq!(ANSWERED.load(Ordering::SeqCst) - before, 2);
    }

    #[tokio::test]
    async fn without_the_layer_a_handler_gets_a_new_id() {
        let router = Router::new().route("/id", get(|RequestId(id): RequestId| async move { id }));
        let raw = fetch(router, Some("caller-7")).await;
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert_eq!(body.len(), 26, "{raw}");
        assert!(!head.contains("x-request-id"), "{raw}");
    }
}
