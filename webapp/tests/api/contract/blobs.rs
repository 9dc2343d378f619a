//! [`BlobStore`](imgcap_webapp::core::ports::BlobStore): atomic put, get, idempotent delete, per-user
//! deletion of both prefixes, short-lived URLs, listing by age (the orphan sweep).

use std::time::Duration;

use aws_sdk_s3::types::ServerSideEncryption;
use imgcap_webapp::core::domain::{BlobKey, ImageId};

use super::{user, Adapters, Family};

contract!(
    stored_blobs_read_back_and_deletes_are_idempotent,
    a_second_put_replaces_the_blob,
    user_deletion_removes_both_prefixes_of_that_user_only,
    signed_urls_expire_after_the_ttl,
    listing_pages_through_blobs_written_before_the_cutoff,
);

async fn stored_blobs_read_back_and_deletes_are_idempotent(adapters: Adapters) {
    let blobs = &adapters.blobs;
    let user = user();
    let id = ImageId::generate();
    let (original, thumbnail) = (BlobKey::original(&user, id), BlobKey::thumbnail(&user, id));
    blobs
        .put(&original, b"original".to_vec(), "image/png")
        .await
        .unwrap();
    blobs
        .put(&thumbnail, b"thumb".to_vec(), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(
        blobs.get(&original).await.unwrap().as_deref(),
        Some(&b"original"[..])
    );
    assert_eq!(
        blobs.get(&thumbnail).await.unwrap().as_deref(),
        Some(&b"thumb"[..])
    );
    let missing = BlobKey::original(&user, ImageId::generate());
    assert_eq!(blobs.get(&missing).await.unwrap(), None);

    blobs.delete(&original).await.unwrap();
    assert_eq!(blobs.get(&original).await.unwrap(), None);
    assert!(
        blobs.get(&thumbnail).await.unwrap().is_some(),
        "only that key goes"
    );
    blobs.delete(&original).await.unwrap();
    blobs.delete(&missing).await.unwrap();
    blobs.check().await.unwrap();
}

async fn a_second_put_replaces_the_blob(adapters: Adapters) {
    let key = BlobKey::original(&user(), ImageId::generate());
    adapters
        .blobs
        .put(&key, b"first".to_vec(), "image/png")
        .await
        .unwrap();
    adapters
        .blobs
        .put(&key, b"second".to_vec(), "image/png")
        .await
        .unwrap();
    assert_eq!(
        adapters.blobs.get(&key).await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
    adapters.blobs.delete(&key).await.unwrap();
    assert_eq!(
        adapters.blobs.get(&key).await.unwrap(),
        None,
        "no older version shows"
    );
}

async fn user_deletion_removes_both_prefixes_of_that_user_only(adapters: Adapters) {
    let blobs = &adapters.blobs;
    let (leaving, staying) = (user(), user());
    let mut keys = Vec::new();
    for owner in [&leaving, &leaving, &staying] {
        let id = ImageId::generate();
        for key in [BlobKey::original(owner, id), BlobKey::thumbnail(owner, id)] {
            blobs
                .put(&key, b"bytes".to_vec(), "image/jpeg")
                .await
                .unwrap();
            keys.push((owner.clone(), key));
        }
    }
    blobs.delete_user(&leaving).await.unwrap();
    for (owner, key) in &keys {
        let present = blobs.get(key).await.unwrap().is_some();
        assert_eq!(present, *owner == staying, "{key}");
    }
    blobs.delete_user(&leaving).await.unwrap();
}

async fn listing_pages_through_blobs_written_before_the_cutoff(adapters: Adapters) {
    let blobs = &adapters.blobs;
    let owner = user();
    let mut written = Vec::new();
    for _ in 0..3 {
        let id = ImageId::generate();
        for key in [
            BlobKey::original(&owner, id),
            BlobKey::thumbnail(&owner, id),
        ] {
            blobs
                .put(&key, b"bytes".to_vec(), "image/jpeg")
                .await
                .unwrap();
            written.push(key);
        }
    }
    let now = chrono::Utc::now().timestamp();
    // Pages of two (other tests' blobs may share the store): every key once, ours among them.
    let mut listed = Vec::new();
    let mut after: Option<BlobKey> = None;
    loop {
        let page = blobs
            .list_written_before(now + 5, after.as_ref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        listed.extend(page.iter().cloned());
        if page.len() < 2 {
            break;
        }
        after = page.last().cloned();
    }
    let mut ours: Vec<_> = listed
        .iter()
        .filter(|key| key.image().0 == owner)
        .cloned()
        .collect();
    let unique: std::collections::HashSet<_> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no key listed twice");
    ours.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    written.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(ours, written);

    let recent = blobs
        .list_written_before(now - 60, None, 1000)
        .await
        .unwrap();
    assert!(
        recent.iter().all(|key| key.image().0 != owner),
        "blobs written after the cutoff are not listed: {recent:?}"
    );
    blobs.delete_user(&owner).await.unwrap();
}

async fn signed_urls_expire_after_the_ttl(adapters: Adapters) {
    let key = BlobKey::thumbnail(&user(), ImageId::generate());
    adapters
        .blobs
        .put(&key, b"thumb".to_vec(), "image/jpeg")
        .await
        .unwrap();
    let before = chrono::Utc::now().timestamp();
    let url = adapters
        .blobs
        .signed_url(&key, Duration::from_secs(300))
        .await
        .unwrap();
    let after = chrono::Utc::now().timestamp();
    assert!(
        (before + 300..=after + 300).contains(&url.expires_at),
        "{url:?}"
    );
    if let Family::Aws(_) = adapters.family {
        // moto checks no signature or expiry, so the URL's own lifetime is what can be checked;
        // the embedded HMAC URL's expiry is tested through the app.
        assert!(url.url.contains("X-Amz-Expires=300"), "{}", url.url);
        assert!(url.url.contains("X-Amz-Signature="), "{}", url.url);
        let served = reqwest::get(&url.url).await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(&served.bytes().await.unwrap()[..], b"thumb");
    }
}

/// S3 specifics: SSE-KMS with the configured key, and no version left after a deletion (the
/// bucket is versioned).
#[tokio::test]
async fn s3_encrypts_with_the_key_and_deletes_every_version() {
    let adapters = Adapters::aws().await;
    let Family::Aws(resources) = &adapters.family else {
        unreachable!()
    };
    let s3 = resources.s3().await;
    let bucket = resources.aws.s3_bucket.clone().unwrap();
    let owner = user();
    let key = BlobKey::original(&owner, ImageId::generate());
    for version in [&b"one"[..], b"two"] {
        adapters
            .blobs
            .put(&key, version.to_vec(), "image/png")
            .await
            .unwrap();
    }
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(key.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    if let Some(arn) = &resources.aws.s3_kms_key_arn {
        assert_eq!(head.ssekms_key_id(), Some(arn.as_str()));
    }
    assert_eq!(head.content_type(), Some("image/png"));
    assert_eq!(resources.object_versions(key.as_str()).await, 2);
    adapters.blobs.delete(&key).await.unwrap();
    assert_eq!(resources.object_versions(key.as_str()).await, 0);

    let other = BlobKey::thumbnail(&owner, ImageId::generate());
    adapters
        .blobs
        .put(&other, b"x".to_vec(), "image/jpeg")
        .await
        .unwrap();
    adapters
        .blobs
        .put(&other, b"y".to_vec(), "image/jpeg")
        .await
        .unwrap();
    adapters.blobs.delete_user(&owner).await.unwrap();
    assert_eq!(
        resources
            .object_versions(&format!("thumbnails/{owner}/"))
            .await,
        0
    );
}
