//! Start-up, model loading and shutdown: `/ping` while the model loads, the environment
//! SageMaker starts the server with, a model that cannot load, and SIGTERM draining.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::harness::{
    assert_captions, assert_captions_in, client, default_dtype, device_name, get, metric,
    metrics_text, on_gpu, photo, post_raw, read_raw_answer, run_tool, stalled_request, tiny_model,
    Server,
};
use crate::hub::{GatedHub, COMMIT};

/// The model comes from the hub (`HF_MODEL_ID`, `HF_ENDPOINT`, `HF_TOKEN`), which holds its
/// answers until the test has seen the server listen and refuse work while loading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_503_while_the_model_loads_then_200() {
    let hub = GatedHub::start("org/tiny-blip").await;
    let cache = tempfile::tempdir().unwrap();
    let server = Server::start(
        &["--host", "127.0.0.1", "--port", "0"],
        &[
            ("HF_MODEL_ID", "org/tiny-blip"),
            ("HF_ENDPOINT", &hub.endpoint),
            ("HF_TOKEN", "hf_test_token"),
            ("HF_HUB_CACHE", cache.path().to_str().unwrap()),
        ],
    );
    assert!(
        server.listening_after < Duration::from_secs(2),
        "listening only after {:?}",
        server.listening_after
    );
    let client = client();
    // The load has begun: the server is waiting on the hub.
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no hub request; logs:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let ping_started = Instant::now();
    let ping = get(&client, &server, "/ping").await;
    assert!(ping_started.elapsed() < Duration::from_secs(2));
    ping.assert_error(503, "not_ready");
    assert!(ping.header("retry-after").parse::<u32>().unwrap() > 0);
    let health = get(&client, &server, "/health").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json["status"], "loading");
    let info = get(&client, &server, "/info").await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json["status"], "loading");
    assert!(info.json["model"].is_null());
    assert!(
        info.json["gpu"].is_null(),
        "no GPU reported before the model loads"
    );
    post_raw(
        &client,
        &server,
        Some("image/png"),
        photo("chelsea.png"),
        &[],
    )
    .await
    .assert_error(503, "not_ready");
    let healthcheck = run_tool(&["healthcheck", "--port", server.port()]);
    assert_eq!(healthcheck.status.code(), Some(1));

    hub.release();
    server.wait_ready().await;
    let ping = get(&client, &server, "/ping").await;
    assert_eq!(ping.status, StatusCode::OK);
    assert_eq!(ping.json["status"], "ready");
    let info = get(&client, &server, "/info").await;
    assert_eq!(info.json["status"], "ready");
    assert_eq!(info.json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info.json["model"],
        json!({"model_id": "org/tiny-blip", "revision": COMMIT, "dtype": default_dtype(),
               "device": device_name(), "image_size": 64})
    );
    // The batch defaults follow the device: 32 requests on a GPU, 8 on the CPU, and a work
    // budget of 100 (a default request) per request.
    let batch = if on_gpu() { 32 } else { 8 };
    assert_eq!(
        info.json["limits"],
        json!({"max_batch_size": batch, "max_batch_work": batch * 100, "max_batch_wait_ms": 10,
               "max_concurrent_requests": 64,
               "max_body_bytes": 6 * 1024 * 1024, "request_timeout_ms": 60000,
               "max_image_side": 16384, "max_image_pixels": 40000000})
    );
    assert_gpu_reported(&info.json["gpu"], &metrics_text(&server).await);
    let healthcheck = run_tool(&["healthcheck", "--port", server.port()]);
    assert_eq!(healthcheck.status.code(), Some(0));
    let requests = hub.requests();
    assert!(requests
        .iter()
        .all(|(_, auth)| auth.as_deref() == Some("Bearer hf_test_token")));
    assert!(requests
        .iter()
        .any(|(path, _)| path.ends_with("/model.safetensors")));
}

/// SIGTERM: no new connections, the in-flight request still completes, exit status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    let mut server = Server::tiny(&[]).await;
    let png = photo("chelsea.png");
    let mut in_flight = stalled_request(&server, png.len(), &png[..1000]).await;
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&client, &server, "/health").await.json["in_flight_requests"] != 1 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.send_signal(libc::SIGTERM);
    // New connections are refused once the signal has been handled.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&server.address).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting; logs:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    in_flight.write_all(&png[1000..]).await.unwrap();
    let (status, body) = read_raw_answer(&mut in_flight).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(answer["captions"]["concise"]["text"].is_string());
    let exit = server.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0), "logs:\n{}", server.logs());
    assert!(server.logs().contains("shutdown signal received"));
}

