//! [`SessionStore`](imgcap_webapp::core::ports::SessionStore): a session reads back by the hash of its
//! id, is refreshed, removed (idempotently), and never brought back by a late refresh.

use imgcap_webapp::core::domain::{now_ms, Principal};
use imgcap_webapp::core::ports::SessionRecord;

use super::{user, Adapters};
use crate::moto::unique_name;

contract!(
    a_session_reads_back_refreshes_and_goes,
    a_refresh_after_sign_out_does_not_bring_the_session_back,
);

fn session(admin: bool) -> (String, SessionRecord) {
    let now = now_ms();
    (
        unique_name("session-hash"),
        SessionRecord {
            principal: Principal {
                user: user(),
                admin,
            },
            created_ms: now,
            last_seen_ms: now,
        },
    )
}

async fn a_session_reads_back_refreshes_and_goes(adapters: Adapters) {
    let store = &adapters.sessions;
    let (id, record) = session(true);
    let (other_id, other) = session(false);
    store.insert(&id, &record).await.unwrap();
    store.insert(&other_id, &other).await.unwrap();
    assert_eq!(store.find(&id).await.unwrap(), Some(record.clone()));
    assert_eq!(store.find(&other_id).await.unwrap(), Some(other.clone()));
    assert_eq!(store.find(&unique_name("unknown")).await.unwrap(), None);

    store
        .touch(&id, record.last_seen_ms + 60_000)
        .await
        .unwrap();
    let touched = store.find(&id).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_ms, record.last_seen_ms + 60_000);
    assert_eq!(touched.created_ms, record.created_ms);

    store.remove(&id).await.unwrap();
    store.remove(&id).await.unwrap();
    assert_eq!(store.find(&id).await.unwrap(), None);
    assert_eq!(
        store.find(&other_id).await.unwrap(),
        Some(other),
        "only that session ended"
    );
}

async fn a_refresh_after_sign_out_does_not_bring_the_session_back(adapters: Adapters) {
    let store = &adapters.sessions;
    let (id, record) = session(false);
    store.insert(&id, &record).await.unwrap();
    store.remove(&id).await.unwrap();
    store.touch(&id, now_ms()).await.unwrap();
    assert_eq!(store.find(&id).await.unwrap(), None);
}
