//! Registries: push an `oci::Image` to one, pull a base image from one.
//!
//! ```text
//! ImageRef::parse("127.0.0.1:5000/app:1")       reference.rs   host, repository, tag or digest
//! push(&Image, &ImageRef, &PushOptions)         push.rs        -> PushReport (REPO@sha256:…)
//! pull(&ImageRef, &Platform, &PullOptions)      pull.rs        -> Image, layers in the blob cache
//!   Client                                      client.rs      one request: retries, auth, errors
//!   CredentialSource                            auth.rs        env, docker config, helpers
//!   Progress                                    progress.rs    bars on a terminal, lines otherwise
//! Repository                                    artifact.rs    manifests and small blobs (signatures)
//! ```
//!
//! `publish::Registry` is the `Publisher` on top of `push`. Like `oci`, this module knows nothing
//! of cargo.

mod artifact;
mod auth;
mod client;
mod failure;
mod progress;
mod pull;
mod push;
mod reference;
mod retry;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Result;

pub use artifact::{Access, Manifest, Repository};
pub use auth::{Credential, CredentialSource, Secret};
pub use client::ClientOptions;
pub use progress::ProgressMode;
pub use pull::{BASE_DIGEST, BASE_NAME, PullOptions, default_cache_dir, pull};
pub use push::{BlobReport, Outcome, PushOptions, PushReport, push};
pub use reference::ImageRef;
pub use retry::RetryPolicy;

/// Run `f` over `items` on up to `jobs` threads; results in order, the first error wins.
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<R>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    *results[i].lock().unwrap() = Some(f(item));
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().unwrap().expect("every item ran"))
        .collect()
}
