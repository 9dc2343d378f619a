//! Dynamic batching: concurrent requests share batches, and queued requests whose client has
//! gone are dropped before their batch.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::harness::{
    answer, assert_captions, client, futures_join_all, get, metric, metrics_text, photo, post_raw,
    stalled_request, Server,
};
use crate::images::encoded_png;

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

    let text = metrics_text(&server).await;
    let value = |name: &str| -> f64 {
        metric(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"))
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
