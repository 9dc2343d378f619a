//! [`CaptionRepo::search`](imgcap_webapp::core::ports::CaptionRepo::search): every query word
//! begins a word of the shown captions or the labels, best first, per user, paged strictly after
//! a position, and in step with every write (caption, edit, regeneration, deletion).

use std::sync::Arc;

use imgcap_webapp::core::domain::{
    CaptionEdits, CaptionResult, ImageId, ImageLabel, ScoredCaption, UserId,
};
use imgcap_webapp::core::ports::CaptionRepo;
use imgcap_webapp::core::provenance::Provenance;
use imgcap_webapp::core::search::{SearchAfter, SearchQuery};

use super::{record, user, Adapters};

contract!(
    search_finds_words_of_the_captions_and_labels_best_first_and_per_user,
    search_pages_strictly_after_a_position,
    search_follows_edits_recaptioning_and_deletion,
);

fn result(concise: &str, creative: &str, labels: &[&str]) -> CaptionResult {
    CaptionResult {
        concise: ScoredCaption {
            text: concise.into(),
            confidence: Some(-0.5),
        },
        creative: ScoredCaption {
            text: creative.into(),
            confidence: None,
        },
        model: "tiny-blip".into(),
        provider: "embedded".into(),
        latency_ms: 10,
        labels: labels
            .iter()
            .map(|name| ImageLabel {
                name: (*name).into(),
                confidence: 90.0,
            })
            .collect(),
    }
}

/// A `done` record of `owner` with these captions and labels.
async fn captioned(
    repo: &Arc<dyn CaptionRepo>,
    owner: &UserId,
    concise: &str,
    creative: &str,
    labels: &[&str],
) -> ImageId {
    let image = record(owner);
    repo.insert_pending(&image).await.unwrap();
    assert!(repo
        .complete(
            owner,
            image.id,
            &result(concise, creative, labels),
            &Provenance::default(),
        )
        .await
        .unwrap());
    image.id
}

async fn found(
    repo: &Arc<dyn CaptionRepo>,
    owner: &UserId,
    text: &str,
    after: Option<SearchAfter>,
    limit: usize,
) -> Vec<ImageId> {
    let query = SearchQuery::parse(text).unwrap().unwrap();
    repo.search(owner, &query, after, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|hit| {
            assert_eq!(&hit.record.user, owner, "another user's image was found");
            hit.record.id
        })
        .collect()
}

