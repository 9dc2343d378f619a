//! Black-box tests of the `imgcap-inference` binary. Each server test starts the real binary on a
//! free port (`--port 0`, the address read from its "listening" log line) with the tiny BLIP
//! checkpoint, and talks HTTP to it; the checkpoint tools run as the binary's subcommands.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_imgcap-inference");
const RUNNER_VAR: &str = "IMGCAP_INFERENCE_TEST_RUNNER";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tiny_model() -> PathBuf {
    repo_root().join("models/tests/fixtures/tiny-blip")
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/data").join(name)).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Environment the tests control: nothing from the developer's shell leaks in.
const CLEARED_ENV: &[&str] = &[
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
    "IMGCAP_LOG_FORMAT",
    "IMGCAP_LOG_LEVEL",
    "RUST_LOG",
];

fn command(args: &[&str], envs: &[(&str, &str)]) -> Command {
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
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

/// Runs a subcommand to completion.
fn run_tool(args: &[&str]) -> Output {
    command(args, &[]).output().unwrap()
}

struct Server {
    child: Child,
    address: String,
    logs: Arc<Mutex<Vec<String>>>,
    started: Instant,
    listening_after: Duration,
}

impl Server {
    /// Starts the binary and waits for its "listening" log line.
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
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
    async fn tiny(args: &[&str]) -> Self {
        let model = tiny_model();
        let mut all = vec!["serve", "--host", "127.0.0.1", "--port", "0", "--model-dir"];
        all.push(model.to_str().unwrap());
        all.extend_from_slice(args);
        let server = Self::start(&all, &[]);
        server.wait_ready().await;
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn port(&self) -> &str {
        self.address.rsplit(':').next().unwrap()
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    async fn wait_ready(&self) {
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

    fn send_signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
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
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
            .to_str()
            .unwrap()
    }

    fn error_type(&self) -> &str {
        self.json["error_type"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {self:?}"))
    }

    /// An error answer: the status, `{error, error_type}`, a message for people.
    fn assert_error(&self, status: u16, error_type: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.error_type(), error_type, "{self:?}");
        assert!(
            self.json["error"].as_str().is_some_and(|e| e.len() > 10),
            "{self:?}"
        );
        assert!(self.header("content-type").starts_with("application/json"));
    }
}

async fn answer(response: reqwest::Response) -> Answer {
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
async fn post_raw(
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

async fn post_json(
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

async fn get(client: &Client, server: &Server, path: &str) -> Answer {
    answer(client.get(server.url(path)).send().await.unwrap()).await
}

/// A successful caption answer: the captions the mode asks for, well-formed.
fn assert_captions(answer: &Answer, mode: &str) {
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
    assert_eq!(model["dtype"], "f32");
    assert_eq!(model["device"], "cpu");
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
fn documented_statuses(doc: &Value) -> BTreeMap<(String, String), BTreeSet<u16>> {
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
async fn stalled_request(server: &Server, declared: usize, sent: &[u8]) -> TcpStream {
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
async fn read_raw_answer(stream: &mut TcpStream) -> (u16, String) {
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
async fn exchange(stream: &mut TcpStream, request: &str) -> (u16, String, String) {
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
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Duration {
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
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

async fn metrics_text(server: &Server) -> String {
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

// ---------------------------------------------------------------------------------------------
// Test images
// ---------------------------------------------------------------------------------------------

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(kind);
    out.extend(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend(crc.sum().to_be_bytes());
}

/// A 200-byte PNG whose header claims `width` x `height` pixels (a decompression bomb).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    png_chunk(&mut png, b"IHDR", &ihdr);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&[0u8; 64]).unwrap();
    png_chunk(&mut png, b"IDAT", &zlib.finish().unwrap());
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn encoded_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

// ---------------------------------------------------------------------------------------------
// A hub that answers only when the test says so: a model load the test can watch.
// ---------------------------------------------------------------------------------------------

/// Path and `Authorization` header of each request the hub received.
type SeenRequests = Arc<Mutex<Vec<(String, Option<String>)>>>;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

struct GatedHub {
    endpoint: String,
    open: tokio::sync::watch::Sender<bool>,
    seen: SeenRequests,
}

impl GatedHub {
    /// Serves the tiny checkpoint as `repo` at revision `main`, once `release` is called.
    async fn start(repo: &str) -> Self {
        let mut files = BTreeMap::new();
        for name in [
            "config.json",
            "tokenizer.json",
            "preprocessor_config.json",
            "model.safetensors",
        ] {
            let bytes = std::fs::read(tiny_model().join(name)).unwrap();
            files.insert(format!("/{repo}/resolve/main/{name}"), bytes);
        }
        let files = Arc::new(files);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (open, gate) = tokio::sync::watch::channel(false);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_hub_request(
                    stream,
                    files.clone(),
                    gate.clone(),
                    log.clone(),
                ));
            }
        });
        Self {
            endpoint,
            open,
            seen,
        }
    }

    fn release(&self) {
        self.open.send_replace(true);
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve_hub_request(
    mut stream: TcpStream,
    files: Arc<BTreeMap<String, Vec<u8>>>,
    mut gate: tokio::sync::watch::Receiver<bool>,
    seen: SeenRequests,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    seen.lock()
        .unwrap()
        .push((path.clone(), header("authorization")));
    if gate.wait_for(|open| *open).await.is_err() {
        return;
    }
    let response = match files.get(&path) {
        Some(bytes) => {
            let last = bytes.len() - 1;
            let (start, end) = header("range")
                .and_then(|r| {
                    let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
                    Some((a.parse().ok()?, b.parse::<usize>().ok()?.min(last)))
                })
                .unwrap_or((0, last));
            let mut response = format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes \
                 {start}-{end}/{}\r\nETag: \"{:x}\"\r\nX-Repo-Commit: {COMMIT}\r\n\
                 Connection: close\r\n\r\n",
                end + 1 - start,
                bytes.len(),
                bytes.len()
            )
            .into_bytes();
            response.extend_from_slice(&bytes[start..=end]);
            response
        }
        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Error-Code: EntryNotFound\r\n\
                  Connection: close\r\n\r\n"
            .to_vec(),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

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
        json!({"model_id": "org/tiny-blip", "revision": COMMIT, "dtype": "f32",
               "device": "cpu", "image_size": 64})
    );
    assert_eq!(
        info.json["limits"],
        json!({"max_batch_size": 8, "max_batch_wait_ms": 10, "max_concurrent_requests": 64,
               "max_body_bytes": 6 * 1024 * 1024, "request_timeout_ms": 60000,
               "max_image_side": 16384, "max_image_pixels": 40000000})
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_accept_every_content_type_and_mode() {
    let server = Server::tiny(&[]).await;
    let client = client();
    let png = photo("chelsea.png");
    let jpeg = photo("rocket.jpg");

    let answer = post_raw(&client, &server, Some("image/jpeg"), jpeg.clone(), &[]).await;
    assert_captions(&answer, "both");
    assert_eq!(answer.json["model"]["model_id"], "tiny-blip");
    assert!(answer.json["model"]["revision"].is_null());
    assert_eq!(answer.header("x-request-id").len(), 26, "a generated ULID");
    assert_captions(
        &post_raw(&client, &server, Some("image/png"), png.clone(), &[]).await,
        "both",
    );
    assert_captions(
        &post_raw(
            &client,
            &server,
            Some("application/x-image"),
            photo("astronaut.png"),
            &[],
        )
        .await,
        "both",
    );
    // The declared type does not matter, the bytes do.
    assert_captions(
        &post_raw(&client, &server, Some("image/jpeg"), png.clone(), &[]).await,
        "both",
    );
    assert_captions(
        &post_raw(
            &client,
            &server,
            Some("application/octet-stream"),
            jpeg.clone(),
            &[],
        )
        .await,
        "both",
    );
    assert_captions(
        &post_raw(&client, &server, None, jpeg.clone(), &[]).await,
        "both",
    );

    // JSON: base64, data: URI, the `inputs` alias, every mode.
    let concise = post_json(
        &client,
        &server,
        &json!({"image": b64(&png), "mode": "concise"}),
        &[],
    )
    .await;
    assert_captions(&concise, "concise");
    let data_uri = format!("data:image/png;base64,{}", b64(&png));
    assert_captions(
        &post_json(
            &client,
            &server,
            &json!({"image": data_uri, "mode": "creative"}),
            &[],
        )
        .await,
        "creative",
    );
    assert_captions(
        &post_json(&client, &server, &json!({"inputs": b64(&jpeg)}), &[]).await,
        "both",
    );
    assert_captions(
        &post_json(
            &client,
            &server,
            &json!({"image": b64(&jpeg), "mode": "both"}),
            &[],
        )
        .await,
        "both",
    );

    // SageMaker custom attributes set the mode of raw requests and are echoed; a JSON mode wins.
    let attributes = [(
        "x-amzn-sagemaker-custom-attributes",
        "trace=1; mode=creative",
    )];
    let answer = post_raw(
        &client,
        &server,
        Some("image/png"),
        png.clone(),
        &attributes,
    )
    .await;
    assert_captions(&answer, "creative");
    assert_eq!(
        answer.header("x-amzn-sagemaker-custom-attributes"),
        "trace=1; mode=creative"
    );
    let answer = post_json(
        &client,
        &server,
        &json!({"image": b64(&png), "mode": "concise"}),
        &attributes,
    )
    .await;
    assert_captions(&answer, "concise");

    // Parameters: a seed makes sampling repeatable; the request id is the client's.
    let seeded = json!({"image": b64(&png), "mode": "creative",
        "parameters": {"creative": {"seed": 42, "temperature": 0.7, "max_new_tokens": 12},
                       "max_creative_sentences": 1}});
    let first = post_json(&client, &server, &seeded, &[("x-request-id", "req-42")]).await;
    let second = post_json(&client, &server, &seeded, &[]).await;
    assert_captions(&first, "creative");
    assert_eq!(first.json["request_id"], "req-42");
    assert_eq!(
        first.json["captions"]["creative"],
        second.json["captions"]["creative"]
    );
    assert!(
        first.json["captions"]["creative"]["tokens"]
            .as_u64()
            .unwrap()
            <= 12
    );
    let greedy = json!({"image": b64(&png), "mode": "concise",
        "parameters": {"concise": {"strategy": "greedy", "max_new_tokens": 8}, "max_concise_words": 3}});
    let answer = post_json(&client, &server, &greedy, &[("accept", "application/json")]).await;
    assert_captions(&answer, "concise");
    let words = answer.json["captions"]["concise"]["text"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .count();
    assert!(words <= 3, "{answer:?}");
    assert_captions(
        &post_raw(
            &client,
            &server,
            Some("image/png"),
            png.clone(),
            &[("accept", "*/*")],
        )
        .await,
        "both",
    );

    let healthcheck = run_tool(&["healthcheck", "--port", server.port()]);
    assert_eq!(healthcheck.status.code(), Some(0), "{healthcheck:?}");
    // Each request logged one line with its request id.
    let logs = server.logs();
    assert!(
        logs.lines().any(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|event| {
                event["span"]["request_id"] == "req-42" && event["status"] == 200
            })
        }),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let server = Server::tiny(&[]).await;
    let client = client();
    let doc = get(&client, &server, "/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let routes = documented_statuses(&doc.json);
    let documented: BTreeSet<(String, String)> = routes.keys().cloned().collect();
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/ping"),
        ("POST", "/invocations"),
        ("GET", "/health"),
        ("GET", "/info"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(documented, expected);
    for (method, path) in &documented {
        // Served with the documented method, refused with another, and what is served answers
        // with a documented status.
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = answer(
            client
                .request(method.clone(), server.url(path))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            routes[&(method.to_string(), path.clone())].contains(&response.status.as_u16()),
            "{method} {path}: {response:?}"
        );
        let other = if method == reqwest::Method::GET {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::GET
        };
        let refused = answer(
            client
                .request(other, server.url(path))
                .send()
                .await
                .unwrap(),
        )
        .await;
        refused.assert_error(405, "method_not_allowed");
    }
    get(&client, &server, "/nowhere")
        .await
        .assert_error(404, "not_found");
    let invocations = &routes[&("POST".to_string(), "/invocations".to_string())];
    let expected: BTreeSet<u16> = [200, 400, 406, 413, 415, 422, 424, 429, 500, 503, 504].into();
    assert_eq!(invocations, &expected);
    let ping = &routes[&("GET".to_string(), "/ping".to_string())];
    assert_eq!(ping, &BTreeSet::from([200, 503]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_with_a_real_bad_input() {
    let server = Server::tiny(&[]).await;
    let client = client();
    let doc = get(&client, &server, "/openapi.json").await;
    let documented =
        documented_statuses(&doc.json)[&("POST".to_string(), "/invocations".to_string())].clone();
    let png = photo("chelsea.png");
    let mut seen = BTreeSet::new();
    let mut check = |answer: Answer, status: u16, error_type: &str| {
        answer.assert_error(status, error_type);
        assert!(
            documented.contains(&status),
            "{status} is not in the OpenAPI document"
        );
        seen.insert(error_type.to_string());
    };

    // 400
    let answer = post_raw(
        &client,
        &server,
        Some("application/json"),
        b"{\"image\": ".to_vec(),
        &[],
    )
    .await;
    check(answer, 400, "invalid_json");
    let answer = post_json(
        &client,
        &server,
        &json!({"image": "this is not base64!"}),
        &[],
    )
    .await;
    check(answer, 400, "invalid_base64");
    let answer = post_json(
        &client,
        &server,
        &json!({"image": "data:image/png,iVBORw0KGgo="}),
        &[],
    )
    .await;
    check(answer, 400, "invalid_base64");
    check(
        post_raw(&client, &server, Some("image/png"), Vec::new(), &[]).await,
        400,
        "invalid_body",
    );
    // 406
    let answer = post_raw(
        &client,
        &server,
        Some("image/png"),
        png.clone(),
        &[("accept", "text/html")],
    )
    .await;
    check(answer, 406, "not_acceptable");
    // 413: one byte over the 6 MiB default, declared up front...
    let oversize = vec![0u8; 6 * 1024 * 1024 + 1];
    check(
        post_raw(&client, &server, Some("image/png"), oversize, &[]).await,
        413,
        "payload_too_large",
    );
    // ...and streamed without a length.
    let mut stream = TcpStream::connect(&server.address).await.unwrap();
    stream
        .write_all(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // The writer half is handed back, not dropped: dropping it would half-close the socket,
    // which the server takes for a client that has gone.
    let sender = tokio::spawn(async move {
        let chunk = vec![0u8; 256 * 1024];
        for _ in 0..28 {
            let head = format!("{:x}\r\n", chunk.len());
            if writer.write_all(head.as_bytes()).await.is_err()
                || writer.write_all(&chunk).await.is_err()
                || writer.write_all(b"\r\n").await.is_err()
            {
                return writer;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
        writer
    });
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).await.unwrap();
    drop(sender.await.unwrap());
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("payload_too_large"), "{raw}");
    // 415: by declared type, by sniffed bytes.
    check(
        post_raw(&client, &server, Some("image/gif"), GIF.to_vec(), &[]).await,
        415,
        "unsupported_media_type",
    );
    check(
        post_raw(&client, &server, Some("image/jpeg"), GIF.to_vec(), &[]).await,
        415,
        "unsupported_media_type",
    );
    check(
        post_raw(
            &client,
            &server,
            Some("text/plain"),
            b"a cat on a mat".to_vec(),
            &[],
        )
        .await,
        415,
        "unsupported_media_type",
    );
    let answer = post_json(
        &client,
        &server,
        &json!({"image": b64(b"plain text, not an image")}),
        &[],
    )
    .await;
    check(answer, 415, "unsupported_media_type");
    // 422: a truncated JPEG, a decompression bomb (refused from its header, at once), a tiny image.
    let jpeg = photo("rocket.jpg");
    let truncated = jpeg[..jpeg.len() / 2].to_vec();
    check(
        post_raw(&client, &server, Some("image/jpeg"), truncated, &[]).await,
        422,
        "invalid_image",
    );
    let bomb = png_claiming(20_000, 20_000);
    assert!(bomb.len() < 1000);
    let started = Instant::now();
    let answer = post_raw(&client, &server, Some("image/png"), bomb, &[]).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        answer.json["error"]
            .as_str()
            .unwrap()
            .contains("20000x20000"),
        "{answer:?}"
    );
    check(answer, 422, "invalid_image");
    check(
        post_raw(&client, &server, Some("image/png"), encoded_png(8, 8), &[]).await,
        422,
        "invalid_image",
    );
    // 422: parameters.
    for (body, needle) in [
        (
            json!({"image": b64(&png), "parameters": {"concise": {"num_beams": 99}}}),
            "concise.num_beams",
        ),
        (
            json!({"image": b64(&png), "parameters": {"concise": {"temperature": 0.5}}}),
            "does not apply",
        ),
        (
            json!({"image": b64(&png), "parameters": {"creative": {"top_p": 0}}}),
            "creative.top_p",
        ),
        (
            json!({"image": b64(&png), "parameters": {"max_concise_words": 0}}),
            "max_concise_words",
        ),
        (
            json!({"image": b64(&png), "parameters": {"concise": {"max_new_tokens": 100}}}),
            "positions",
        ),
        (
            json!({"image": b64(&png), "parameters": {"beams": 3}}),
            "unknown field",
        ),
        (
            json!({"image": b64(&png), "mode": "poem"}),
            "unknown variant",
        ),
        (json!({"mode": "concise"}), "missing field `image`"),
    ] {
        let answer = post_json(&client, &server, &body, &[]).await;
        assert!(
            answer.json["error"].as_str().unwrap_or("").contains(needle),
            "{needle}: {answer:?}"
        );
        check(answer, 422, "invalid_parameters");
    }
    let answer = post_raw(
        &client,
        &server,
        Some("image/png"),
        png.clone(),
        &[("x-amzn-sagemaker-custom-attributes", "mode=poem")],
    )
    .await;
    assert_eq!(
        answer.header("x-amzn-sagemaker-custom-attributes"),
        "mode=poem"
    );
    check(answer, 422, "invalid_parameters");

    // The server is unharmed, and counted every failure by type.
    assert_captions(
        &post_raw(&client, &server, Some("image/png"), png, &[]).await,
        "both",
    );
    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for error_type in &seen {
        let line = format!("imgcap_inference_request_failure_total{{error_type=\"{error_type}\"}}");
        assert!(text.contains(&line), "no {line} in\n{text}");
    }
}

/// `--max-concurrent-requests 1`: a request whose body is still arriving holds the only slot;
/// the next request gets 429, and the stalled one times out with 504.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_gives_429_and_a_stalled_request_times_out() {
    let server = Server::tiny(&[
        "--max-concurrent-requests",
        "1",
        "--request-timeout-ms",
        "1500",
    ])
    .await;
    let client = client();
    let png = photo("chelsea.png");
    let mut stalled = stalled_request(&server, png.len(), &png[..1000]).await;
    // The stalled request is being read once the server counts it in flight.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let health = get(&client, &server, "/health").await;
        if health.json["in_flight_requests"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{health:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let overloaded = post_raw(&client, &server, Some("image/png"), png.clone(), &[]).await;
    overloaded.assert_error(429, "overloaded");
    assert!(overloaded.header("retry-after").parse::<u32>().unwrap() >= 1);

    let started = Instant::now();
    let (status, body) = read_raw_answer(&mut stalled).await;
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("\"error_type\":\"timeout\""), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The slot is free again.
    assert_captions(
        &post_raw(&client, &server, Some("image/png"), png, &[]).await,
        "both",
    );
}

/// beams × max_new_tokens over `--max-request-work` (default 512) is a 422 that names the
/// budget, given before the image is looked at; typical requests stay within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_work_budget_gets_422_before_its_image_is_decoded() {
    let server = Server::tiny(&[]).await;
    let client = client();
    let png = photo("chelsea.png");
    let heavy = json!({"concise": {"num_beams": 16, "max_new_tokens": 40}});
    let expected = "beams × max_new_tokens = concise 16 × 40 + creative 1 × 40 = 680 exceeds \
                    the server's work budget of 512 per request (IMGCAP_MAX_REQUEST_WORK)";
    // Not an image at all: the budget is checked first.
    for image in [png.as_slice(), b"not an image".as_slice()] {
        let answer = post_json(
            &client,
            &server,
            &json!({"image": b64(image), "parameters": heavy}),
            &[],
        )
        .await;
        answer.assert_error(422, "invalid_parameters");
        assert_eq!(answer.json["error"], expected, "{answer:?}");
    }
    // Only the captions asked for count: 12 × 40 fits alone, not beside the creative caption.
    let twelve = json!({"concise": {"num_beams": 12, "max_new_tokens": 40}});
    let concise_only = json!({"image": b64(&png), "mode": "concise", "parameters": twelve});
    assert_captions(
        &post_json(&client, &server, &concise_only, &[]).await,
        "concise",
    );
    let both = json!({"image": b64(&png), "parameters": twelve});
    post_json(&client, &server, &both, &[])
        .await
        .assert_error(422, "invalid_parameters");
    let typical = json!({"image": b64(&png),
        "parameters": {"concise": {"num_beams": 8, "max_new_tokens": 40}}});
    assert_captions(&post_json(&client, &server, &typical, &[]).await, "both");

    let strict = Server::tiny(&["--max-request-work", "99"]).await;
    let answer = post_raw(&client, &strict, Some("image/png"), png, &[]).await;
    answer.assert_error(422, "invalid_parameters");
    assert!(
        answer.json["error"].as_str().unwrap().contains(
            "concise 3 × 20 + creative 1 × 40 = 100 exceeds the server's work budget of 99"
        ),
        "{answer:?}"
    );
}

/// Images that decode to far more than they weigh share a memory budget: a burst beyond it is
/// answered 503 (`busy`, `Retry-After`) rather than decoded at once, an image needing more than
/// the whole budget is 422, a colour profile that inflates to 300 MB is never inflated, and
/// the server keeps captioning afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amplifying_images_share_a_memory_budget_and_a_burst_gets_503() {
    use imgcap_imaging::hostile;
    let server = Server::tiny(&[
        "--image-memory-budget-mb",
        "64",
        "--image-memory-wait-ms",
        "0",
        "--preprocess-workers",
        "8",
    ])
    .await;
    let client = client();
    // 2000×2000 16-bit RGBA: about 30 KB that decode to 32 MB, about 52 MB with the RGB8
    // copy and working set: one fits the budget at a time.
    let burst = (0..8).map(|seed| {
        let request = client
            .post(server.url("/invocations"))
            .header("content-type", "image/png")
            .body(hostile::png_rgba16(2000, 2000, seed));
        async move { answer(request.send().await.unwrap()).await }
    });
    let answers = futures_join_all(burst).await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    statuses.sort_unstable();
    for answer in &answers {
        match answer.status.as_u16() {
            200 => assert_captions(answer, "both"),
            503 => {
                answer.assert_error(503, "busy");
                assert_eq!(
                    answer.json["error"],
                    "The server is busy processing other images; please try again in a few \
                     seconds."
                );
                assert_eq!(answer.header("retry-after"), "1");
            }
            _ => panic!("unexpected answer {answer:?}"),
        }
    }
    assert!(
        statuses.contains(&200) && statuses.contains(&503),
        "{statuses:?}"
    );

    // More than the whole budget: refused outright.
    let huge = hostile::png_rgba16(3000, 3000, 99);
    let huge = post_raw(&client, &server, Some("image/png"), huge, &[]).await;
    huge.assert_error(422, "invalid_image");
    assert!(
        huge.json["error"]
            .as_str()
            .unwrap()
            .contains("at most 64 MiB"),
        "{huge:?}"
    );
    // A 300 MB colour profile is measured and skipped, not inflated.
    let profile = hostile::png_with_inflating_profile(64, 64, 300 << 20, 1);
    let profile = post_raw(&client, &server, Some("image/png"), profile, &[]).await;
    assert_captions(&profile, "both");
    let normal = post_raw(
        &client,
        &server,
        Some("image/png"),
        photo("chelsea.png"),
        &[],
    )
    .await;
    assert_captions(&normal, "both");
}

/// Slowloris: a connection that sends part of a request head and stalls, or trickles it a byte
/// at a time, is closed at the header-read timeout; a kept-alive connection left idle is closed
/// at the keep-alive timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_and_idle_connections_are_closed() {
    let server = Server::tiny(&[
        "--header-read-timeout-ms",
        "600",
        "--keep-alive-timeout-ms",
        "400",
    ])
    .await;
    let head = b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n";
    let mut stalled = TcpStream::connect(&server.address).await.unwrap();
    stalled.write_all(&head[..30]).await.unwrap();
    let stalled_for = until_closed(&mut stalled, Duration::from_secs(5)).await;
    assert!(stalled_for >= Duration::from_millis(400), "{stalled_for:?}");

    let trickled = TcpStream::connect(&server.address).await.unwrap();
    let (mut reader, mut writer) = trickled.into_split();
    let trickle = tokio::spawn(async move {
        for byte in head {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        writer
    });
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a trickled head kept its connection open");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(trickle.await.unwrap());

    // A finished request, then silence: closed at the keep-alive timeout.
    let mut idle = TcpStream::connect(&server.address).await.unwrap();
    let (status, _, _) = exchange(&mut idle, "GET /ping HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert_eq!(status, 200);
    let idle_for = until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(idle_for >= Duration::from_millis(300), "{idle_for:?}");

    let text = metrics_text(&server).await;
    let header_timeouts = metric(
        &text,
        "imgcap_inference_connection_timeouts_total{timeout=\"header_read\"}",
    );
    assert!(header_timeouts >= Some(2.0), "{text}");
    let idle_timeouts = metric(
        &text,
        "imgcap_inference_connection_timeouts_total{timeout=\"keep_alive\"}",
    );
    assert!(idle_timeouts >= Some(1.0), "{text}");
}

/// `--max-connections 2`: a third connection is answered 429 (`overloaded`, `Retry-After`) and
/// closed at once, not queued; once a connection closes, a new one is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_with_429() {
    let server = Server::tiny(&["--max-connections", "2"]).await;
    let ping = "GET /ping HTTP/1.1\r\nHost: test\r\n\r\n";
    let first = TcpStream::connect(&server.address).await.unwrap();
    // The readiness check's connection may still be closing: retry until one is served.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut second = loop {
        let mut stream = TcpStream::connect(&server.address).await.unwrap();
        let (status, _, _) = exchange(&mut stream, ping).await;
        if status == 200 {
            break stream;
        }
        assert!(
            Instant::now() < deadline,
            "no connection served beside the idle one"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let mut third = TcpStream::connect(&server.address).await.unwrap();
    let started = Instant::now();
    let (status, head, body) = exchange(&mut third, ping).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(status, 429, "{head}\n{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error_type"], "overloaded");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("2 open connections"),
        "{error}"
    );
    until_closed(&mut third, Duration::from_secs(2)).await;
    // The connections within the cap are unaffected.
    let (status, _, _) = exchange(&mut second, ping).await;
    assert_eq!(status, 200);

    drop(first);
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(&server.address).await.unwrap();
        let (status, _, _) = exchange(&mut stream, ping).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots were not given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = metrics_text(&server).await;
    assert!(
        metric(&text, "imgcap_inference_refused_connections_total") >= Some(1.0),
        "{text}"
    );
    assert!(text.contains("imgcap_inference_open_connections"), "{text}");
}

/// A queued request whose client disconnects, and one that times out while queued, are
/// dropped before their batch starts: no batch runs for them, and the metric counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_whose_client_has_gone_are_dropped_and_counted() {
    // A long batch window: the requests wait in the queue while their clients go.
    let server = Server::tiny(&[
        "--max-batch-wait-ms",
        "3000",
        "--request-timeout-ms",
        "1000",
    ])
    .await;
    let client = client();
    let png = encoded_png(64, 64);
    let mut disconnecting = stalled_request(&server, png.len(), &png).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&client, &server, "/health").await.json["queue_size"] != 1 {
        assert!(Instant::now() < deadline, "never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    disconnecting.shutdown().await.unwrap();
    drop(disconnecting);
    post_raw(&client, &server, Some("image/png"), png.clone(), &[])
        .await
        .assert_error(504, "timeout");

    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics_text(&server).await;
        let dropped = "imgcap_inference_abandoned_requests_total{stage=\"queued\"}";
        if metric(&text, dropped) == Some(2.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "not dropped:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        metric(&text, "imgcap_inference_batch_size_count"),
        Some(1.0),
        "only the warm-up ran"
    );
    assert_eq!(metric(&text, "imgcap_inference_queue_size"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_batched_and_measured() {
    let server = Server::tiny(&["--max-batch-size", "8", "--max-batch-wait-ms", "20"]).await;
    let client = client();
    let images = [
        photo("chelsea.png"),
        photo("rocket.jpg"),
        photo("coffee.png"),
    ];
    let requests = (0..32).map(|i| {
        let request = client
            .post(server.url("/invocations"))
            .header("content-type", "image/png")
            .body(images[i % images.len()].clone());
        async move { answer(request.send().await.unwrap()).await }
    });
    let answers = futures_join_all(requests).await;
    let mut largest = 0;
    for answer in &answers {
        assert_captions(answer, "both");
        largest = largest.max(answer.header("x-batch-size").parse::<u32>().unwrap());
    }
    assert!(largest > 1 && largest <= 8, "largest batch {largest}");

    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    // Batches of more than one image: fewer batches than images.
    let batches = value("imgcap_inference_batch_size_count");
    let single = value("imgcap_inference_batch_size_bucket{le=\"1\"}");
    assert!(
        batches > single,
        "{batches} batches, {single} of one image\n{text}"
    );
    assert!(
        value("imgcap_inference_batch_size_sum") >= 33.0,
        "32 requests + the warm-up"
    );
    assert_eq!(
        value("imgcap_inference_requests_total{status=\"200\"}"),
        32.0
    );
    assert_eq!(value("imgcap_inference_request_success_total"), 32.0);
    assert_eq!(value("imgcap_inference_queue_size"), 0.0);
    for histogram in [
        "imgcap_inference_request_duration_seconds_count",
        "imgcap_inference_preprocess_duration_seconds_count",
        "imgcap_inference_queue_duration_seconds_count",
    ] {
        assert_eq!(
            value(histogram),
            if histogram.contains("queue") {
                33.0
            } else {
                32.0
            },
            "{histogram}"
        );
    }
    assert!(value("imgcap_inference_inference_duration_seconds_count") < 33.0);
    assert!(value("imgcap_inference_generated_tokens_total{caption=\"concise\"}") >= 32.0);
    assert!(value("imgcap_inference_generated_tokens_total{caption=\"creative\"}") >= 32.0);
    assert!(text.contains("# HELP imgcap_inference_batch_size"));
}

/// `join_all` without the futures crate: spawn each request and collect in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
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

#[test]
fn a_missing_model_stops_the_server_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &[
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--model-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
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

/// A copy of the tiny checkpoint to break.
fn tiny_copy(parent: &Path) -> PathBuf {
    let dir = parent.join("checkpoint");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(tiny_model()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn check_model_accepts_the_tiny_model_and_names_each_problem() {
    let tiny = tiny_model();
    let output = run_tool(&["check-model", tiny.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let report = stdout(&output);
    assert!(report.contains("the checkpoint is valid"), "{report}");
    assert!(report.contains("test caption"), "{report}");

    // A missing tensor and a mis-shaped one, both named with their shapes.
    let work = tempfile::tempdir().unwrap();
    let dir = tiny_copy(work.path());
    let weights = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).unwrap();
    let removed = "text_decoder.bert.encoder.layer.1.crossattention.self.key.weight";
    assert!(tensors.remove(removed).is_some());
    let reshaped = "vision_model.post_layernorm.weight";
    tensors.insert(
        reshaped.into(),
        candle_core::Tensor::zeros(16, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let output = run_tool(&["check-model", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains(&format!("missing {removed} (expected shape [32, 32])")),
        "{report}"
    );
    assert!(
        report.contains(&format!("{reshaped} has shape [16], the config needs [32]")),
        "{report}"
    );
    assert!(report.contains("FAIL weights"), "{report}");

    // A truncated download.
    let bytes = std::fs::read(tiny_model().join("model.safetensors")).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let report = stdout(&run_tool(&["check-model", dir.to_str().unwrap()]));
    assert!(report.contains("truncated"), "{report}");

    // No tokenizer.
    std::fs::copy(tiny_model().join("model.safetensors"), &weights).unwrap();
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let output = run_tool(&["check-model", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(report.contains("tokenizer.json"), "{report}");
    assert!(report.contains("not found"), "{report}");
}

#[test]
fn package_writes_an_archive_that_check_model_accepts() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("model.tar.gz");
    let tiny = tiny_model();
    let output = run_tool(&[
        "package",
        "--model-dir",
        tiny.to_str().unwrap(),
        "--out",
        archive.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("wrote"));

    // The files sit at the root of the archive, as SageMaker unpacks them into /opt/ml/model.
    let unpacked = work.path().join("opt-ml-model");
    let gzip = flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap());
    let mut tar = tar::Archive::new(gzip);
    let names: BTreeSet<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in [
        "config.json",
        "tokenizer.json",
        "preprocessor_config.json",
        "model.safetensors",
    ] {
        assert!(names.contains(name), "{names:?}");
    }
    assert!(names.iter().all(|n| !n.contains('/')), "{names:?}");
    let gzip = flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap());
    tar::Archive::new(gzip).unpack(&unpacked).unwrap();
    let mut original = Vec::new();
    std::fs::File::open(tiny.join("model.safetensors"))
        .unwrap()
        .read_to_end(&mut original)
        .unwrap();
    assert_eq!(
        std::fs::read(unpacked.join("model.safetensors")).unwrap(),
        original
    );
    let check = run_tool(&["check-model", unpacked.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");

    // A broken checkpoint is not packaged.
    let broken = tiny_copy(work.path());
    std::fs::remove_file(broken.join("tokenizer.json")).unwrap();
    let refused = work.path().join("refused.tar.gz");
    let output = run_tool(&[
        "package",
        "--model-dir",
        broken.to_str().unwrap(),
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!refused.exists());
}

#[test]
fn quantize_writes_a_checkpoint_that_loads() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("tiny-q8");
    let tiny = tiny_model();
    let output = run_tool(&[
        "quantize",
        "--model-dir",
        tiny.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--type",
        "q8_0",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(out.join("model.gguf").is_file());
    let check = run_tool(&["check-model", out.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");
    // Writing over a checkpoint is refused.
    let again = run_tool(&[
        "quantize",
        "--model-dir",
        tiny.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a checkpoint"));
}

/// `--help` of every command names each setting's variable, and `docs/models.md` lists them
/// all.
#[test]
fn help_and_docs_document_every_setting_with_its_environment_variable() {
    let docs = std::fs::read_to_string(repo_root().join("docs/models.md")).unwrap();
    let mut variables = BTreeSet::new();
    for command in [
        &[][..],
        &["package"],
        &["quantize"],
        &["healthcheck"],
        &["check-model"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let output = run_tool(&args);
        assert!(output.status.success(), "{args:?}");
        let help = stdout(&output);
        for part in help.split("[env: ").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            variables.insert(name);
        }
        if command.is_empty() {
            for sub in ["serve", "check-model", "package", "quantize", "healthcheck"] {
                assert!(help.contains(sub), "{sub} missing from --help");
            }
        }
    }
    for expected in [
        "HF_MODEL_ID",
        "HF_MODEL_REVISION",
        "HF_TOKEN",
        "IMGCAP_MODEL_DIR",
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
        "IMGCAP_LOG_FORMAT",
    ] {
        assert!(
            variables.contains(expected),
            "{expected} missing from --help"
        );
    }
    for variable in &variables {
        assert!(
            docs.contains(&format!("`{variable}`")),
            "{variable} is missing from docs/models.md"
        );
    }
}
