//! `[server]`: the HTTP server's limits on slow clients and open connections.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

/// The HTTP server's limits on slow clients and open connections (`docs/security.md`, "Web app
/// server limits").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Client connections open at once; one over the cap is answered 503 with `Retry-After`
    /// and closed.
    pub max_connections: u32,
    /// A request head (request line and headers) must arrive in full within this, counted from
    /// the connection's opening or its previous answer; otherwise the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A kept-alive connection idle this long after its last answer is closed. The header-read
    /// timeout also bounds idle time: the shorter of the two applies.
    pub keep_alive_timeout_ms: u64,
    /// After `body_grace_ms`, a request body must have arrived at this average rate at least;
    /// one that falls behind is answered 408 and its connection closed.
    pub body_min_bytes_per_sec: u64,
    pub body_grace_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            keep_alive_timeout_ms: 5_000,
            body_min_bytes_per_sec: 16 * 1024,
            body_grace_ms: 10_000,
        }
    }
}

impl ServerConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        positive("server.max_connections", self.max_connections.into())?;
        positive("server.header_read_timeout_ms", self.header_read_timeout_ms)?;
        positive("server.keep_alive_timeout_ms", self.keep_alive_timeout_ms)?;
        positive("server.body_min_bytes_per_sec", self.body_min_bytes_per_sec)
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("server.max_connections", EnvKind::Int),
    ("server.header_read_timeout_ms", EnvKind::Int),
    ("server.keep_alive_timeout_ms", EnvKind::Int),
    ("server.body_min_bytes_per_sec", EnvKind::Int),
    ("server.body_grace_ms", EnvKind::Int),
];
