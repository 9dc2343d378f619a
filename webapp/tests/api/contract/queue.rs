//! [`JobQueue`](imgcap_webapp::core::ports::JobQueue): at-least-once delivery with a visibility
//! timeout, attempts, retries, dead-lettering, removal, flush and depth. Every job has a
//! record in the repo, as the engine guarantees (the SQS adapter keeps a job's liveness in
//! the record's `job_state`).

use std::time::Duration;

use imgcap_webapp::core::domain::UserId;
use imgcap_webapp::core::ports::{CaptionJob, Lease, QueueDepth};

use super::{record, user, Adapters};

contract!(
    a_job_is_delivered_once_per_lease_and_gone_after_ack,
    an_expired_lease_delivers_the_job_again,
    a_retried_job_comes_back_after_its_delay,
    a_deferred_job_comes_back_without_spending_an_attempt,
    a_dead_lettered_job_is_not_delivered_until_queued_again,
    removed_and_deleted_users_jobs_are_not_delivered,
    flush_removes_the_live_jobs_but_not_the_dead_ones,
);

const LONG: Duration = Duration::from_secs(300);

/// A record of `user` and its queued job.
async fn queued(adapters: &Adapters, user: &UserId) -> CaptionJob {
    let record = record(user);
    adapters.repo.insert_pending(&record).await.unwrap();
    let job = CaptionJob {
        user: user.clone(),
        image: record.id,
        request_id: format!("req-{}", record.id),
        // Carried through the queue unchanged (the job's span continues this trace).
        traceparent: Some(format!(
            "00-{:032x}-00f067aa0ba902b7-01",
            u128::from_be_bytes(record.id.to_bytes())
        )),
    };
    adapters.queue.enqueue(&job).await.unwrap();
    job
}

async fn receive(adapters: &Adapters, visibility: Duration) -> Option<Lease> {
    adapters.queue.receive(visibility).await.unwrap()
}

async fn depth(adapters: &Adapters) -> QueueDepth {
    adapters.queue.depth().await.unwrap()
}

