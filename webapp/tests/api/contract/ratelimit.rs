//! [`RateLimiter`](imgcap_webapp::ports::RateLimiter): a token bucket per user and bucket
//! name, refilled over time, exact under concurrent requests from several instances.

use std::time::Duration;

use imgcap_webapp::ports::RateDecision;

use super::{user, Adapters};

contract!(
    the_capacity_is_allowed_then_retry_after_says_when,
    buckets_refill_with_time,
    users_and_buckets_are_independent,
    deleting_the_user_resets_the_buckets,
    concurrent_requests_across_instances_never_exceed_the_capacity,
);

fn retry_after(decision: RateDecision) -> Duration {
    match decision {
        RateDecision::Limited { retry_after } => retry_after,
        RateDecision::Allowed => panic!("expected a refusal"),
    }
}

async fn the_capacity_is_allowed_then_retry_after_says_when(adapters: Adapters) {
    let limiter = (adapters.limiter)(3);
    let owner = user();
    for _ in 0..3 {
        assert_eq!(
            limiter.acquire(&owner, "upload").await.unwrap(),
            RateDecision::Allowed
        );
    }
    // One token per 20 minutes at 3 an hour.
    let wait = retry_after(limiter.acquire(&owner, "upload").await.unwrap());
    assert!(
        (Duration::from_secs(1190)..=Duration::from_secs(1200)).contains(&wait),
        "{wait:?}"
    );
}

async fn buckets_refill_with_time(adapters: Adapters) {
    let limiter = (adapters.limiter)(1);
    let owner = user();
    assert_eq!(
        limiter.acquire(&owner, "upload").await.unwrap(),
        RateDecision::Allowed
    );
    let first = retry_after(limiter.acquire(&owner, "upload").await.unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = retry_after(limiter.acquire(&owner, "upload").await.unwrap());
    let refilled = first - later;
    assert!(
        (Duration::from_millis(1000)..Duration::from_millis(3000)).contains(&refilled),
        "the wait shrank by {refilled:?}"
    );
}

async fn users_and_buckets_are_independent(adapters: Adapters) {
    let limiter = (adapters.limiter)(1);
    let (spent, fresh) = (user(), user());
    limiter.acquire(&spent, "upload").await.unwrap();
    assert_ne!(
        limiter.acquire(&spent, "upload").await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        limiter.acquire(&spent, "other").await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        limiter.acquire(&fresh, "upload").await.unwrap(),
        RateDecision::Allowed
    );
}

async fn deleting_the_user_resets_the_buckets(adapters: Adapters) {
    let limiter = (adapters.limiter)(1);
    let owner = user();
    limiter.acquire(&owner, "upload").await.unwrap();
    assert_ne!(
        limiter.acquire(&owner, "upload").await.unwrap(),
        RateDecision::Allowed
    );
    limiter.delete_user(&owner).await.unwrap();
    limiter.delete_user(&owner).await.unwrap();
    assert_eq!(
        limiter.acquire(&owner, "upload").await.unwrap(),
        RateDecision::Allowed
    );
}

async fn concurrent_requests_across_instances_never_exceed_the_capacity(adapters: Adapters) {
    const CAPACITY: u32 = 10;
    let instances: Vec<_> = (0..3).map(|_| (adapters.limiter)(CAPACITY)).collect();
    let owner = user();
    let requests = (0..30).map(|i| {
        let limiter = instances[i % instances.len()].clone();
        let owner = owner.clone();
        tokio::spawn(async move { limiter.acquire(&owner, "upload").await.unwrap() })
    });
    let mut allowed = 0;
    for request in requests.collect::<Vec<_>>() {
        if request.await.unwrap() == RateDecision::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, CAPACITY);
}
