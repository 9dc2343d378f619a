//! What both servers serve with: the HTTP/1.1 accept loop ([`serve`]: timeouts, a connection
//! cap, graceful shutdown), request ids ([`request_context`]), the signal they stop on
//! ([`shutdown_signal`]) and their log set-up ([`init_logging`]).

mod accept;
mod logging;
mod refusal;
mod request_id;
mod shutdown;

pub use accept::{serve, ConnectionEvents, ConnectionLimits, Timeout};
pub use logging::{init_logging, JsonLayout, LogFormat, LogStream, Logging};
pub use refusal::Refusal;
pub use request_id::{no_fallback, request_context, RequestId, RequestLog};
pub use shutdown::shutdown_signal;
