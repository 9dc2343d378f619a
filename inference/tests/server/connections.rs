//! Connection limits: header-read and keep-alive timeouts, and the connection cap (429).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{exchange, metric, metrics_text, until_closed, Server};

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
