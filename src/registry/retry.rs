//! How often and how patiently failed work is tried again: the one retry layer.
//!
//! Retried: connection errors (refused, reset, timed out), `429 Too Many Requests` and `5xx`,
//! and whatever else the failure says is transient (an upload session the registry dropped).
//! Everything else (`4xx`) is an answer, not an accident, and is reported at once. The delay
//! doubles from `initial` up to `max`, with jitter so parallel uploads that failed together do
//! not come back together; a `Retry-After` in seconds from the registry wins when it is longer.
//!
//! Retries are decided in exactly one place, a `Budget`, kept by one unit of work: a manifest
//! request or a blob download (`RetryPolicy::run`), or a blob upload (whose steps, each one
//! request, resume where the registry says it stopped). `Client::send` sends once. A retry loop
//! inside another would multiply the tries, and the time a dead registry takes to be reported.
//! A unit gives up after `attempts` failures in a row without progress, or once it has been
//! failing without progress for `budget`, whichever comes first; progress (a chunk the registry
//! confirmed) starts the count again, so a long upload through a flaky network gets there.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::registry::Cancel;
use crate::registry::failure;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries of a unit of work without progress, the first one included.
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    /// No new try starts once the unit has been failing without progress for this long (tries
    /// and waits together), whatever `attempts` says.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// Five tries over roughly 4 seconds of waiting: enough to ride out a registry restart or a
    /// burst of rate limiting, short enough that a dead registry is reported while the user still
    /// waits. The one-minute budget bounds the tries that each wait for a timeout: a registry
    /// that went silent is reported about a minute after its first timeout.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial: Duration::from_millis(250),
            max: Duration::from_secs(8),
            budget: Duration::from_secs(60),
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

    /// The retry budget of one unit of work; `cancel` ends it early.
    pub(crate) fn budget<'a>(&'a self, cancel: &'a Cancel) -> Budget<'a> {
        Budget {
            policy: self,
            cancel,
            failures: 0,
            failing_since: None,
            best: None,
        }
    }

    /// Run `work` (given the try number, from 1) until it succeeds, fails for good, runs out of
    /// tries or budget, or `cancel` says another transfer has already failed.
    pub(crate) fn run<T>(
        &self,
        cancel: &Cancel,
        mut work: impl FnMut(u32) -> Result<T>,
    ) -> Result<T> {
        let mut budget = self.budget(cancel);
        let mut tries = 0;
        loop {
            tries += 1;
            match work(tries) {
                Ok(done) => return Ok(done),
                Err(err) => budget.failed(err)?,
            }
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

/// What one unit of work has left of its `RetryPolicy`.
pub(crate) struct Budget<'a> {
    policy: &'a RetryPolicy,
    cancel: &'a Cancel,
    /// Failures since the last progress.
    failures: u32,
    failing_since: Option<Instant>,
    best: Option<u64>,
}

impl Budget<'_> {
    /// The unit got as far as `mark` (any measure that grows as it advances: a step, bytes the
    /// registry holds). Further than ever before is progress, and starts the count again.
    pub fn reached(&mut self, mark: u64) {
        if self.best.is_none_or(|best| mark > best) {
            self.best = Some(mark);
            self.failures = 0;
            self.failing_since = None;
        }
    }

    /// After a failure: `Ok` once another try is worth it (having waited for it), else the error
    /// to report (with a hint that counts the tries, where it matters).
    pub fn failed(&mut self, err: Error) -> Result<()> {
        if !failure::is_transient(&err) || self.cancel.is_cancelled() {
            return Err(err);
        }
        self.failures += 1;
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        let wait = self
            .policy
            .delay(self.failures, failure::retry_after_of(&err));
        if self.failures >= self.policy.attempts || since.elapsed() + wait > self.policy.budget {
            return Err(failure::gave_up(err, self.failures, since.elapsed()));
        }
        if self.cancel.wait(wait) {
            return Err(err);
        }
        Ok(())
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
            ..RetryPolicy::default()
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
            ..RetryPolicy::default()
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

    fn server_error() -> crate::Error {
        let timeouts = crate::registry::Timeouts::default();
        failure::Request {
            method: "GET",
            url: "http://h:1/v2/",
            doing: "pulling `h:1/a`",
            host: "h:1",
            had_credentials: false,
            timeouts: &timeouts,
        }
        .status(503, "Service Unavailable", b"", None)
    }

    fn quick(attempts: u32, budget: Duration) -> RetryPolicy {
        RetryPolicy {
            attempts,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            budget,
        }
    }

    #[test]
    fn work_is_tried_attempts_times_within_the_budget_and_only_for_transient_failures() {
        let cancel = Cancel::default();
        let mut tries = 0;
        let err = quick(4, Duration::from_secs(10))
            .run(&cancel, |_| -> Result<()> {
                tries += 1;
                Err(server_error())
            })
            .unwrap_err();
        assert_eq!(tries, 4);
        assert!(
            err.hint().unwrap().contains("(4 tries in "),
            "{:?}",
            err.hint()
        );

        // The budget ends the tries first: each one here takes longer than all of it.
        tries = 0;
        quick(100, Duration::from_millis(30))
            .run(&cancel, |_| -> Result<()> {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
                Err(server_error())
            })
            .unwrap_err();
        assert!(tries <= 3, "{tries} tries");

        tries = 0;
        let done = quick(4, Duration::from_secs(10)).run(&cancel, |n| {
            tries += 1;
            match n {
                1 => Err(server_error()),
                _ => Ok(n),
            }
        });
        assert_eq!((done.unwrap(), tries), (2, 2));

        tries = 0;
        quick(4, Duration::from_secs(10))
            .run(&cancel, |_| -> Result<()> {
                tries += 1;
                Err(crate::Error::user("not transient"))
            })
            .unwrap_err();
        assert_eq!(tries, 1);
    }

    #[test]
    fn progress_starts_the_count_of_failures_again() {
        let cancel = Cancel::default();
        let policy = quick(3, Duration::from_secs(10));
        let mut budget = policy.budget(&cancel);
        budget.reached(0);
        for mark in 1..10 {
            // Two failures per step, each followed by progress: never three in a row.
            budget.failed(server_error()).unwrap();
            budget.failed(server_error()).unwrap();
            budget.reached(mark);
        }
        // Going back (a recovery step) is no progress.
        budget.reached(3);
        budget.failed(server_error()).unwrap();
        budget.failed(server_error()).unwrap();
        let err = budget.failed(server_error()).unwrap_err();
        assert!(
            err.hint().unwrap().contains("(3 tries in "),
            "{:?}",
            err.hint()
        );
    }

    #[test]
    fn cancelled_work_is_not_tried_again() {
        let cancel = Cancel::default();
        cancel.cancel();
        let mut tries = 0;
        quick(4, Duration::from_secs(10))
            .run(&cancel, |_| -> Result<()> {
                tries += 1;
                Err(server_error())
            })
            .unwrap_err();
        assert_eq!(tries, 1);
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_retried() {
        assert!(retryable(429) && retryable(500) && retryable(503));
        assert!(!retryable(400) && !retryable(401) && !retryable(404) && !retryable(416));
    }
}
