//! Registries: push an `oci::Image` to one, pull a base image from one.
//!
//! ```text
//! ImageRef::parse("127.0.0.1:5000/app:1")       reference.rs   host, repository, tag or digest
//! push(&Image, &ImageRef, &PushOptions)         push.rs        -> PushReport (REPO@sha256:…)
//! pull(&ImageRef, &Platform, &PullOptions)      pull.rs        -> Image, layers in the blob cache
//!   Client                                      client.rs      one request: auth, redirects, errors
//!   Origin                                      origin.rs      who may see credentials
//!   RetryPolicy::run                            retry.rs       the one retry layer, with a budget
//!   CredentialSource                            auth.rs        env, docker config, helpers
//!   Client::authenticate                        handshake.rs   basic auth, bearer tokens
//!   Progress                                    progress.rs    bars on a terminal, lines otherwise
//! Repository                                    artifact.rs    manifests and small blobs (signatures)
//! push_referrers(&ImageRef, subject, &[Artifact]) referrers.rs  OCI 1.1 referrers, or the fallback tag
//! ```
//!
//! `publish::Registry` is the `Publisher` on top of `push`. Like `oci`, this module knows nothing
//! of cargo.

mod artifact;
mod auth;
mod client;
mod failure;
mod handshake;
mod origin;
mod progress;
mod pull;
mod push;
mod reference;
mod referrers;
mod retry;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::error::Result;

pub use artifact::{Access, Manifest, Repository, Stored};
pub use auth::{Credential, CredentialSource, Secret};
pub use client::{ClientOptions, Timeouts};
pub use progress::ProgressMode;
pub use pull::{BASE_DIGEST, BASE_NAME, PullOptions, default_cache_dir, pull};
pub use push::{BlobReport, Outcome, PushOptions, PushReport, push, push_index};
pub use reference::ImageRef;
pub use referrers::{
    Discovery, Referrer, ReferrersReport, api_answer, fallback_tag, merge, push_referrers,
    referrers_of,
};
pub use retry::RetryPolicy;

/// Set once the outcome of a push or pull is decided by a failure: every transfer still running
/// checks it before its next request (and between retries), so nothing more is sent.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    cancelled: Mutex<bool>,
    changed: Condvar,
}

impl Cancel {
    pub fn cancel(&self) {
        *self.cancelled.lock().unwrap() = true;
        self.changed.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.lock().unwrap()
    }

    /// Sleep for `wait`, or less when cancelled meanwhile; whether it was.
    pub fn wait(&self, wait: Duration) -> bool {
        let guard = self.cancelled.lock().unwrap();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, wait, |cancelled| !*cancelled)
            .unwrap();
        *guard
    }
}

/// Run `f` over `items` on up to `jobs` threads; results in order. The first error to happen
/// wins and cancels `cancel`: no item starts after it, and the running ones stop at their next
/// request (their own "cancelled" errors are not what the user needs to read).
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    cancel: &Cancel,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(items.len()) {
            s.spawn(|| {
                while !cancel.is_cancelled() {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    match f(item) {
                        Ok(r) => *results[i].lock().unwrap() = Some(r),
                        Err(e) => {
                            let mut first = first_error.lock().unwrap();
                            if first.is_none() {
                                *first = Some(e);
                                cancel.cancel();
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }
    Ok(results
        .into_iter()
        .filter_map(|r| r.into_inner().unwrap())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn the_first_failure_wins_and_no_item_starts_after_it() {
        let started = AtomicUsize::new(0);
        let cancel = Cancel::default();
        let items: Vec<u32> = (0..20).collect();
        let result = parallel(&items, 2, &cancel, |&i| {
            started.fetch_add(1, Ordering::SeqCst);
            match i {
                3 => Err(Error::failure("item 3 failed")),
                _ if cancel.is_cancelled() => Err(Error::failure("cancelled")),
                _ => Ok(i),
            }
        });
        assert_eq!(result.unwrap_err().message(), "item 3 failed");
        assert!(cancel.is_cancelled());
        // Items 0..=3, and at most one that the other thread had already picked up.
        assert!(started.load(Ordering::SeqCst) <= 5, "{started:?}");
        let all = parallel(&items, 3, &Cancel::default(), |&i| Ok(i * 2)).unwrap();
        assert_eq!(all, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_cancelled_wait_returns_early() {
        let cancel = Cancel::default();
        assert!(!cancel.wait(Duration::from_millis(1)));
        cancel.cancel();
        let started = std::time::Instant::now();
        assert!(cancel.wait(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
