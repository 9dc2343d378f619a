//! [`RateLimiter`](imgcap_webapp::core::ports::RateLimiter): a token bucket per user and bucket
//! name, refilled over time, exact under concurrent requests from several instances, and kept
//! when the user's data is deleted.

use std::time::Duration;

use imgcap_webapp::core::ports::RateDecision;

use super::{user, Adapters};

contract!(
    the_capacity_is_allowed_then_retry_after_says_when,
    buckets_refill_with_time,
    users_and_buckets_are_independent,
    buckets_outlive_the_deletion_of_the_users_data,
    concurrent_requests_across_instances_never_exceed_the_capacity,
);

fn retry_after(decision: RateDecision) -> Duration {
    match decision {
        RateDecision::Limited { retry_after } => retry_after,
        RateDecision::Allowed => panic!("expected a refusal"),
    }
}

async fn the_capacity_is_allowed_then_retry_after_says_when(adapters: Adapters) {
    let limiter = (adapters.limiter)();
    let owner = user();
    for _ in 0..3 {
        assert_eq!(
            limiter.acquire(&owner, "upload", 3).await.unwrap(),
            RateDecision::Allowed
        );
    }
    // One token per 20 minutes at 3 an hour.
    let wait = retry_after(limiter.acquire(&owner, "upload", 3).await.unwrap());
    assert!(
        (Duration::from_secs(1190)..=Duration::from_secs(1200)).contains(&wait),
        "{wait:?}"
    );
}

async fn buckets_refill_with_time(adapters: Adapters) {
    let limiter = (adapters.limiter)();
    let owner = user();
    assert_eq!(
        limiter.acquire(&owner, "upload", 1).await.unwrap(),
        RateDecision::Allowed
    );
    let first = retry_after(limiter.acquire(&owner, "upload", 1).await.unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = retry_after(limiter.acquire(&owner, "upload", 1).await.unwrap());
    let refilled = first - later;
    assert!(
        (Duration::from_millis(1000)..Duration::from_millis(3000)).contains(&refilled),
        "the wait shrank by {refilled:?}"
    );
}

async fn users_and_buckets_are_independent(adapters: Adapters) {
    let limiter = (adapters.limiter)();
    let (spent, fresh) = (user(), user());
    limiter.acquire(&spent, "upload", 1).await.unwrap();
    assert_ne!(
        limiter.acquire(&spent, "upload", 1).await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        limiter.acquire(&spent, "other", 1).await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        limiter.acquire(&fresh, "upload", 1).await.unwrap(),
        RateDecision::Allowed
    );
}

/// "Delete all my data" deletes through the repo, queue and blob ports; none of them may take
/// the buckets with it (in DynamoDB they share the table with the user's records).
async fn buckets_outlive_the_deletion_of_the_users_data(adapters: Adapters) {
    let limiter = (adapters.limiter)();
    let owner = user();
    limiter.acquire(&owner, "upload", 1).await.unwrap();
    adapters.repo.delete_user(&owner).await.unwrap();
    adapters.queue.delete_user(&owner).await.unwrap();
    adapters.blobs.delete_user(&owner).await.unwrap();
    assert_ne!(
        limiter.acquire(&owner, "upload", 1).await.unwrap(),
        RateDecision::Allowed
    );
}

async fn concurrent_requests_across_instances_never_exceed_the_capacity(adapters: Adapters) {
    const CAPACITY: u32 = 10;
    let instances: Vec<_> = (0..3).map(|_| (adapters.limiter)()).collect();
    let owner = user();
    let requests = (0..30).map(|i| {
        let limiter = instances[i % instances.len()].clone();
        let owner = owner.clone();
        tokio::spawn(async move { limiter.acquire(&owner, "upload", CAPACITY).await.unwrap() })
    });
    let mut allowed = 0;
    for request in requests.collect::<Vec<_>>() {
        if request.await.unwrap() == RateDecision::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, CAPACITY);
}
