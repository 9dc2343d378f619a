//! What both servers serve with: the HTTP/1.1 accept loop ([`serve`]: timeouts, a connection
//! cap, graceful shutdown), request ids ([`request_context`]), the signal they stop on
//! ([`shutdown_signal`]), their log set-up ([`init_logging`]) and the trace export that goes
//! with it ([`continue_trace`], [`current_traceparent`], [`flush_traces`]).

mod accept;
mod aws_http;
mod logging;
mod refusal;
mod request_id;
mod shutdown;
mod traces;

pub use accept::{serve, ConnectionEvents, ConnectionLimits, Timeout};
pub use aws_http::aws_https_client;
pub use logging::{init_logging, JsonLayout, LogFormat, LogStream, Logging};
pub use refusal::Refusal;
pub use request_id::{no_fallback, request_context, RequestId, RequestLog};
pub use shutdown::shutdown_signal;
pub use traces::{continue_trace, current_traceparent, flush_traces, TRACEPARENT};
