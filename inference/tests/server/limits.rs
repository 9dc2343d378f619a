//! Request limits: concurrency (429), the request timeout (504), the work budget (422) and the
//! image memory budget (503).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    answer, assert_captions, b64, client, futures_join_all, get, photo, post_json, post_raw,
    read_raw_answer, stalled_request, Server,
};

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
