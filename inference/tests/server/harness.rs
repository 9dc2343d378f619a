//! Starting the binary (on a free port, its logs kept), requests and their answers, raw HTTP
//! for requests a client library will not send, and the metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const BIN: &str = env!("CARGO_BIN_EXE_imgcap-inference");
pub const RUNNER_VAR: &str = "IMGCAP_INFERENCE_TEST_RUNNER";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The device the servers under test run on: `IMGCAP_TEST_DEVICE` (`cuda`, `cuda:N`; set by
/// scripts/gpu-check.sh) passed on as `IMGCAP_DEVICE`; unset, the servers choose (`auto`: the
/// CPU in a build without GPU features).
pub const TEST_DEVICE_VAR: &str = "IMGCAP_TEST_DEVICE";

fn test_device() -> Option<String> {
    std::env::var(TEST_DEVICE_VAR)
        .ok()
        .filter(|d| !d.is_empty())
}

/// Whether the servers under test run on a GPU.
pub fn on_gpu() -> bool {
    test_device().is_some_and(|d| d != "cpu")
}

/// How `/info` and the answers name the servers' device.
pub fn device_name() -> &'static str {
    if on_gpu() {
        "cuda"
    } else {
        "cpu"
    }
}

/// What `--dtype auto`, the default, loads on the test device.
pub fn default_dtype() -> &'static str {
    let device = imgcap_models::parse_device(test_device().as_deref().unwrap_or("cpu")).unwrap();
    imgcap_models::captioner::dtype_name(imgcap_models::parse_dtype("auto", &device).unwrap())
}

pub fn tiny_model() -> PathBuf {
    repo_root().join("models/tests/fixtures/tiny-blip")
}

pub fn photo(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/data").join(name)).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Environment the tests control: nothing from the developer's shell leaks in.
pub const CLEARED_ENV: &[&str] = &[
    "HF_MODEL_ID",
    "HF_MODEL_REVISION",
    "HF_TOKEN",
    "HF_ENDPOINT",
    "SAGEMAKER_BIND_TO_PORT",
    "IMGCAP_MODEL_DIR",
    "IMGCAP_HOST",
    "IMGCAP_PORT",
    "IMGCAP_DEVICE",
    "IMGCAP_DTYPE",
    "IMGCAP_MAX_BATCH_SIZE",
    "IMGCAP_MAX_BATCH_WAIT_MS",
    "IMGCAP_MAX_CONCURRENT_REQUESTS",
    "IMGCAP_MAX_BODY_BYTES",
    "IMGCAP_REQUEST_TIMEOUT_MS",
    "IMGCAP_SHUTDOWN_TIMEOUT_MS",
    "IMGCAP_MAX_REQUEST_WORK",
    "IMGCAP_MAX_CONNECTIONS",
    "IMGCAP_HEADER_READ_TIMEOUT_MS",
    "IMGCAP_KEEP_ALIVE_TIMEOUT_MS",
    "IMGCAP_IMAGE_MEMORY_BUDGET_MB",
    "IMGCAP_IMAGE_MEMORY_WAIT_MS",
    "IMGCAP_FAULT_INJECTION",
    "IMGCAP_LOG_FORMAT",
    "IMGCAP_LOG_LEVEL",
    "RUST_LOG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "IMGCAP_TRACES_SIGV4_REGION",
    // The trace tests give the server the AWS credentials it may sign with, or none.
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
];

pub fn command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    assert!(
        !Path::new("/opt/ml/model").exists(),
        "/opt/ml/model exists on this machine: the server would load it instead of the test model"
    );
    // IMGCAP_INFERENCE_TEST_RUNNER names a program that runs the binary elsewhere with these
    // arguments (scripts/inference-in-container.sh: in the built image); unset, the binary
    // cargo built runs here.
    let mut command = match std::env::var_os(RUNNER_VAR) {
        Some(runner) if !runner.is_empty() => Command::new(runner),
        _ => Command::new(BIN),
    };
    command.args(args);
    for name in CLEARED_ENV {
        command.env_remove(name);
    }
    command.env("NO_PROXY", "127.0.0.1,localhost");
    if let Some(device) = test_device() {
        command.env("IMGCAP_DEVICE", device);
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

/// Runs a subcommand to completion.
pub fn run_tool(args: &[&str]) -> Output {
    command(args, &[]).output().unwrap()
}

pub struct Server {
    pub child: Child,
    pub address: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub started: Instant,
    pub listening_after: Duration,
}

impl Server {
    /// Starts the binary and waits for its "listening" log line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let started = Instant::now();
        let mut child = command(args, envs)
            .env("IMGCAP_LOG_FORMAT", "json")
            .env("IMGCAP_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    if event["message"] == "listening" {
                        let _ = address_tx.send(event["address"].as_str().unwrap().to_string());
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let address = match address_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server did not start; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                )
            }
        };
        Self {
            child,
            address,
            logs,
            listening_after: started.elapsed(),
            started,
        }
    }

    /// `serve` on the tiny checkpoint, loopback, port 0, plus `args`; waits until ready.
    pub async fn tiny(args: &[&str]) -> Self {
        Self::tiny_with_env(args, &[]).await
    }

    /// [`Server::tiny`] with these environment variables set.
    pub async fn tiny_with_env(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let server = Self::serve_with_env(&tiny_model(), args, envs);
        server.wait_ready().await;
        server
    }

    /// `serve` on the checkpoint in `model_dir`, loopback, port 0, plus `args`; returns once
    /// it listens (or has exited).
    pub fn serve(model_dir: &Path, args: &[&str]) -> Self {
        Self::serve_with_env(model_dir, args, &[])
    }

    fn serve_with_env(model_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut all = vec!["serve", "--host", "127.0.0.1", "--port", "0", "--model-dir"];
        all.push(model_dir.to_str().unwrap());
        all.extend_from_slice(args);
        Self::start(&all, envs)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn port(&self) -> &str {
        self.address.rsplit(':').next().unwrap()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The logs once a line satisfies `wanted`, or a panic with them after 10 s: a line is read
    /// from the server's stderr by another thread, some time after the answer it belongs to.
    pub async fn wait_for_log(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.lines().any(&wanted) {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "the line never came; logs:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_ready(&self) {
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client.get(self.url("/ping")).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "not ready after 60 s; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn send_signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One answer of the server, body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
            .to_str()
            .unwrap()
    }

    pub fn error_type(&self) -> &str {
        self.json["error_type"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {self:?}"))
    }

    /// An error answer: the status, `{error, error_type}`, a message for people.
    pub fn assert_error(&self, status: u16, error_type: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.error_type(), error_type, "{self:?}");
        assert!(
            self.json["error"].as_str().is_some_and(|e| e.len() > 10),
            "{self:?}"
        );
        assert!(self.header("content-type").starts_with("application/json"));
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
    }
}

/// `POST /invocations` with raw bytes and an optional content type, plus extra headers.
pub async fn post_raw(
    client: &Client,
    server: &Server,
    content_type: Option<&str>,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client.post(server.url("/invocations")).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send().await.unwrap()).await
}

pub async fn post_json(
    client: &Client,
    server: &Server,
    body: &Value,
    headers: &[(&str, &str)],
) -> Answer {
    post_raw(
        client,
        server,
        Some("application/json"),
        serde_json::to_vec(body).unwrap(),
        headers,
    )
    .await
}

pub async fn get(client: &Client, server: &Server, path: &str) -> Answer {
    answer(client.get(server.url(path)).send().await.unwrap()).await
}

/// A successful caption answer: the captions the mode asks for, well-formed.
pub fn assert_captions(answer: &Answer, mode: &str) {
    assert_captions_in(answer, mode, default_dtype());
}

/// [`assert_captions`] from a server loaded in `dtype`.
pub fn assert_captions_in(answer: &Answer, mode: &str, dtype: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.json["mode"], mode, "{answer:?}");
    for kind in ["concise", "creative"] {
        let caption = &answer.json["captions"][kind];
        let wanted = mode == "both" || mode == kind;
        assert_eq!(!caption.is_null(), wanted, "{kind} in {answer:?}");
        if wanted {
            assert!(caption["text"].is_string(), "{answer:?}");
            assert!(caption["confidence"].as_f64().unwrap() <= 0.0);
            assert!(caption["tokens"].as_u64().unwrap() >= 1);
        }
    }
    let model = &answer.json["model"];
    assert_eq!(model["dtype"], dtype);
    assert_eq!(model["device"], device_name());
    let timings = &answer.json["timings"];
    for (field, header) in [
        ("total_ms", "x-total-time"),
        ("queue_ms", "x-queue-time"),
        ("preprocess_ms", "x-preprocess-time"),
        ("inference_ms", "x-inference-time"),
    ] {
        let in_body = timings[field].as_f64().unwrap();
        let in_header: f64 = answer.header(header).parse().unwrap();
        assert!(
            in_body >= 0.0 && (in_body - in_header).abs() < 0.001,
            "{field}: {answer:?}"
        );
    }
    let total = timings["total_ms"].as_f64().unwrap();
    let parts = ["queue_ms", "preprocess_ms", "inference_ms"]
        .iter()
        .map(|f| timings[*f].as_f64().unwrap())
        .sum::<f64>();
    assert!(parts <= total + 0.01, "parts {parts} > total {total}");
    assert!(answer.header("x-batch-size").parse::<u32>().unwrap() >= 1);
    assert_eq!(answer.json["request_id"], answer.header("x-request-id"));
}