/// `/info`'s `gpu` and the GPU memory gauges of `/metrics`: absent on the CPU; on a GPU its
/// name, compute capability and memory, in both.
fn assert_gpu_reported(gpu: &Value, metrics: &str) {
    let used_gauge = metric(metrics, "imgcap_inference_gpu_memory_used_bytes");
    let total_gauge = metric(metrics, "imgcap_inference_gpu_memory_total_bytes");
    if !on_gpu() {
        assert!(gpu.is_null(), "no GPU on the CPU: {gpu}");
        assert_eq!((used_gauge, total_gauge), (None, None), "{metrics}");
        return;
    }
    assert!(gpu["name"].as_str().is_some_and(|n| !n.is_empty()), "{gpu}");
    let cc = gpu["compute_capability"].as_str().unwrap();
    assert!(
        cc.split_once('.').is_some_and(
            |(major, minor)| major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok()
        ),
        "{gpu}"
    );
    let used = gpu["memory_used_bytes"].as_u64().unwrap();
    let total = gpu["memory_total_bytes"].as_u64().unwrap();
    assert!(0 < used && used <= total, "{gpu}");
    assert_eq!(total_gauge, Some(total as f64), "{metrics}");
    assert!(
        used_gauge.is_some_and(|u| u > 0.0 && u <= total as f64),
        "{metrics}"
    );
}

/// SageMaker runs the image with no flags (or just `serve`); everything comes from the
/// environment, and `SAGEMAKER_BIND_TO_PORT` beats `IMGCAP_PORT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_argument_serves_with_the_environment() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let model = tiny_model();
    let server = Server::start(
        &[],
        &[
            ("IMGCAP_MODEL_DIR", model.to_str().unwrap()),
            ("IMGCAP_HOST", "127.0.0.1"),
            ("IMGCAP_PORT", &taken_port),
            ("SAGEMAKER_BIND_TO_PORT", "0"),
            ("IMGCAP_MAX_BATCH_SIZE", "3"),
        ],
    );
    assert_ne!(server.port(), taken_port);
    server.wait_ready().await;
    let client = client();
    let info = get(&client, &server, "/info").await;
    assert_eq!(info.json["limits"]["max_batch_size"], 3);
    assert_eq!(info.json["limits"]["max_batch_work"], 300);
    assert_eq!(info.json["model"]["model_id"], "tiny-blip");
    assert_captions(
        &post_raw(
            &client,
            &server,
            Some("image/png"),
            photo("coffee.png"),
            &[],
        )
        .await,
        "both",
    );
    drop(taken);
}

/// bf16 on the CPU (bf16 matrices, f32 activations) runs on any CPU; `auto` picks it where
/// the CPU has AVX512-BF16. `/info` and every answer say which precision served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bf16_serves_captions_and_says_so() {
    let server = Server::tiny(&["--dtype", "bf16"]).await;
    let client = client();
    let info = get(&client, &server, "/info").await;
    assert_eq!(info.json["model"]["dtype"], "bf16");
    let answer = post_raw(
        &client,
        &server,
        Some("image/png"),
        photo("coffee.png"),
        &[],
    )
    .await;
    assert_captions_in(&answer, "both", "bf16");
}

#[test]
fn an_unknown_dtype_stops_the_server_with_the_choices() {
    let mut server = Server::serve(&tiny_model(), &["--dtype", "fp8"]);
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1));
    let logs = server.logs();
    assert!(
        logs.contains("unknown dtype `fp8`: use auto, f32, f16 or bf16"),
        "{logs}"
    );
}

#[test]
fn a_missing_model_stops_the_server_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::serve(dir.path(), &[]);
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1));
    let logs = server.logs();
    assert!(
        logs.contains("cannot load the model") && logs.contains("config.json"),
        "{logs}"
    );
    let started = server.started.elapsed();
    assert!(started < Duration::from_secs(20));
}
