//! The trace export signed with SigV4, for X-Ray's OTLP endpoint
//! (`https://xray.<region>.amazonaws.com/v1/traces`) where no collector can run beside the
//! server: a SageMaker endpoint's container has no sidecars.
//!
//! Credentials come from the standard AWS chain (the SageMaker execution role, the ECS task
//! role, the environment, profiles), kept until five minutes before they expire. The batch
//! exporter calls the client from its own thread, which has no Tokio reactor; the client
//! drives its requests on a small runtime of its own, so the last spans still leave after the
//! server's runtime has stopped (the final flush at the end of `main`).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::error::display::DisplayErrorContext;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use tokio::sync::{Mutex, OnceCell};

/// Signs for this region whatever the endpoint (a VPC endpoint, a proxy, a test collector).
pub const REGION_VAR: &str = "IMGCAP_TRACES_SIGV4_REGION";

/// The SigV4 signing name of X-Ray's OTLP endpoint.
const SERVICE: &str = "xray";

/// Credentials this close to their expiry are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// An error body longer than this is cut in the export's error (X-Ray explains refusals there).
const ERROR_BODY_LIMIT: usize = 300;

/// The region to sign for: `IMGCAP_TRACES_SIGV4_REGION` when set, else the region of an X-Ray
/// endpoint (`xray.<region>.amazonaws.com`); `None`: the export is sent unsigned.
pub fn signing_region(endpoint: &str, explicit: Option<&str>) -> Result<Option<String>, String> {
    if let Some(region) = explicit.map(str::trim).filter(|r| !r.is_empty()) {
        return match valid_region(region) {
            true => Ok(Some(region.to_owned())),
            false => Err(format!(
                "{REGION_VAR}={region:?} is not an AWS region (like eu-west-1)"
            )),
        };
    }
    let uri: http::Uri = endpoint
        .trim()
        .parse()
        .map_err(|e| format!("the OTLP endpoint {endpoint:?} is not a URL: {e}"))?;
    let region = uri.host().and_then(|host| {
        let rest = host.strip_prefix("xray.")?;
        rest.strip_suffix(".amazonaws.com")
            .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
    });
    Ok(region.filter(|r| valid_region(r)).map(str::to_owned))
}

fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The OTLP exporter's HTTP client when the export is signed.
#[derive(Debug)]
pub struct SigV4Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    signer: Signer,
}

impl SigV4Client {
    pub fn new(region: String, timeout: Duration) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the trace export's runtime: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the trace export's HTTP client: {e}"))?;
        let signer = Signer {
            region,
            provider: OnceCell::new(),
            credentials: Mutex::new(None),
        };
        Ok(Self {
            http,
            runtime,
            signer,
        })
    }
}

#[async_trait]
impl HttpClient for SigV4Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        // The batch exporter's own thread is no Tokio thread; anywhere else `block_on` would
        // panic, so refuse instead.
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err("the signed trace export runs only on the batch exporter's thread".into());
        }
        self.runtime.block_on(async {
            let identity = self.signer.identity().await?;
            let request = self.signer.sign(request, &identity, SystemTime::now())?;
            send(&self.http, request).await
        })
    }
}

#[derive(Debug)]
struct Signer {
    region: String,
    /// The AWS credential chain, built on the first export (building it is async).
    provider: OnceCell<SharedCredentialsProvider>,
    credentials: Mutex<Option<Credentials>>,
}

impl Signer {
    async fn identity(&self) -> Result<Identity, HttpError> {
        let mut cached = self.credentials.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        };
        if let Some(credentials) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone().into());
        }
        let provider = self
            .provider
            .get_or_try_init(|| async {
                aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(self.region.clone()))
                    .http_client(crate::server::aws_https_client())
                    .load()
                    .await
                    .credentials_provider()
                    .ok_or("the AWS configuration has no credential chain")
            })
            .await?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            format!(
                "no AWS credentials to sign the trace export to X-Ray: {}",
                DisplayErrorContext(&e)
            )
        })?;
        *cached = Some(credentials.clone());
        Ok(credentials.into())
    }

    /// `request` with SigV4's headers added (`authorization`, `x-amz-date`, and
    /// `x-amz-security-token` for temporary credentials), covering its headers and body.
    fn sign(
        &self,
        mut request: Request<Bytes>,
        identity: &Identity,
        time: SystemTime,
    ) -> Result<Request<Bytes>, HttpError> {
        let instructions = {
            let uri = request.uri().to_string();
            let headers = request
                .headers()
                .iter()
                .map(|(name, value)| Ok((name.as_str(), value.to_str()?)))
                .collect::<Result<Vec<_>, http::header::ToStrError>>()?;
            let signable = SignableRequest::new(
                request.method().as_str(),
                &uri,
                headers.into_iter(),
                SignableBody::Bytes(request.body()),
            )?;
            let params = v4::SigningParams::builder()
                .identity(identity)
                .region(&self.region)
                .name(SERVICE)
                .time(time)
                .settings(SigningSettings::default())
                .build()?
                .into();
            sign(signable, &params)?.into_parts().0
        };
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// Sends `request`; a refusal becomes an error with the status and the start of the body.
async fn send(
    http: &reqwest::Client,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, HttpError> {
    let answer = http.execute(request.try_into()?).await?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.chars().take(ERROR_BODY_LIMIT).collect();
        return Err(format!("the trace endpoint answered {status}: {text}").into());
    }
    let mut response = Response::builder().status(status).body(body)?;
    *response.headers_mut() = headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_xray_endpoint_or_the_setting() {
        let region = |endpoint, explicit| signing_region(endpoint, explicit).unwrap();
        assert_eq!(
            region("https://xray.eu-west-1.amazonaws.com", None).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region("https://xray.cn-north-1.amazonaws.com.cn/v1/traces", None).as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(region("http://127.0.0.1:4318", None), None);
        assert_eq!(region("https://collector.example.com", None), None);
        assert_eq!(
            region("http://127.0.0.1:4318", Some(" us-east-2 ")).as_deref(),
            Some("us-east-2")
        );
        assert_eq!(region("http://127.0.0.1:4318", Some("")), None);
    }

    #[test]
    fn a_malformed_region_or_endpoint_is_refused() {
        let err = signing_region("http://127.0.0.1:4318", Some("EU West")).unwrap_err();
        assert!(err.contains(REGION_VAR), "{err}");
        assert!(signing_region("http://exa mple", None).is_err());
    }
}
