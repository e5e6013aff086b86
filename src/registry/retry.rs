//! How often and how patiently a failed request is tried again.
//!
//! Retried: connection errors (refused, reset, timed out), `429 Too Many Requests` and `5xx`.
//! Everything else (`4xx`) is an answer, not an accident, and is reported at once. The delay
//! doubles from `initial` up to `max`, with jitter so parallel uploads that failed together do
//! not come back together; a `Retry-After` in seconds from the registry wins when it is longer.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries per request (and per blob upload) in total, the first one included.
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// Five tries over roughly 4 seconds: enough to ride out a registry restart or a burst of
    /// rate limiting, short enough that a dead registry is reported while the user still waits.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (tests of the first failure, or a caller with its own loop).
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before try number `attempt + 1` (`attempt` counts from 1).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let base = exp.min(self.max);
        // Up to +50% jitter, from the std hasher's per-process random keys (no RNG dependency).
        let random = RandomState::new().build_hasher().finish();
        let jitter = base.mul_f64((random % 1000) as f64 / 2000.0);
        let delay = base + jitter;
        match retry_after {
            Some(wanted) if wanted > delay => wanted.min(self.max.max(delay)),
            _ => delay,
        }
    }
}

/// Whether an HTTP status is worth another try.
pub(crate) fn retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// `Retry-After: <seconds>` (the HTTP-date form is rare from registries and ignored).
pub(crate) fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap_with_bounded_jitter() {
        let p = RetryPolicy {
            attempts: 9,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(800),
        };
        for (attempt, base) in [(1, 100), (2, 200), (3, 400), (4, 800), (9, 800)] {
            let d = p.delay(attempt, None).as_millis();
            assert!(d >= base && d <= base * 3 / 2, "attempt {attempt}: {d}ms");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(10),
            max: Duration::from_secs(2),
        };
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_retried() {
        assert!(retryable(429) && retryable(500) && retryable(503));
        assert!(!retryable(400) && !retryable(401) && !retryable(404) && !retryable(416));
    }
}