/// Statuses the OpenAPI document lists per (METHOD, path).
pub fn documented_statuses(doc: &Value) -> BTreeMap<(String, String), BTreeSet<u16>> {
    let mut routes = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let statuses = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .collect();
            routes.insert((method.to_ascii_uppercase(), path.clone()), statuses);
        }
    }
    routes
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP, for requests a client library will not send: stalled bodies, chunked bodies.
// ---------------------------------------------------------------------------------------------

/// Sends the head of a `POST /invocations` declaring `declared` bytes of PNG, and `sent` of them.
pub async fn stalled_request(server: &Server, declared: usize, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(&server.address).await.unwrap();
    let head = format!(
        "POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n\
         Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(sent).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// Reads a whole `Connection: close` answer: status and body.
pub async fn read_raw_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("no answer within 30 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// One request on a kept-alive connection and its answer: status, headers (lower-case names)
/// and body, read to the end of its `Content-Length`.
pub async fn exchange(stream: &mut TcpStream, request: &str) -> (u16, String, String) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if raw.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&raw[end + 4..end + 4 + length]);
                    return (head, body.into_owned());
                }
            }
            match stream.read(&mut buf).await.unwrap() {
                0 => panic!("closed mid-answer: {:?}", String::from_utf8_lossy(&raw)),
                n => raw.extend_from_slice(&buf[..n]),
            }
        }
    };
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no answer within 10 s");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, body)
}

/// Waits until the server closes `stream` (end of stream or reset), discarding what it sends;
/// how long that took.
pub async fn until_closed(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(within, closed)
        .await
        .unwrap_or_else(|_| panic!("still open after {within:?}"));
    started.elapsed()
}

/// The value of the metric line starting with `name` (labels included), if any.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

pub async fn metrics_text(server: &Server) -> String {
    // A fresh connection each time: the tests below close idle ones quickly.
    let client = Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `join_all` without the futures crate: spawn each request and collect in order.
pub async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
