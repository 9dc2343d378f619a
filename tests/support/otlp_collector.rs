//! An OTLP/HTTP trace collector on a loopback port, for the tests of both servers (each test
//! crate includes this file): it takes `POST /v1/traces` in protobuf, as an OpenTelemetry
//! Collector or the ADOT sidecar would, and keeps every span it decodes. Started with a
//! [`SigV4Key`], it checks each export's SigV4 signature as X-Ray's OTLP endpoint does and
//! refuses (403) what is unsigned or signed wrongly.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::routing::post;
use hmac::{Hmac, Mac};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use sha2::{Digest, Sha256};

/// `SpanKind` values of the OTLP protocol.
pub const KIND_SERVER: i32 = 2;
pub const KIND_CLIENT: i32 = 3;
pub const KIND_CONSUMER: i32 = 5;

/// One received span; ids in lower-case hex, as in a `traceparent`.
#[derive(Debug, Clone)]
pub struct CollectedSpan {
    /// The resource's `service.name`.
    pub service: String,
    pub name: String,
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// Attributes, each value written as text.
    pub attributes: BTreeMap<String, String>,
    /// (trace id, span id) of each linked span.
    pub links: Vec<(String, String)>,
}

impl CollectedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The credentials a SigV4-checking collector expects exports to be signed with.
#[derive(Debug, Clone, Copy)]
pub struct SigV4Key {
    pub access_key: &'static str,
    pub secret: &'static str,
    pub region: &'static str,
}

#[derive(Default)]
struct Received {
    key: Option<SigV4Key>,
    spans: Mutex<Vec<CollectedSpan>>,
    /// Why each refused export was refused.
    refusals: Mutex<Vec<String>>,
}

pub struct Collector {
    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` is set to (the exporter appends `/v1/traces`).
    pub endpoint: String,
    received: Arc<Received>,
}

impl Collector {
    pub async fn start() -> Self {
        Self::serve(Received::default()).await
    }

    /// A collector that takes only exports signed with `key` for the service `xray`.
    pub async fn start_sigv4(key: SigV4Key) -> Self {
        Self::serve(Received {
            key: Some(key),
            ..Received::default()
        })
        .await
    }

    async fn serve(received: Received) -> Self {
        let received = Arc::new(received);
        let router = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { endpoint, received }
    }

    pub fn spans(&self) -> Vec<CollectedSpan> {
        self.received.spans.lock().unwrap().clone()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.received.refusals.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the spans received (exports arrive in batches); the spans.
    pub async fn wait_for(&self, done: impl Fn(&[CollectedSpan]) -> bool) -> Vec<CollectedSpan> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "the spans awaited did not arrive within 30 s; received: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(received): State<Arc<Received>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1]) {
    let content_type = [(header::CONTENT_TYPE, "application/x-protobuf")];
    if let Some(key) = received.key {
        if let Err(why) = check_sigv4(&key, &method, &uri, &headers, &body) {
            received.refusals.lock().unwrap().push(why);
            return (StatusCode::FORBIDDEN, content_type);
        }
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, content_type);
    };
    let mut received = received.spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(CollectedSpan {
                service: service.clone(),
                name: span.name,
                kind: span.kind,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: attributes(&span.attributes),
                links: span
                    .links
                    .iter()
                    .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
                    .collect(),
            });
        }
    }
    // An empty `ExportTraceServiceResponse`: everything accepted.
    (StatusCode::OK, content_type)
}

/// Checks a request's SigV4 signature (service `xray`), written from AWS's description of
/// the algorithm rather than with the SDK's signer, so that the test does not check the
/// signer against itself.
fn check_sigv4(
    key: &SigV4Key,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("no {name} header"))
    };
    let authorization = header("authorization")?;
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not a SigV4 authorization")?;
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .ok_or(format!("no {name} in the authorization"))
    };
    let (credential, signed_headers, signature) = (
        field("Credential")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    let amz_date = header("x-amz-date")?;
    let date = amz_date.get(..8).ok_or("a short x-amz-date")?;
    let scope = format!("{date}/{}/xray/aws4_request", key.region);
    if credential != format!("{}/{scope}", key.access_key) {
        return Err(format!(
            "credential {credential}, expected {}/{scope}",
            key.access_key
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    for required in ["host", "x-amz-date"] {
        if !signed.contains(&required) {
            return Err(format!("{required} is not signed"));
        }
    }
    if headers.contains_key("x-amz-security-token") && !signed.contains(&"x-amz-security-token") {
        return Err("the session token is not signed".into());
    }
    let mut canonical_headers = String::new();
    for name in &signed {
        canonical_headers.push_str(&format!("{name}:{}\n", header(name)?.trim()));
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        uri.path(),
        uri.query().unwrap_or(""),
        hex(&Sha256::digest(body))
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut signing_key = format!("AWS4{}", key.secret).into_bytes();
    for part in [date, key.region, "xray", "aws4_request"] {
        signing_key = hmac(&signing_key, part.as_bytes());
    }
    let expected = hex(&hmac(&signing_key, string_to_sign.as_bytes()));
    match signature == expected {
        true => Ok(()),
        false => Err(format!("signature {signature}, expected {expected}")),
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|pair| {
            let value = match pair.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (pair.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
