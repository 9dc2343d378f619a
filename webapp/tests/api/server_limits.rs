//! The server's limits on slow and numerous connections (`[server]`): request heads that never
//! finish (slowloris) are closed at the header-read timeout, a stalled upload body is answered
//! 408, idle kept-alive connections are closed, and connections over the cap are refused with
//! 503 and `Retry-After` while the ones within it keep working.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{png, scrape_metrics, test_config, test_data, without_captions, TestApp};

fn address(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Sends `request` and reads one answer: status, lower-cased head, body.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, String, String) {
    stream.write_all(request).await.unwrap();
    read_answer(stream).await
}

async fn read_answer(stream: &mut TcpStream) -> (u16, String, String) {
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

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

const PING: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_slowloris_connections_are_closed_at_the_header_timeout() {
    let mut config = without_captions(test_config());
    config.server.header_read_timeout_ms = 700;
    let app = TestApp::spawn(config).await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for i in 0..40 {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        // Half stall after part of the request line, half after some headers.
        let head: &[u8] = match i % 2 {
            0 => b"GET /healthz HT",
            _ => b"POST /api/v1/images HTTP/1.1\r\nHost: test\r\nX-Slow: 1\r\n",
        };
        stream.write_all(head).await.unwrap();
        slow.push(stream);
    }
    // Meanwhile normal requests are served.
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // One keeps trickling its head, a byte every 100 ms: still closed at the timeout.
    let trickled = TcpStream::connect(address(&app)).await.unwrap();
    let (mut reader, mut writer) = trickled.into_split();
    let trickle = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: 1234567890\r\n" {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    for stream in &mut slow {
        until_closed(stream, Duration::from_secs(5)).await;
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600),
        "closed before the timeout: {elapsed:?}"
    );
    let mut buf = [0u8; 64];
    let trickle_closed = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(
        trickle_closed.is_ok(),
        "a trickled head kept its connection"
    );
    trickle.abort();

    // A new connection: the pooled one from the first check sat idle past the header timeout,
    // and the server closing it can race with a request sent on it (hyper's IncompleteMessage).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let response = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200, "the server still serves");
    let text = scrape_metrics(&app).await;
    let timeouts = metric(
        &text,
        "imgcap_web_connection_timeouts_total{timeout=\"header_read\"}",
    );
    assert!(timeouts >= Some(40.0), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_body_is_cut_off_with_408() {
    let mut config = without_captions(test_config());
    config.server.body_grace_ms = 500;
    config.server.body_min_bytes_per_sec = 16 * 1024;
    let app = TestApp::spawn(config).await;
    let token = app.token("alice", false).await;

    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/images HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&png(1, 64, 64)[..100]).await.unwrap();
    let started = Instant::now();
    let (status, head, body) = read_answer(&mut stream).await;
    let waited = started.elapsed();
    assert_eq!(status, 408, "{head}\n{body}");
    assert!(head.contains("connection: close"), "{head}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error_type"], "request_timeout", "{error}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    until_closed(&mut stream, Duration::from_secs(2)).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM images"),
        0,
        "nothing stored"
    );

    // A body that keeps up with the rate is read in full, though it takes longer than the
    // grace period: a quarter every 200 ms.
    let image = test_data("rocket.jpg");
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/images HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        image.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in image.chunks(image.len().div_ceil(4)) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(chunk).await.unwrap();
    }
    let (status, _, body) = read_answer(&mut stream).await;
    assert_eq!(status, 202, "{body}");

    let text = scrape_metrics(&app).await;
    let cut = metric(
        &text,
        "imgcap_web_connection_timeouts_total{timeout=\"request_body\"}",
    );
    assert_eq!(cut, Some(1.0), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_alive_connections_are_closed() {
    let mut config = without_captions(test_config());
    config.server.keep_alive_timeout_ms = 400;
    let app = TestApp::spawn(config).await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let (status, _, _) = exchange(&mut stream, PING).await;
    assert_eq!(status, 200);
    let idle_for = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(idle_for >= Duration::from_millis(300), "{idle_for:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_with_503() {
    const CAP: usize = 3;
    let mut config = without_captions(test_config());
    config.server.max_connections = CAP as u32;
    let app = TestApp::spawn(config).await;
    // The harness's client may hold one kept-alive connection: open connections until one is
    // refused, each served one request first.
    let mut served = Vec::new();
    let (head, body) = loop {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        let (status, head, body) = exchange(&mut stream, PING).await;
        match status {
            200 => served.push(stream),
            503 => break (head, body),
            other => panic!("{other}: {head}\n{body}"),
        }
        assert!(served.len() <= CAP, "more than {CAP} connections served");
    };
    assert!(served.len() >= CAP - 1, "refused below the cap");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error_type"], "too_many_connections", "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("3 open connections"),
        "{error}"
    );
    // The connections within the cap keep working.
    for stream in &mut served {
        let (status, _, _) = exchange(stream, PING).await;
        assert_eq!(status, 200);
    }
    // Once they close, new connections are served again.
    drop(served);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(address(&app)).await.unwrap();
        let (status, _, _) = exchange(&mut stream, PING).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots were not given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = scrape_metrics(&app).await;
    assert!(
        metric(&text, "imgcap_web_refused_connections_total") >= Some(1.0),
        "{text}"
    );
}
