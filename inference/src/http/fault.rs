//! Fault injection (`--fault-injection`, off by default): a canary or a drill makes this server
//! fail or slow down on demand, so the alarms and the web app's fallbacks can be seen to work
//! (`scripts/fire-alarms.sh`). The request asks through the one header SageMaker passes on,
//! `X-Amzn-SageMaker-Custom-Attributes: imgcap-fault=5xx` or `imgcap-fault=slow:<ms>`; without
//! the flag the attribute is ignored.

use std::time::Duration;

use axum::http::HeaderMap;

use super::request_body::custom_attribute;
use crate::error::ApiError;

/// The custom attribute that asks for a fault.
const ATTRIBUTE: &str = "imgcap-fault";

/// The longest delay `slow:<ms>` may ask for: the default request timeout.
const MAX_SLOW_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer 500 (`internal`) instead of captioning.
    ServerError,
    /// Wait this long, inside the request timeout, before captioning.
    Slow(Duration),
}

impl Fault {
    /// The fault `headers` ask for; an attribute this server cannot honour is a 422.
    pub fn requested(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        custom_attribute(headers, ATTRIBUTE)
            .map(|value| Self::parse(&value))
            .transpose()
    }

    fn parse(value: &str) -> Result<Self, ApiError> {
        let invalid = |why: String| {
            ApiError::InvalidParameters(format!(
                "X-Amzn-SageMaker-Custom-Attributes: {ATTRIBUTE}={value:?}: {why}"
            ))
        };
        if value.eq_ignore_ascii_case("5xx") {
            return Ok(Self::ServerError);
        }
        let Some(ms) = value.strip_prefix("slow:") else {
            return Err(invalid("expected `5xx` or `slow:<milliseconds>`".into()));
        };
        match ms.trim().parse::<u64>() {
            Ok(ms) if ms <= MAX_SLOW_MS => Ok(Self::Slow(Duration::from_millis(ms))),
            _ => Err(invalid(format!(
                "the delay must be a whole number of milliseconds from 0 to {MAX_SLOW_MS}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::headers;

    fn requested(attributes: &str) -> Result<Option<Fault>, ApiError> {
        Fault::requested(&headers(&[(
            "x-amzn-sagemaker-custom-attributes",
            attributes,
        )]))
    }

    #[test]
    fn faults_are_read_from_the_custom_attributes() {
        assert_eq!(requested("mode=both").unwrap(), None);
        assert_eq!(
            requested("mode=both;imgcap-fault=5xx").unwrap(),
            Some(Fault::ServerError)
        );
        assert_eq!(
            requested("imgcap-fault=slow:250").unwrap(),
            Some(Fault::Slow(Duration::from_millis(250)))
        );
        assert_eq!(
            requested("imgcap-fault=slow:60000").unwrap(),
            Some(Fault::Slow(Duration::from_secs(60)))
        );
        for bad in [
            "imgcap-fault=4xx",
            "imgcap-fault=slow:",
            "imgcap-fault=slow:-1",
            "imgcap-fault=slow:60001",
        ] {
            let err = requested(bad).unwrap_err();
            assert_eq!(err.status(), 422, "{bad}");
        }
    }
}
