//! The token-bucket rule both rate limiters apply (SQLite in a transaction, DynamoDB with a
//! conditional write): `capacity` tokens per hour, refilled continuously, at most `capacity`.

use std::time::Duration;

use crate::core::ports::RateDecision;

/// Refills `tokens` for `elapsed_ms` and takes one if it can. Returns the new level and the
/// decision.
pub fn take(tokens: f64, elapsed_ms: i64, capacity: f64) -> (f64, RateDecision) {
    let per_ms = capacity / 3_600_000.0;
    let level = (tokens + elapsed_ms.max(0) as f64 * per_ms).min(capacity);
    if level >= 1.0 {
        (level - 1.0, RateDecision::Allowed)
    } else {
        let wait_ms = ((1.0 - level) / per_ms).ceil() as u64;
        (
            level,
            RateDecision::Limited {
                retry_after: Duration::from_millis(wait_ms),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_over_time_and_says_how_long_to_wait() {
        let (level, decision) = take(60.0, 0, 60.0);
        assert_eq!(decision, RateDecision::Allowed);
        assert_eq!(level, 59.0);
        let (_, decision) = take(0.0, 0, 60.0);
        assert_eq!(
            decision,
            RateDecision::Limited {
                retry_after: Duration::from_secs(60)
            }
        );
        // One token comes back per minute at 60 an hour.
        assert_eq!(take(0.0, 60_000, 60.0).1, RateDecision::Allowed);
        // Never more than the capacity.
        assert_eq!(take(59.0, 10 * 3_600_000, 60.0).0, 59.0);
    }
}
