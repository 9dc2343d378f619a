use super::*;
use crate::core::domain::{ImageId, ImageStatus, ScoredCaption, Sha256};

fn result(concise: &str, creative: &str, model: &str) -> CaptionResult {
    let scored = |text: &str| ScoredCaption {
        text: text.to_owned(),
        confidence: None,
    };
    CaptionResult {
        concise: scored(concise),
        creative: scored(creative),
        model: model.to_owned(),
        provider: "embedded".to_owned(),
        latency_ms: 5,
        labels: Vec::new(),
    }
}

fn record(
    result: Option<CaptionResult>,
    edits: Option<CaptionEdits>,
    provenance: Provenance,
) -> ImageRecord {
    ImageRecord {
        user: "u1".parse().unwrap(),
        id: ImageId::generate(),
        sha256: Sha256::of(b"x"),
        status: if result.is_some() {
            ImageStatus::Done
        } else {
            ImageStatus::Pending
        },
        content_type: "image/png",
        size_bytes: 1,
        width: 1,
        height: 1,
        orientation: 1,
        created_ms: 1,
        updated_ms: 2,
        expires_at: 3,
        result,
        edits,
        failure_reason: None,
        provenance,
    }
}

fn edits(concise: Option<&str>, creative: Option<&str>) -> CaptionEdits {
    CaptionEdits {
        concise: concise.map(str::to_owned),
        creative: creative.map(str::to_owned),
        edited_ms: 50,
    }
}

#[test]
fn a_first_captioning_records_both_model_captions() {
    let first = result("A dog", "A dog runs.", "blip@abc");
    let provenance = Provenance::default().after_captioning(None, &first, 10);
    assert_eq!(provenance.versions.len(), 2);
    assert!(provenance.suggested.is_empty());
    let done = record(Some(first), None, provenance);
    let concise = done.shown(CaptionKind::Concise).unwrap();
    assert_eq!(concise.text, "A dog");
    assert_eq!(concise.at_ms, 10);
    assert_eq!(
        concise.source,
        CaptionSource::Model {
            model: "blip@abc".into(),
            provider: "embedded".into()
        }
    );
    assert_eq!(concise.suggestion, None);
}

#[test]
fn recaptioning_keeps_the_users_words_and_suggests_the_models() {
    let first = result("A dog", "A dog runs.", "blip@abc");
    let captioned = Provenance::default().after_captioning(None, &first, 10);
    let done = record(Some(first), None, captioned.clone());
    let change = UserChange {
        edits: Some(edits(Some("My dog Rex"), None)),
        touched: vec![CaptionKind::Concise],
        reviewed: Some(true),
    };
    let edited = captioned.after_user_change(&done, &change, 50);
    assert_eq!(edited.versions.len(), 3);
    assert_eq!(edited.reviewed_ms, Some(50));

    // Captioned again: the concise caption is the user's, so the model's new text waits.
    let second = result("A brown dog", "A brown dog plays.", "blip@def");
    let again = edited.after_captioning(change.edits.as_ref(), &second, 90);
    assert_eq!(again.suggested, vec![CaptionKind::Concise]);
    assert_eq!(
        again.reviewed_ms, None,
        "the creative caption changed unseen"
    );
    let pending_choice = record(Some(second.clone()), change.edits.clone(), again.clone());
    let concise = pending_choice.shown(CaptionKind::Concise).unwrap();
    assert_eq!(
        (concise.text, concise.source.clone()),
        ("My dog Rex", CaptionSource::User)
    );
    assert_eq!(concise.at_ms, 50);
    assert_eq!(concise.suggestion, Some("A brown dog"));
    let creative = pending_choice.shown(CaptionKind::Creative).unwrap();
    assert_eq!((creative.text, creative.at_ms), ("A brown dog plays.", 90));

    // Taking the suggestion: the correction goes, the model's text is a new version.
    let take = UserChange {
        edits: Some(edits(None, None)),
        touched: vec![CaptionKind::Concise],
        reviewed: None,
    };
    let taken = again.after_user_change(&pending_choice, &take, 120);
    assert!(taken.suggested.is_empty());
    let last = taken.versions.last().unwrap();
    assert_eq!((last.text.as_str(), last.at_ms), ("A brown dog", 120));
    assert_eq!(
        last.source,
        CaptionSource::Model {
            model: "blip@def".into(),
            provider: "embedded".into()
        }
    );
}

#[test]
fn leaving_a_suggestion_settles_it_without_a_version() {
    let second = result("A brown dog", "A brown dog plays.", "m");
    let kept = edits(Some("My dog Rex"), None);
    let provenance = Provenance {
        suggested: vec![CaptionKind::Concise],
        ..Provenance::default()
    };
    let pending_choice = record(Some(second), Some(kept.clone()), provenance.clone());
    let leave = UserChange {
        edits: Some(kept),
        touched: vec![CaptionKind::Concise],
        reviewed: None,
    };
    let left = provenance.after_user_change(&pending_choice, &leave, 7);
    assert!(left.suggested.is_empty());
    assert!(left.versions.is_empty());
}

#[test]
fn a_model_saying_what_the_user_wrote_suggests_nothing() {
    let same = result("My dog Rex", "Rex.", "m");
    let provenance =
        Provenance::default().after_captioning(Some(&edits(Some("My dog Rex"), None)), &same, 1);
    assert!(provenance.suggested.is_empty());
}

#[test]
fn versions_are_bounded_oldest_dropped_first() {
    let mut provenance = Provenance::default();
    for i in 0..(MAX_VERSIONS as i64) {
        provenance = provenance.after_captioning(None, &result(&format!("c{i}"), "x.", "m"), i);
    }
    assert_eq!(provenance.versions.len(), MAX_VERSIONS);
    assert_eq!(provenance.versions.last().unwrap().text, "x.");
    assert_eq!(
        provenance.versions.first().unwrap().text,
        format!("c{}", MAX_VERSIONS / 2)
    );
}

#[test]
fn records_from_before_versions_fall_back_on_their_own_times() {
    let old = record(
        Some(result("A cat", "A cat naps.", "m")),
        Some(edits(None, Some("Tom naps."))),
        Provenance::default(),
    );
    let concise = old.shown(CaptionKind::Concise).unwrap();
    assert_eq!(
        (concise.at_ms, concise.source.to_string()),
        (2, "m via embedded".to_owned())
    );
    let creative = old.shown(CaptionKind::Creative).unwrap();
    assert_eq!((creative.at_ms, creative.source), (50, CaptionSource::User));
    // Stored JSON from an older writer, with fields missing, still reads.
    let stored: Provenance = serde_json::from_str("{}").unwrap();
    assert_eq!(stored, Provenance::default());
}
