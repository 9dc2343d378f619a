//! [`CaptionRepo`](imgcap_webapp::core::ports::CaptionRepo): one record per user and content,
//! history newest first and per user, state changes, retries, deletion, deletion markers,
//! admin figures.

use imgcap_webapp::core::domain::{
    CaptionEdits, CaptionResult, ImageId, ImageLabel, ImageStatus, ScoredCaption,
};
use imgcap_webapp::core::ports::Inserted;
use imgcap_webapp::core::provenance::{CaptionKind, CaptionSource, CaptionVersion, Provenance};

use super::{record, user, Adapters};
use crate::moto::unique_name;

contract!(
    a_record_reads_back_and_is_found_by_content,
    the_same_content_twice_returns_the_first_record,
    history_is_newest_first_per_user_and_pages_strictly_below_a_cursor,
    completion_and_failure_follow_the_record_state,
    edits_apply_to_done_records_and_outlive_recaptioning,
    failed_records_go_back_to_pending_once,
    deleting_a_record_frees_its_content,
    user_deletion_removes_every_record_of_that_user_only,
    deletion_markers_list_unfinished_deletions_oldest_first,
    figures_count_uploads_captions_and_latencies,
);

fn result(provider: &str, latency_ms: u64) -> CaptionResult {
    CaptionResult {
        concise: ScoredCaption {
            text: "a rocket on a launch pad".into(),
            confidence: Some(-0.25),
        },
        // Remote providers report no confidence.
        creative: ScoredCaption {
            text: "A rocket waits for its moment. The sky is clear.".into(),
            confidence: None,
        },
        model: "tiny-blip".into(),
        provider: provider.into(),
        latency_ms,
        labels: vec![ImageLabel {
            name: "Rocket".into(),
            confidence: 97.5,
        }],
    }
}

async fn a_record_reads_back_and_is_found_by_content(adapters: Adapters) {
    let repo = &adapters.repo;
    let record = record(&user());
    assert!(matches!(
        repo.insert_pending(&record).await.unwrap(),
        Inserted::New
    ));
    assert_eq!(
        repo.get(&record.user, record.id).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        repo.find_by_sha256(&record.user, record.sha256)
            .await
            .unwrap(),
        Some(record.clone())
    );
    let stranger = user();
    assert_eq!(repo.get(&stranger, record.id).await.unwrap(), None);
    assert_eq!(
        repo.find_by_sha256(&stranger, record.sha256).await.unwrap(),
        None
    );
    // Another user may upload the same bytes.
    let mut same_bytes = super::record(&stranger);
    same_bytes.sha256 = record.sha256;
    assert!(matches!(
        repo.insert_pending(&same_bytes).await.unwrap(),
        Inserted::New
    ));
    repo.check().await.unwrap();
}

async fn the_same_content_twice_returns_the_first_record(adapters: Adapters) {
    let repo = &adapters.repo;
    let first = record(&user());
    repo.insert_pending(&first).await.unwrap();
    let mut second = record(&first.user);
    second.sha256 = first.sha256;
    match repo.insert_pending(&second).await.unwrap() {
        Inserted::Duplicate(existing) => assert_eq!(*existing, first),
        Inserted::New => panic!("a second record with the same content was written"),
    }
    assert_eq!(repo.get(&first.user, second.id).await.unwrap(), None);
}

async fn history_is_newest_first_per_user_and_pages_strictly_below_a_cursor(adapters: Adapters) {
    let repo = &adapters.repo;
    let (owner, other) = (user(), user());
    let mut ids = Vec::new();
    for _ in 0..5 {
        let record = record(&owner);
        repo.insert_pending(&record).await.unwrap();
        repo.insert_pending(&super::record(&other)).await.unwrap();
        ids.push(record.id);
        // Distinct milliseconds keep the ULIDs in upload order.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let page = |before: Option<ImageId>, limit| {
        let repo = repo.clone();
        let owner = owner.clone();
        async move {
            let records = repo.list(&owner, before, limit).await.unwrap();
            assert!(records.iter().all(|r| r.user == owner));
            records.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None, 2).await, [ids[4], ids[3]]);
    assert_eq!(page(Some(ids[3]), 2).await, [ids[2], ids[1]]);
    assert_eq!(page(Some(ids[1]), 2).await, [ids[0]]);
    assert_eq!(page(Some(ids[0]), 2).await, []);
    assert_eq!(page(None, 10).await.len(), 5);
    // A position taken from another user's history still lists only the caller's records.
    let foreign = repo.list(&other, None, 1).await.unwrap()[0].id;
    assert!(page(Some(foreign), 10).await.iter().all(|id| *id < foreign));
}

