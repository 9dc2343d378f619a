//! The cloud captioners and labels through the real AWS SDK and HTTP clients: Rekognition and
//! Secrets Manager against the moto emulator; `bedrock` (moto has no Converse), `sagemaker` (see
//! [`sagemaker_answering`]) and `hf` against loopback fakes of their HTTP APIs; and failover
//! between them.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use imgcap_common::{
    CaptionMode, CaptionResponse, Captions, GeneratedCaption, ModelDescription, Timings,
};
use imgcap_webapp::adapters::providers::prompts::BEDROCK_SYSTEM;
use imgcap_webapp::config::{AwsConfig, ProviderKind};
use imgcap_webapp::Config;
use serde_json::{json, Value};

use crate::harness::{png, test_config, TestApp};
use crate::moto::{unique_name, Moto};

const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const HF_MODEL: &str = "Salesforce/blip-image-captioning-large";

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A loopback HTTP server that records every request and answers with `answer`.
pub struct Fake {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Fake {
    pub async fn start(answer: impl Fn(&Received) -> Response + Send + Sync + 'static) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let answer = Arc::new(answer);
        let router = axum::Router::new().fallback(move |request: Request| {
            let log = log.clone();
            let answer = answer.clone();
            async move {
                let path = request.uri().path().to_owned();
                let headers = request.headers().clone();
                let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                    .await
                    .unwrap()
                    .to_vec();
                let request = Received {
                    path,
                    headers,
                    body,
                };
                let response = answer(&request);
                log.lock().unwrap().push(request);
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// A Bedrock runtime whose model answers `text` to every Converse call.
async fn bedrock_answering(text: &'static str) -> Fake {
    Fake::start(move |_| {
        json_response(
            StatusCode::OK,
            &json!({
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 1200, "outputTokens": 60, "totalTokens": 1260},
                "metrics": {"latencyMs": 800},
            }),
        )
    })
    .await
}

/// A Bedrock runtime failing every call with a 500, as the real one reports it.
async fn bedrock_failing() -> Fake {
    Fake::start(|_| {
        let mut response = json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"message": "the model is overloaded"}),
        );
        response.headers_mut().insert(
            "x-amzn-errortype",
            "InternalServerException".parse().unwrap(),
        );
        response
    })
    .await
}

/// The Inference API's image-to-text answer: one text for the raw image, another for the JSON
/// (sampling) request.
async fn hf_fake() -> Fake {
    Fake::start(|request| {
        let sampled = request.headers["content-type"] == "application/json";
        let text = if sampled {
            "a rocket waits on the pad under a pale sky , ready to leave"
        } else {
            "a rocket standing on a launch pad next to a tall tower with many lights"
        };
        json_response(StatusCode::OK, &json!([{ "generated_text": text }]))
    })
    .await
}

/// An `/invocations` answer as our inference server gives it.
pub fn invocation_answer(concise: &str, creative: &str) -> String {
    let caption = |text: &str, confidence| GeneratedCaption {
        text: text.into(),
        confidence,
        tokens: 9,
    };
    serde_json::to_string(&CaptionResponse {
        request_id: "r".into(),
        mode: CaptionMode::Both,
        captions: Captions {
            concise: Some(caption(concise, -0.25)),
            creative: Some(caption(creative, -1.5)),
        },
        model: ModelDescription {
            model_id: "Salesforce/blip-image-captioning-base".into(),
            revision: Some("82a1b2c".into()),
            dtype: "f32".into(),
            device: "cpu".into(),
        },
        timings: Timings {
            preprocess_ms: 1.0,
            queue_ms: 0.0,
            inference_ms: 50.0,
            total_ms: 52.0,
        },
    })
    .unwrap()
}

/// A SageMaker runtime whose endpoint answers `body` (our inference server's JSON).
///
/// moto 5 cannot stand in here: its InvokeEndpoint decodes the request body as UTF-8 and fails
/// with a 500 on every binary image, so its canned results are never reached.
async fn sagemaker_answering(body: String) -> Fake {
    Fake::start(move |_| {
        Response::builder()
            .header("content-type", "application/json")
            .header("x-amzn-invoked-production-variant", "primary")
            .body(Body::from(body.clone()))
            .unwrap()
    })
    .await
}

/// Moto's settings with every AWS call sent to `url` instead.
fn aws_at(url: &str) -> AwsConfig {
    AwsConfig {
        endpoint_url: Some(url.into()),
        ..Moto::shared().aws_config()
    }
}

/// A config whose only captioners are `chain`, no model loaded.
fn cloud_config(chain: Vec<ProviderKind>, aws: AwsConfig) -> Config {
    let mut config = test_config();
    config.captioner.chain = chain;
    config.aws = aws;
    config
}

/// Uploads a fresh PNG as `user` and waits until its record is `status`; returns the record and
/// the stored original's bytes.
async fn caption_one(app: &TestApp, user: &str, seed: u32, status: &str) -> (Value, Vec<u8>) {
    let token = app.token(user, false).await;
    let record = app
        .upload_and_wait(&token, png(seed, 64, 48), "image/png", status)
        .await;
    let id = record["id"].as_str().unwrap().to_owned();
    let original = app
        .blob_files()
        .into_iter()
        .find(|path| {
            path.to_string_lossy()
                .contains(&format!("originals/{user}/{id}"))
        })
        .unwrap();
    (record, std::fs::read(original).unwrap())
}

#[tokio::test]
async fn sagemaker_captions_through_invoke_endpoint() {
    let sagemaker = sagemaker_answering(invocation_answer(
        "A rocket on a launch pad",
        "A rocket waits. It will fly.",
    ))
    .await;
    let mut config = cloud_config(vec![ProviderKind::Sagemaker], aws_at(&sagemaker.url));
    let endpoint = unique_name("captioner");
    config.captioner.sagemaker.endpoint_name = Some(endpoint.clone());
    let app = TestApp::spawn(config).await;
    let (record, original) = caption_one(&app, "sam", 1, "done").await;
    let result = &record["result"];
    assert_eq!(result["provider"], "sagemaker");
    assert_eq!(
        result["model"], "Salesforce/blip-image-captioning-base@82a1b2c",
        "the model and the weights' revision"
    );
    assert_eq!(result["concise"]["text"], "A rocket on a launch pad");
    assert_eq!(result["concise"]["confidence"], -0.25);
    assert_eq!(result["creative"]["text"], "A rocket waits. It will fly.");
    assert_eq!(result["labels"], json!([]), "labels are off by default");

    let received = sagemaker.received();
    assert_eq!(received.len(), 1);
    let call = &received[0];
    assert_eq!(call.path, format!("/endpoints/{endpoint}/invocations"));
    assert_eq!(call.headers["content-type"], "image/png");
    assert_eq!(call.headers["accept"], "application/json");
    let attributes = call.headers["x-amzn-sagemaker-custom-attributes"]
        .to_str()
        .unwrap();
    assert!(
        attributes.starts_with("mode=both;request_id="),
        "{attributes}"
    );
    assert!(call.headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256"));
    assert_eq!(call.body, original, "the stored original, as it is");
}

#[tokio::test]
async fn bedrock_gets_the_image_and_the_labels_and_its_answer_is_ruled() {
    let bedrock = bedrock_answering(
        "Here you go:\n```json\n{\"concise\": \"a small phone lying on a wooden desk next to a \
         cup of coffee\", \"creative\": \"a phone rests on the desk, waiting for a call. the \
         coffee beside it cools. nobody comes\"}\n```",
    )
    .await;
    let mut config = cloud_config(vec![ProviderKind::Bedrock], Moto::shared().aws_config());
    config.captioner.bedrock.model_id = Some(BEDROCK_MODEL.into());
    config.captioner.bedrock.endpoint_url = Some(bedrock.url.clone());
    config.labels.rekognition = true;
    let app = TestApp::spawn(config).await;
    let (record, original) = caption_one(&app, "bea", 2, "done").await;

    let result = &record["result"];
    assert_eq!(result["provider"], "bedrock");
    assert_eq!(result["model"], BEDROCK_MODEL);
    assert_eq!(
        result["concise"]["text"],
        "A small phone lying on a wooden desk"
    );
    assert_eq!(
        result["creative"]["text"],
        "A phone rests on the desk, waiting for a call. The coffee beside it cools."
    );
    assert_eq!(result["concise"]["confidence"], Value::Null);
    // moto's DetectLabels always finds a mobile phone.
    assert_eq!(result["labels"][0]["name"], "Mobile Phone");
    assert!(result["labels"][0]["confidence"].as_f64().unwrap() > 99.0);

    let received = bedrock.received();
    assert_eq!(received.len(), 1);
    let call = &received[0];
    assert_eq!(
        call.path,
        format!("/model/{}/converse", BEDROCK_MODEL.replace(':', "%3A"))
    );
    assert!(call.headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256"));
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(body["system"][0]["text"], BEDROCK_SYSTEM);
    let content = &body["messages"][0]["content"];
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(content[0]["image"]["format"], "png");
    let sent = STANDARD
        .decode(content[0]["image"]["source"]["bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(sent, original, "the stored original is what Bedrock sees");
    let prompt = content[1]["text"].as_str().unwrap();
    assert!(prompt.starts_with("Caption this photo."), "{prompt}");
    assert!(prompt.contains("Mobile Phone (100%)"), "{prompt}");
}

#[tokio::test]
async fn failing_labels_do_not_fail_the_job() {
    let bedrock =
        bedrock_answering("{\"concise\": \"a phone\", \"creative\": \"A phone waits.\"}").await;
    // Nothing listens on port 9: every Rekognition call fails.
    let unreachable = AwsConfig {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        ..Moto::shared().aws_config()
    };
    let mut config = cloud_config(vec![ProviderKind::Bedrock], unreachable);
    config.captioner.bedrock.model_id = Some(BEDROCK_MODEL.into());
    config.captioner.bedrock.endpoint_url = Some(bedrock.url.clone());
    config.labels.rekognition = true;
    let app = TestApp::spawn(config).await;
    let (record, _) = caption_one(&app, "lee", 3, "done").await;
    assert_eq!(record["result"]["provider"], "bedrock");
    assert_eq!(record["result"]["labels"], json!([]));
    let body: Value = serde_json::from_slice(&bedrock.received()[0].body).unwrap();
    assert_eq!(
        body["messages"][0]["content"][1]["text"], "Caption this photo.",
        "no labels, no labels line"
    );
}

#[tokio::test]
async fn a_bedrock_500_fails_over_to_sagemaker() {
    let sagemaker = sagemaker_answering(invocation_answer(
        "A red square",
        "A red square sits alone.",
    ))
    .await;
    let bedrock = bedrock_failing().await;
    let mut config = cloud_config(
        vec![ProviderKind::Bedrock, ProviderKind::Sagemaker],
        aws_at(&sagemaker.url),
    );
    config.captioner.bedrock.model_id = Some(BEDROCK_MODEL.into());
    config.captioner.bedrock.endpoint_url = Some(bedrock.url.clone());
    config.captioner.sagemaker.endpoint_name = Some(unique_name("captioner"));
    let app = TestApp::spawn(config).await;
    let (record, _) = caption_one(&app, "fay", 4, "done").await;
    assert_eq!(record["result"]["provider"], "sagemaker");
    assert_eq!(record["result"]["concise"]["text"], "A red square");
    // The SDK retries a 500 itself before the chain moves on.
    assert!(!bedrock.received().is_empty());
    assert_eq!(sagemaker.received().len(), 1);
}

#[tokio::test]
async fn invalid_bedrock_json_fails_over_to_hf_with_its_key_from_secrets_manager() {
    let bedrock = bedrock_answering("Sure! The photo shows a rocket.").await;
    let hf = hf_fake().await;
    let moto = Moto::shared();
    let sdk = imgcap_webapp::adapters::aws::sdk_config(&moto.aws_config()).await;
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(unique_name("hf-api-key"))
        .secret_string("hf_test_key_123\n")
        .send()
        .await
        .unwrap();

    let mut config = cloud_config(
        vec![ProviderKind::Bedrock, ProviderKind::Hf],
        moto.aws_config(),
    );
    config.captioner.bedrock.model_id = Some(BEDROCK_MODEL.into());
    config.captioner.bedrock.endpoint_url = Some(bedrock.url.clone());
    config.captioner.hf.base_url = hf.url.clone();
    config.captioner.hf.api_key_secret_arn = secret.arn().map(str::to_owned);
    let app = TestApp::spawn(config).await;
    let (record, original) = caption_one(&app, "hal", 5, "done").await;

    let result = &record["result"];
    assert_eq!(result["provider"], "hf");
    assert_eq!(result["model"], HF_MODEL);
    assert_eq!(
        result["concise"]["text"],
        "A rocket standing on a launch pad"
    );
    assert_eq!(
        result["creative"]["text"],
        "A rocket waits on the pad under a pale sky, ready to leave."
    );
    assert_eq!(bedrock.received().len(), 1, "bedrock answered, badly");

    let mut received = hf.received();
    assert_eq!(received.len(), 2, "one call per caption");
    received.sort_by_key(|r| r.headers["content-type"].to_str().unwrap().to_owned());
    for call in &received {
        assert_eq!(call.path, format!("/models/{HF_MODEL}"));
        assert_eq!(call.headers["authorization"], "Bearer hf_test_key_123");
    }
    let (sampled, raw) = (&received[0], &received[1]);
    assert_eq!(raw.headers["content-type"], "image/png");
    assert_eq!(raw.body, original);
    let request: Value = serde_json::from_slice(&sampled.body).unwrap();
    assert_eq!(
        STANDARD
            .decode(request["inputs"].as_str().unwrap())
            .unwrap(),
        original
    );
    assert_eq!(
        request["parameters"]["generation_parameters"]["do_sample"],
        true
    );
}

/// With the blobs in S3, Rekognition reads the stored object itself.
#[tokio::test]
async fn rekognition_labels_an_s3_object() {
    use imgcap_webapp::adapters::aws::rekognition::RekognitionLabeler;
    use imgcap_webapp::core::domain::{BlobKey, ImageId};
    use imgcap_webapp::core::ports::Labeler;

    let sdk = imgcap_webapp::adapters::aws::sdk_config(&Moto::shared().aws_config()).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique_name("labels");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let key = BlobKey::original(&"u1".parse().unwrap(), ImageId::generate());
    s3.put_object()
        .bucket(&bucket)
        .key(key.as_str())
        .body(png(6, 32, 32).into())
        .send()
        .await
        .unwrap();
    let labeler =
        RekognitionLabeler::new(aws_sdk_rekognition::Client::new(&sdk), Some(bucket), 5, 50);
    let labels = labeler.detect(&[], &key).await.unwrap();
    assert_eq!(labels[0].name, "Mobile Phone");
}

/// A captioner that answers with a redirect is not followed: the image never goes to the host
/// the redirect names, and the job does not count it as an answer.
#[tokio::test]
async fn captioner_redirects_are_not_followed() {
    let elsewhere = sagemaker_answering(invocation_answer("a caption", "another caption")).await;
    let location = format!("{}/invocations", elsewhere.url);
    let redirecting = Fake::start(move |_| {
        Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", &location)
            .body(Body::empty())
            .unwrap()
    })
    .await;
    let mut config = test_config();
    config.captioner.chain = vec![ProviderKind::Endpoint];
    config.captioner.endpoint.url = Some(format!("{}/invocations", redirecting.url));
    let app = TestApp::spawn(config).await;
    let token = app.token("alice", false).await;
    let response = app.upload(&token, png(1, 64, 48), "image/png").await;
    assert_eq!(response.status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while redirecting.received().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the captioner was never called"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
    let (_, images) = app.get_json(&token, "/api/v1/images").await;
    assert_ne!(images["items"][0]["status"], "done", "{images}");
}

/// An answer that never ends is read up to the cap (1 MiB), not until the call's timeout.
#[tokio::test]
async fn an_endless_captioner_answer_is_cut_off_at_the_cap() {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A body of spaces that never ends; counts what it handed out.
    struct Endless(Arc<AtomicU64>);
    impl hyper::body::Body for Endless {
        type Data = axum::body::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
            const CHUNK: &[u8] = &[b' '; 64 * 1024];
            self.0.fetch_add(CHUNK.len() as u64, Ordering::Relaxed);
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(
                axum::body::Bytes::from_static(CHUNK),
            ))))
        }
    }
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let endless = Fake::start(move |_| {
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::new(Endless(counter.clone())))
            .unwrap()
    })
    .await;
    let mut config = test_config();
    config.captioner.chain = vec![ProviderKind::Endpoint];
    config.captioner.endpoint.url = Some(format!("{}/invocations", endless.url));
    config.captioner.endpoint.timeout_ms = 60_000;
    let app = TestApp::spawn(config).await;
    let token = app.token("alice", false).await;
    let response = app.upload(&token, png(2, 64, 48), "image/png").await;
    assert_eq!(response.status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sent.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the captioner was never called"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Read up to the cap, then dropped: what the fake could hand out is the cap plus what the
    // sockets buffer, and it stops growing.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after_two_seconds = sent.load(Ordering::Relaxed);
    assert!(
        after_two_seconds < 32 << 20,
        "{after_two_seconds} bytes read from an endless answer"
    );
    let metrics = crate::harness::scrape_metrics(&app).await;
    assert!(
        metrics.contains("imgcap_web_caption_jobs_total{outcome=\"waiting_for_captioner\""),
        "the call failed at once, the job waits: {metrics}"
    );
}
