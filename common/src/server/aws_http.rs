//! The HTTP client every AWS SDK call of the servers goes through: rustls with ring, the TLS
//! stack reqwest already brings, so no second crypto library is built.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// An HTTPS client for `aws_config::defaults(..).http_client(..)`.
pub fn aws_https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