/// Polls until a job comes (visibility deadlines are whole seconds in SQS).
async fn receive_within(adapters: &Adapters, wait: Duration) -> Lease {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(lease) = receive(adapters, LONG).await {
            return lease;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job came back within {wait:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_job_is_delivered_once_per_lease_and_gone_after_ack(adapters: Adapters) {
    let start = depth(&adapters).await;
    let job = queued(&adapters, &user()).await;
    assert_eq!(depth(&adapters).await.ready, start.ready + 1);
    let lease = receive(&adapters, LONG).await.expect("the queued job");
    assert_eq!((lease.job.clone(), lease.attempts), (job, 1));
    assert!(
        receive(&adapters, LONG).await.is_none(),
        "hidden while leased"
    );
    let leased = depth(&adapters).await;
    assert_eq!(
        (leased.ready, leased.in_flight),
        (start.ready, start.in_flight + 1)
    );
    adapters.queue.ack(&lease).await.unwrap();
    let done = depth(&adapters).await;
    assert_eq!((done.ready, done.in_flight), (start.ready, start.in_flight));
    assert!(receive(&adapters, LONG).await.is_none());
}

async fn an_expired_lease_delivers_the_job_again(adapters: Adapters) {
    let job = queued(&adapters, &user()).await;
    let first = receive(&adapters, Duration::from_secs(1)).await.unwrap();
    assert!(receive(&adapters, LONG).await.is_none());
    let second = receive_within(&adapters, Duration::from_secs(5)).await;
    assert_eq!((second.job.clone(), second.attempts), (job, 2));
    assert_ne!(first.receipt, second.receipt);
    adapters.queue.ack(&second).await.unwrap();
    assert!(receive(&adapters, LONG).await.is_none());
}

async fn a_retried_job_comes_back_after_its_delay(adapters: Adapters) {
    let job = queued(&adapters, &user()).await;
    let lease = receive(&adapters, LONG).await.unwrap();
    adapters
        .queue
        .retry_later(&lease, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        receive(&adapters, LONG).await.is_none(),
        "not before the delay"
    );
    let again = receive_within(&adapters, Duration::from_secs(5)).await;
    assert_eq!((again.job.clone(), again.attempts), (job, 2));
    adapters.queue.ack(&again).await.unwrap();
}

/// A job no captioner could take waits any number of times without spending attempts (more
/// deferrals than `max_attempts`, which SQS's redrive would otherwise count), then still has
/// its full budget for failures of its own, and is dead-lettered when that is spent.
async fn a_deferred_job_comes_back_without_spending_an_attempt(adapters: Adapters) {
    let start = depth(&adapters).await;
    let job = queued(&adapters, &user()).await;
    let first = receive(&adapters, LONG).await.unwrap();
    adapters
        .queue
        .retry_later(&first, Duration::ZERO)
        .await
        .unwrap();
    let mut lease = receive(&adapters, LONG).await.unwrap();
    assert_eq!((lease.job.clone(), lease.attempts), (job.clone(), 2));

    adapters
        .queue
        .defer(&lease, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        depth(&adapters).await.waiting_for_captioner,
        start.waiting_for_captioner + 1
    );
    assert!(
        receive(&adapters, LONG).await.is_none(),
        "not before the delay"
    );
    lease = receive_within(&adapters, Duration::from_secs(5)).await;
    assert_eq!(
        (lease.job.clone(), lease.attempts),
        (job.clone(), 2),
        "the deferred delivery did not count"
    );
    for _ in 0..adapters.max_attempts + 1 {
        adapters.queue.defer(&lease, Duration::ZERO).await.unwrap();
        lease = receive_within(&adapters, Duration::from_secs(5)).await;
        assert_eq!((lease.job.clone(), lease.attempts), (job.clone(), 2));
    }

    while lease.attempts < adapters.max_attempts {
        adapters
            .queue
            .retry_later(&lease, Duration::ZERO)
            .await
            .unwrap();
        lease = receive_within(&adapters, Duration::from_secs(5)).await;
    }
    assert_eq!(lease.attempts, adapters.max_attempts);
    adapters.queue.dead_letter(&lease).await.unwrap();
    assert!(
        receive(&adapters, LONG).await.is_none(),
        "dead jobs are not delivered"
    );
    let end = depth(&adapters).await;
    assert_eq!(end.dead, start.dead + 1);
    assert_eq!(end.waiting_for_captioner, start.waiting_for_captioner);
}

/// A job of `user` delivered until its attempts are spent, then dead-lettered.
async fn dead_lettered(adapters: &Adapters, user: &UserId) -> CaptionJob {
    let job = queued(adapters, user).await;
    let mut lease = receive(adapters, LONG).await.unwrap();
    while lease.attempts < adapters.max_attempts {
        adapters
            .queue
            .retry_later(&lease, Duration::ZERO)
            .await
            .unwrap();
        lease = receive(adapters, LONG).await.unwrap();
    }
    assert_eq!(lease.job, job);
    adapters.queue.dead_letter(&lease).await.unwrap();
    assert!(
        receive(adapters, LONG).await.is_none(),
        "dead jobs are not delivered"
    );
    job
}

async fn a_dead_lettered_job_is_not_delivered_until_queued_again(adapters: Adapters) {
    let start = depth(&adapters).await;
    let job = dead_lettered(&adapters, &user()).await;
    assert_eq!(depth(&adapters).await.dead, start.dead + 1);

    adapters.queue.enqueue(&job).await.unwrap();
    let fresh = receive(&adapters, LONG).await.expect("queued again");
    assert_eq!((fresh.job.clone(), fresh.attempts), (job, 1));
    adapters.queue.ack(&fresh).await.unwrap();
}

async fn removed_and_deleted_users_jobs_are_not_delivered(adapters: Adapters) {
    let (leaving, staying) = (user(), user());
    let removed = queued(&adapters, &staying).await;
    let kept = queued(&adapters, &staying).await;
    queued(&adapters, &leaving).await;
    queued(&adapters, &leaving).await;
    adapters
        .queue
        .remove(&staying, removed.image)
        .await
        .unwrap();
    adapters.queue.delete_user(&leaving).await.unwrap();
    let lease = receive(&adapters, LONG).await.expect("the kept job");
    assert_eq!(lease.job, kept);
    adapters.queue.ack(&lease).await.unwrap();
    assert!(receive(&adapters, LONG).await.is_none());
    // Removing what is gone is not an error.
    adapters
        .queue
        .remove(&staying, removed.image)
        .await
        .unwrap();
    adapters.queue.delete_user(&leaving).await.unwrap();
}

async fn flush_removes_the_live_jobs_but_not_the_dead_ones(adapters: Adapters) {
    let start = depth(&adapters).await;
    let owner = user();
    let dead = dead_lettered(&adapters, &owner).await;

    let waiting = queued(&adapters, &owner).await;
    let in_flight = queued(&adapters, &owner).await;
    let leased = receive(&adapters, LONG).await.unwrap();
    adapters.queue.retry_later(&leased, LONG).await.unwrap();

    let mut flushed = adapters.queue.flush().await.unwrap();
    flushed.retain(|(user, _)| *user == owner);
    flushed.sort();
    let mut expected = vec![
        (owner.clone(), waiting.image),
        (owner.clone(), in_flight.image),
    ];
    expected.sort();
    assert_eq!(flushed, expected, "{dead:?} stays dead");
    assert!(receive(&adapters, LONG).await.is_none());
    assert_eq!(depth(&adapters).await.dead, start.dead + 1);
}
