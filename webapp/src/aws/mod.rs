//! AWS mode: one SDK configuration shared by every AWS adapter and provider.
//!
//! Region and credentials come from the standard AWS chain (`AWS_REGION`, the ECS task role,
//! web identity, profiles) unless the configuration overrides them; `endpoint_url` points every
//! client at an AWS-protocol emulator for tests and `docker compose`. The HTTP client is rustls
//! with ring, the TLS stack reqwest already brings, so no second crypto library is built.

pub mod rekognition;
pub mod secrets;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::config::AwsConfig;

/// Builds the SDK configuration every AWS client of the app is made from.
pub async fn sdk_config(settings: &AwsConfig) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(credentials) = &settings.credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    loader.load().await
}
