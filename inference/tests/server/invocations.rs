//! `POST /invocations`: every content type and mode, and every error status from a real bad
//! input.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{
    assert_captions, b64, client, documented_statuses, get, metrics_text, photo, post_json,
    post_raw, run_tool, Answer, Server,
};
use crate::images::{encoded_png, png_claiming, GIF};

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

/// The caption rules (`imgcap_common::caption`) hold for what the server answers: a prompt that
/// names the medium does not open the alt text, and sampling's loops are cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captions_follow_the_alt_text_rules_whatever_the_prompt() {
    let server = Server::tiny(&[]).await;
    let client = client();
    let request = json!({"image": b64(&photo("rocket.jpg")), "parameters": {
        "concise_prompt": "a picture of", "creative_prompt": "a picture of",
        "concise": {"strategy": "greedy", "max_new_tokens": 20},
        "creative": {"seed": 7, "max_new_tokens": 40}}});
    let answer = post_json(&client, &server, &request, &[]).await;
    assert_captions(&answer, "both");
    let text = |kind: &str| {
        answer.json["captions"][kind]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let concise = text("concise");
    assert!(
        !concise.to_lowercase().starts_with("a picture of"),
        "{concise:?}"
    );
    assert!(
        concise.chars().count() <= 125 && concise.split(' ').count() <= 10,
        "{concise:?}"
    );
    let creative = text("creative");
    let words: Vec<String> = creative
        .split(' ')
        .map(|w| {
            w.trim_matches(|c: char| c.is_ascii_punctuation())
                .to_lowercase()
        })
        .collect();
    let mut phrases = BTreeSet::new();
    for phrase in words.windows(3) {
        assert!(
            phrases.insert(phrase.to_vec()),
            "{creative:?} repeats {phrase:?}"
        );
    }
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
    let text = metrics_text(&server).await;
    for error_type in &seen {
        let line = format!("imgcap_inference_request_failure_total{{error_type=\"{error_type}\"}}");
        assert!(text.contains(&line), "no {line} in\n{text}");
    }
}
