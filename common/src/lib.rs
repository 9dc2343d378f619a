//! Wire types shared by the imgcap servers. Without features: no I/O and no heavy dependencies.
//!
//! The inference server's `POST /invocations` contract lives here ([`CaptionRequest`] in,
//! [`CaptionResponse`] or [`ErrorBody`] out), so the web app deserializes exactly what the
//! server serializes. With the `openapi` feature every type also derives `utoipa::ToSchema`;
//! the `prometheus` feature adds the exporter settings both servers share, and the `server`
//! feature the HTTP/1.1 accept loop they both serve with ([`server::serve`]).

use serde::{Deserialize, Serialize};

pub mod caption;
mod invocation;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "server")]
pub mod server;

pub use invocation::*;

/// The header that carries one request's id across the services (logs, answers, upstream calls).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A caller's request id is kept when it is 1 to 128 visible ASCII characters, so it is safe in
/// logs and headers; otherwise the server generates its own.
pub fn accepted_request_id(value: &str) -> Option<&str> {
    let sane = (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
    sane.then_some(value)
}

/// Which captions a request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CaptionMode {
    /// At most ten words, from beam search.
    Concise,
    /// One or two sentences, from nucleus sampling.
    Creative,
    /// Both captions.
    #[default]
    Both,
}

impl CaptionMode {
    pub fn wants_concise(self) -> bool {
        matches!(self, Self::Concise | Self::Both)
    }

    pub fn wants_creative(self) -> bool {
        matches!(self, Self::Creative | Self::Both)
    }
}

impl std::str::FromStr for CaptionMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "concise" => Ok(Self::Concise),
            "creative" => Ok(Self::Creative),
            "both" => Ok(Self::Both),
            other => Err(format!(
                "unknown caption mode `{other}`: use concise, creative or both"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_round_trips_as_lowercase_json() {
        assert_eq!(
            serde_json::to_string(&CaptionMode::Creative).unwrap(),
            "\"creative\""
        );
        let mode: CaptionMode = serde_json::from_str("\"both\"").unwrap();
        assert_eq!(mode, CaptionMode::Both);
        assert!(serde_json::from_str::<CaptionMode>("\"poem\"").is_err());
    }

    #[test]
    fn request_ids_are_accepted_only_when_safe_to_echo() {
        assert_eq!(accepted_request_id("abc-123"), Some("abc-123"));
        assert_eq!(
            accepted_request_id(&"x".repeat(128)).map(str::len),
            Some(128)
        );
        for bad in ["", "has space", "tab\there", "é", &"x".repeat(129)] {
            assert_eq!(accepted_request_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mode_parses_from_text() {
        assert_eq!(" Concise ".parse::<CaptionMode>(), Ok(CaptionMode::Concise));
        assert!("poem".parse::<CaptionMode>().is_err());
        assert!(CaptionMode::Both.wants_concise() && CaptionMode::Both.wants_creative());
    }
}