async fn search_finds_words_of_the_captions_and_labels_best_first_and_per_user(adapters: Adapters) {
    let repo = &adapters.repo;
    let owner = user();
    let car = captioned(
        repo,
        &owner,
        "a red car on a red road",
        "The car gleams in the afternoon sun.",
        &["Vehicle", "Road Sign"],
    )
    .await;
    let dog = captioned(
        repo,
        &owner,
        "a dog in the park",
        "A red kite flies over a happy dog.",
        &["Animal"],
    )
    .await;
    let pending = record(&owner);
    repo.insert_pending(&pending).await.unwrap();
    let stranger = user();
    let strangers = captioned(repo, &stranger, "a red car", "A red car.", &["Vehicle"]).await;

    assert_eq!(
        found(repo, &owner, "red", None, 10).await,
        [car, dog],
        "two matches in the concise caption rank above one in the creative"
    );
    assert_eq!(found(repo, &owner, "RED Car", None, 10).await, [car]);
    assert_eq!(
        found(repo, &owner, "kite", None, 10).await,
        [dog],
        "creative"
    );
    assert_eq!(
        found(repo, &owner, "vehic", None, 10).await,
        [car],
        "label prefix"
    );
    assert_eq!(
        found(repo, &owner, "sign", None, 10).await,
        [car],
        "second label"
    );
    assert_eq!(
        found(repo, &owner, "red dog", None, 10).await,
        [dog],
        "every word must match, in any field"
    );
    assert!(
        found(repo, &owner, "ar", None, 10).await.is_empty(),
        "a word begins a word"
    );
    assert!(found(repo, &owner, "zebra", None, 10).await.is_empty());
    assert!(
        found(repo, &owner, r#""*-()"#, None, 10).await.is_empty(),
        "no words"
    );
    assert_eq!(found(repo, &owner, "red", None, 1).await, [car]);
    assert_eq!(
        found(repo, &stranger, "red car", None, 10).await,
        [strangers]
    );
}

async fn search_pages_strictly_after_a_position(adapters: Adapters) {
    let repo = &adapters.repo;
    let owner = user();
    let mut same = Vec::new();
    for _ in 0..4 {
        same.push(captioned(repo, &owner, "a cat", "A quiet afternoon.", &[]).await);
    }
    // The same concise caption, and more fields that match.
    let best = captioned(repo, &owner, "a cat", "A cat asleep.", &["Cat"]).await;
    // Equal ranks: newest first.
    same.sort_by(|a, b| b.cmp(a));
    let query = SearchQuery::parse("cat").unwrap().unwrap();
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = repo.search(&owner, &query, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(SearchAfter {
            rank: last.rank,
            id: last.record.id,
        });
        all.extend(page.iter().map(|hit| hit.record.id));
    }
    let mut expected = vec![best];
    expected.extend(same);
    assert_eq!(all, expected);
}

async fn search_follows_edits_recaptioning_and_deletion(adapters: Adapters) {
    let repo = &adapters.repo;
    let owner = user();
    let model = result(
        "a rocket on a launch pad",
        "A rocket waits for its moment.",
        &["Rocket"],
    );
    let image = captioned(
        repo,
        &owner,
        &model.concise.text,
        &model.creative.text,
        &["Rocket"],
    )
    .await;
    let other = captioned(repo, &owner, "a quiet harbour", "Boats at rest.", &[]).await;
    assert_eq!(found(repo, &owner, "launch", None, 10).await, [image]);

    let edits = CaptionEdits {
        concise: Some("a shuttle at dawn".into()),
        creative: None,
        edited_ms: 1,
    };
    assert!(correct(repo, &owner, image, Some(&edits)).await);
    assert_eq!(found(repo, &owner, "shuttle dawn", None, 10).await, [image]);
    assert!(
        found(repo, &owner, "launch", None, 10).await.is_empty(),
        "a correction replaces the words of the model's caption"
    );
    assert_eq!(
        found(repo, &owner, "rocket moment", None, 10).await,
        [image],
        "the creative caption and the labels were not corrected"
    );

    assert!(correct(repo, &owner, image, None).await);
    assert_eq!(found(repo, &owner, "launch", None, 10).await, [image]);
    assert!(found(repo, &owner, "shuttle", None, 10).await.is_empty());

    // A correction outlives a new captioning: found by its words once captioned again, and
    // nothing is found while the image waits for its captions.
    assert!(correct(repo, &owner, image, Some(&edits)).await);
    assert!(repo.reset_for_recaption(&owner, image).await.unwrap());
    assert!(found(repo, &owner, "rocket", None, 10).await.is_empty());
    assert!(found(repo, &owner, "shuttle", None, 10).await.is_empty());
    assert!(repo
        .complete(&owner, image, &model, &Provenance::default())
        .await
        .unwrap());
    assert_eq!(found(repo, &owner, "rocket", None, 10).await, [image]);
    assert_eq!(found(repo, &owner, "shuttle", None, 10).await, [image]);
    assert!(found(repo, &owner, "launch", None, 10).await.is_empty());

    assert!(repo.delete(&owner, image).await.unwrap());
    assert!(found(repo, &owner, "rocket", None, 10).await.is_empty());
    assert_eq!(found(repo, &owner, "harbour", None, 10).await, [other]);
    repo.delete_user(&owner).await.unwrap();
    assert!(found(repo, &owner, "harbour", None, 10).await.is_empty());
}

/// Stores `edits` on the image as it is now (`set_edits` wants the update time it read).
async fn correct(
    repo: &Arc<dyn CaptionRepo>,
    owner: &UserId,
    image: ImageId,
    edits: Option<&CaptionEdits>,
) -> bool {
    let seen = repo.get(owner, image).await.unwrap().unwrap().updated_ms;
    repo.set_edits(owner, image, edits, &Provenance::default(), seen)
        .await
        .unwrap()
}
