//! The app in AWS mode (S3, DynamoDB, SQS, Secrets Manager on moto; the tiny embedded model as
//! the captioner): upload → job → done → history → signed URL → delete → gone, then "delete my
//! data" leaves nothing of the user in the bucket or the table but the rate-limit buckets.

use aws_sdk_dynamodb::types::AttributeValue;
use imgcap_webapp::config::Mode;
use imgcap_webapp::Application;

use crate::aws_resources::Resources;
use crate::harness::{json, png, test_config, test_data, TestApp};
use crate::moto::unique_name;

/// Terraform's `maxReceiveCount`, which `worker.max_attempts` must equal.
const MAX_ATTEMPTS: u32 = 5;

#[tokio::test]
async fn upload_is_captioned_listed_served_and_deleted_on_aws() {
    let resources = Resources::get(MAX_ATTEMPTS).await;
    let mut config = test_config();
    config.mode = Mode::Aws;
    config.worker.max_attempts = resources.max_receive_count;
    config.aws = resources.aws.clone();
    let app = TestApp::spawn(config).await;
    let sdk = resources.sdk().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let bucket = resources.aws.s3_bucket.clone().unwrap();
    let table = resources.aws.dynamodb_table.clone().unwrap();
    let (alice, bob) = (unique_name("alice"), unique_name("bob"));
    let token = app.token(&alice, false).await;
    let bob_token = app.token(&bob, false).await;

    let done = app
        .upload_and_wait(&token, test_data("rocket.jpg"), "image/jpeg", "done")
        .await;
    let id = done["id"].as_str().unwrap().to_owned();
    assert_eq!(done["result"]["provider"], "embedded");
    assert!(!done["result"]["concise"]["text"]
        .as_str()
        .unwrap()
        .is_empty());

    // The same bytes again: the existing record.
    let (status, again) = json(
        app.upload(&token, test_data("rocket.jpg"), "image/jpeg")
            .await,
    )
    .await;
    assert_eq!((status, again["image"]["id"].as_str()), (200, Some(&*id)));

    // Presigned S3 URLs, 5 minutes by default, serve the stored original.
    let image_url = done["image_url"].as_str().unwrap();
    assert!(image_url.contains("X-Amz-Expires=300"), "{image_url}");
    assert!(image_url.contains(&format!("/{bucket}/originals/{alice}/{id}")));
    let original = app.client.get(image_url).send().await.unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(
        original.bytes().await.unwrap().len() as u64,
        done["size_bytes"].as_u64().unwrap()
    );

    // History pages by a cursor that is Alice's only.
    let (status, second) = json(app.upload(&token, png(7, 64, 64), "image/png").await).await;
    assert_eq!(status, 202, "{second}");
    let (status, page) = app.get_json(&token, "/api/v1/images?limit=1").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["id"], second["image"]["id"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, next) = app
        .get_json(&token, &format!("/api/v1/images?limit=1&cursor={cursor}"))
        .await;
    assert_eq!((status, next["items"][0]["id"].as_str()), (200, Some(&*id)));
    let (status, stolen) = app
        .get_json(
            &bob_token,
            &format!("/api/v1/images?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(
        (status, stolen["error_type"].as_str()),
        (400, Some("invalid_cursor"))
    );
    let (status, _) = app
        .get_json(&bob_token, &format!("/api/v1/images/{id}"))
        .await;
    assert_eq!(status, 404, "another user's image");

    // Delete one image: record and every object version gone.
    assert_eq!(
        app.delete(&token, &format!("/api/v1/images/{id}")).await,
        204
    );
    let (status, _) = app.get_json(&token, &format!("/api/v1/images/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        resources
            .object_versions(&format!("originals/{alice}/{id}"))
            .await,
        0
    );
    assert_eq!(
        resources
            .object_versions(&format!("thumbnails/{alice}/{id}"))
            .await,
        0
    );

    // Delete all of Alice's data: records, blobs, markers; not what she spent of her limits.
    assert_eq!(app.delete(&token, "/api/v1/me").await, 204);
    let (status, page) = app.get_json(&token, "/api/v1/images").await;
    assert_eq!(
        (status, page["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    for prefix in ["originals", "thumbnails"] {
        assert_eq!(
            resources
                .object_versions(&format!("{prefix}/{alice}/"))
                .await,
            0
        );
    }
    for (pk, items) in [
        (alice.clone(), 0),
        (format!("sha256#{alice}"), 0),
        (format!("ratelimit#{alice}"), 1),
    ] {
        let left = dynamodb
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(left.count, items, "{pk}");
    }
    let marker = dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("deletion#users".into()))
        .key("sk", AttributeValue::S(alice.clone()))
        .send()
        .await
        .unwrap();
    assert!(marker.item.is_none(), "the deletion finished");
}

#[tokio::test]
async fn aws_mode_refuses_a_queue_whose_redrive_does_not_match_the_attempts() {
    let resources = Resources::get(MAX_ATTEMPTS).await;
    let mut config = crate::harness::without_captions(test_config());
    config.mode = Mode::Aws;
    config.aws = resources.aws.clone();
    config.worker.max_attempts = resources.max_receive_count + 1;
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_path_buf();
    let err = Application::build(config).await.err().expect("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("worker.max_attempts") && message.contains("maxReceiveCount"),
        "{message}"
    );
}