async fn completion_and_failure_follow_the_record_state(adapters: Adapters) {
    let repo = &adapters.repo;
    let (captioned, failing) = (record(&user()), record(&user()));
    repo.insert_pending(&captioned).await.unwrap();
    repo.insert_pending(&failing).await.unwrap();

    let outcome = result("embedded", 42);
    assert!(repo
        .complete(
            &captioned.user,
            captioned.id,
            &outcome,
            &Provenance::default()
        )
        .await
        .unwrap());
    let done = repo
        .get(&captioned.user, captioned.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, ImageStatus::Done);
    assert_eq!(done.result, Some(outcome));
    assert!(done.updated_ms >= captioned.updated_ms);
    assert!(
        !repo
            .fail(&captioned.user, captioned.id, "late")
            .await
            .unwrap(),
        "a done record stays done"
    );
    assert_eq!(
        repo.get(&captioned.user, captioned.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ImageStatus::Done
    );

    assert!(repo
        .fail(&failing.user, failing.id, "no captioner answered")
        .await
        .unwrap());
    let failed = repo.get(&failing.user, failing.id).await.unwrap().unwrap();
    assert_eq!(failed.status, ImageStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("no captioner answered")
    );
    assert_eq!(failed.result, None);

    let gone = ImageId::generate();
    assert!(!repo
        .complete(
            &failing.user,
            gone,
            &result("embedded", 1),
            &Provenance::default()
        )
        .await
        .unwrap());
    assert!(!repo.fail(&failing.user, gone, "x").await.unwrap());
    assert_eq!(
        repo.get(&failing.user, gone).await.unwrap(),
        None,
        "nothing was created"
    );
}

async fn edits_apply_to_done_records_and_outlive_recaptioning(adapters: Adapters) {
    let repo = &adapters.repo;
    let image = record(&user());
    repo.insert_pending(&image).await.unwrap();
    let edits = CaptionEdits {
        concise: Some("a white rocket".into()),
        creative: None,
        edited_ms: image.created_ms + 5,
    };
    let provenance = Provenance {
        versions: vec![CaptionVersion {
            caption: CaptionKind::Concise,
            text: "a white rocket".into(),
            source: CaptionSource::User,
            at_ms: image.created_ms + 5,
        }],
        reviewed_ms: Some(image.created_ms + 6),
        suggested: vec![CaptionKind::Creative],
    };
    let seen = image.updated_ms;
    assert!(
        !repo
            .set_edits(&image.user, image.id, Some(&edits), &provenance, seen)
            .await
            .unwrap(),
        "a pending record has nothing to edit"
    );
    assert!(
        !repo
            .reset_for_recaption(&image.user, image.id)
            .await
            .unwrap(),
        "a pending record is already waiting for captions"
    );
    repo.complete(
        &image.user,
        image.id,
        &result("embedded", 7),
        &Provenance::default(),
    )
    .await
    .unwrap();
    let done = repo.get(&image.user, image.id).await.unwrap().unwrap();
    assert!(
        !repo
            .set_edits(
                &image.user,
                image.id,
                Some(&edits),
                &provenance,
                done.updated_ms - 1
            )
            .await
            .unwrap(),
        "a change made from an older read is refused"
    );
    assert!(repo
        .set_edits(
            &image.user,
            image.id,
            Some(&edits),
            &provenance,
            done.updated_ms
        )
        .await
        .unwrap());
    let edited = repo.get(&image.user, image.id).await.unwrap().unwrap();
    assert_eq!(edited.edits, Some(edits.clone()));
    assert_eq!(edited.provenance, provenance);
    assert!(edited.updated_ms > done.updated_ms);
    assert_eq!(
        edited.result,
        Some(result("embedded", 7)),
        "the model's text is kept beside the edit"
    );
    assert!(
        !repo
            .set_edits(
                &image.user,
                image.id,
                Some(&edits),
                &provenance,
                done.updated_ms
            )
            .await
            .unwrap(),
        "a second change from the same read is refused"
    );
    assert!(!repo
        .set_edits(
            &user(),
            image.id,
            Some(&edits),
            &provenance,
            edited.updated_ms
        )
        .await
        .unwrap());

    assert!(repo
        .reset_for_recaption(&image.user, image.id)
        .await
        .unwrap());
    let again = repo.get(&image.user, image.id).await.unwrap().unwrap();
    assert_eq!(again.status, ImageStatus::Pending);
    assert_eq!(again.result, None);
    assert_eq!(
        (again.edits, again.provenance),
        (Some(edits), provenance),
        "what the user wrote outlives a new captioning"
    );
    assert!(!repo
        .reset_for_recaption(&image.user, ImageId::generate())
        .await
        .unwrap());

    // Clearing every correction removes them.
    repo.complete(
        &image.user,
        image.id,
        &result("embedded", 8),
        &Provenance::default(),
    )
    .await
    .unwrap();
    let done = repo.get(&image.user, image.id).await.unwrap().unwrap();
    assert!(repo
        .set_edits(
            &image.user,
            image.id,
            None,
            &Provenance::default(),
            done.updated_ms
        )
        .await
        .unwrap());
    let cleared = repo.get(&image.user, image.id).await.unwrap().unwrap();
    assert_eq!(
        (cleared.edits, cleared.provenance),
        (None, Provenance::default())
    );
}

async fn failed_records_go_back_to_pending_once(adapters: Adapters) {
    let repo = &adapters.repo;
    let owner = user();
    let failed: Vec<_> = (0..2).map(|_| record(&owner)).collect();
    for record in &failed {
        repo.insert_pending(record).await.unwrap();
        repo.fail(&owner, record.id, "boom").await.unwrap();
    }
    let mut reset = Vec::new();
    loop {
        let batch = repo.reset_failed(100).await.unwrap();
        if batch.is_empty() {
            break;
        }
        reset.extend(batch);
    }
    for record in &failed {
        assert!(reset.contains(&(owner.clone(), record.id)), "{reset:?}");
        let back = repo.get(&owner, record.id).await.unwrap().unwrap();
        assert_eq!(back.status, ImageStatus::Pending);
        assert_eq!(back.failure_reason, None);
    }
    assert_eq!(repo.reset_failed(100).await.unwrap(), []);
}

async fn deleting_a_record_frees_its_content(adapters: Adapters) {
    let repo = &adapters.repo;
    let record = record(&user());
    repo.insert_pending(&record).await.unwrap();
    assert!(repo.delete(&record.user, record.id).await.unwrap());
    assert_eq!(repo.get(&record.user, record.id).await.unwrap(), None);
    assert_eq!(
        repo.find_by_sha256(&record.user, record.sha256)
            .await
            .unwrap(),
        None
    );
    assert!(!repo.delete(&record.user, record.id).await.unwrap());
    let mut again = super::record(&record.user);
    again.sha256 = record.sha256;
    assert!(matches!(
        repo.insert_pending(&again).await.unwrap(),
        Inserted::New
    ));
}

async fn user_deletion_removes_every_record_of_that_user_only(adapters: Adapters) {
    let repo = &adapters.repo;
    let (leaving, staying) = (user(), user());
    for _ in 0..3 {
        repo.insert_pending(&record(&leaving)).await.unwrap();
    }
    let kept = record(&staying);
    repo.insert_pending(&kept).await.unwrap();
    assert_eq!(repo.delete_user(&leaving).await.unwrap(), 3);
    assert_eq!(repo.list(&leaving, None, 10).await.unwrap(), []);
    assert_eq!(repo.list(&staying, None, 10).await.unwrap(), [kept]);
    assert_eq!(repo.delete_user(&leaving).await.unwrap(), 0);
}

async fn deletion_markers_list_unfinished_deletions_oldest_first(adapters: Adapters) {
    let repo = &adapters.repo;
    let (first, second) = (user(), user());
    repo.begin_user_deletion(&first).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    repo.begin_user_deletion(&second).await.unwrap();
    repo.begin_user_deletion(&first).await.unwrap();
    let ours = |all: Vec<_>| {
        all.into_iter()
            .filter(|u| *u == first || *u == second)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ours(repo.unfinished_user_deletions().await.unwrap()),
        [first.clone(), second.clone()]
    );
    repo.end_user_deletion(&first).await.unwrap();
    repo.end_user_deletion(&first).await.unwrap();
    assert_eq!(
        ours(repo.unfinished_user_deletions().await.unwrap()),
        std::slice::from_ref(&second)
    );
    repo.end_user_deletion(&second).await.unwrap();
}

async fn figures_count_uploads_captions_and_latencies(adapters: Adapters) {
    let repo = &adapters.repo;
    let since = imgcap_webapp::core::domain::now_ms() - 86_400_000;
    let count = |stats: &imgcap_webapp::core::ports::RecordStats, status| {
        stats
            .by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    };
    let today = |stats: &imgcap_webapp::core::ports::RecordStats| {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        stats
            .per_day
            .iter()
            .find(|d| d.day == day)
            .map_or((0, 0), |d| (d.uploads, d.captions))
    };
    let before = repo.stats(since).await.unwrap();
    let owner = user();
    let provider = unique_name("provider");
    let records: Vec<_> = (0..3).map(|_| record(&owner)).collect();
    for record in &records {
        repo.insert_pending(record).await.unwrap();
    }
    repo.complete(
        &owner,
        records[0].id,
        &result(&provider, 30),
        &Provenance::default(),
    )
    .await
    .unwrap();
    repo.complete(
        &owner,
        records[1].id,
        &result(&provider, 10),
        &Provenance::default(),
    )
    .await
    .unwrap();
    repo.fail(&owner, records[2].id, "boom").await.unwrap();

    let after = repo.stats(since).await.unwrap();
    let (uploads, captions) = (
        today(&after).0 - today(&before).0,
        today(&after).1 - today(&before).1,
    );
    assert_eq!((uploads, captions), (3, 2));
    assert_eq!(
        count(&after, ImageStatus::Done) - count(&before, ImageStatus::Done),
        2
    );
    assert_eq!(
        count(&after, ImageStatus::Failed) - count(&before, ImageStatus::Failed),
        1
    );
    assert_eq!(
        count(&after, ImageStatus::Pending),
        count(&before, ImageStatus::Pending)
    );
    let latencies = after.latencies.iter().find(|(p, _)| *p == provider);
    assert_eq!(
        latencies.map(|(_, l)| l.as_slice()),
        Some(&[10, 30][..]),
        "sorted samples"
    );
}

/// DynamoDB specifics: the TTL attribute and the sparse jobs index on the stored item.
#[tokio::test]
async fn dynamodb_items_carry_the_ttl_and_the_job_state() {
    let adapters = Adapters::aws().await;
    let super::Family::Aws(resources) = &adapters.family else {
        unreachable!()
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&resources.sdk().await);
    let table = resources.aws.dynamodb_table.clone().unwrap();
    let record = record(&user());
    adapters.repo.insert_pending(&record).await.unwrap();
    let item = || async {
        dynamodb
            .get_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(record.user.to_string()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(record.id.to_string()),
            )
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    };
    let stored = item().await;
    assert_eq!(
        stored["expires_at"].as_n().unwrap(),
        &record.expires_at.to_string()
    );
    assert_eq!(stored["job_state"].as_s().unwrap(), "pending");
    adapters
        .repo
        .complete(
            &record.user,
            record.id,
            &result("embedded", 5),
            &Provenance::default(),
        )
        .await
        .unwrap();
    assert!(
        !item().await.contains_key("job_state"),
        "done leaves the index"
    );
}
