//! Pushes through a proxy that injects `500`, `429` and dropped connections, and a push whose
//! process is killed midway.

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cargo_gantry::registry::{self, ImageRef, Outcome, PushOptions, RetryPolicy};

use super::{client_options, options, random_image};
use crate::support::proxy::{Faults, Proxy};
use crate::support::registry::TestRegistry;

/// Set (to `HOST/NAME`) only in the child process of the kill test.
const KILL_TARGET: &str = "GANTRY_TEST_KILL_TARGET";
const KILL_LAYERS: [usize; 4] = [3 << 20, 3 << 20, 3 << 20, 3 << 20];

fn push_through_faults(chunk_size: Option<u64>, seed: u64) {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let faults = Faults {
        server_error: 10,
        too_many: 10,
        drop: 10,
        seed,
        ..Faults::default()
    };
    let proxy = Proxy::start(reg.port, faults);
    let image = random_image(10 + seed, &[400_000, 300_000, 5_000]);
    let opts = PushOptions {
        chunk_size,
        jobs: 2,
        ..options()
    };
    let target = ImageRef::parse(&format!("{}/flaky:1", proxy.host())).unwrap();
    let report =
        registry::push(&image, &target, &opts).unwrap_or_else(|e| panic!("{}", e.render()));
    assert!(
        proxy.injected() > 0,
        "no fault was injected: {:?}",
        proxy.requests()
    );
    assert_eq!(report.digest, image.digest().unwrap());
    assert_eq!(
        reg.inspect("flaky:1", None)["Digest"],
        report.digest.as_str()
    );
}

#[test]
fn monolithic_push_completes_through_injected_faults() {
    push_through_faults(None, 7);
}

#[test]
fn chunked_push_completes_through_injected_faults() {
    push_through_faults(Some(64 * 1024), 11);
}

#[test]
fn push_fails_with_a_clear_error_once_the_retry_budget_is_spent() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let proxy = Proxy::start(
        reg.port,
        Faults {
            server_error: 100,
            ..Faults::default()
        },
    );
    let mut opts = options();
    opts.client.retry = RetryPolicy {
        attempts: 3,
        initial: Duration::from_millis(1),
        max: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let target = ImageRef::parse(&format!("{}/down:1", proxy.host())).unwrap();
    let err = registry::push(&random_image(20, &[1000]), &target, &opts).unwrap_err();
    let text = err.render();
    assert!(
        text.contains(&format!(
            "`HEAD http://{}/v2/down/blobs/sha256:",
            proxy.host()
        )),
        "{text}"
    );
    assert!(text.contains("failed while pushing"), "{text}");
    assert!(
        text.contains("the registry answered 500 Internal Server Error"),
        "{text}"
    );
    // A HEAD answer has no body, so there are no details to show.
    assert!(
        text.contains("caused by: (the answer had no error details)"),
        "{text}"
    );
    assert!(
        text.contains("hint: the registry kept failing (3 tries in "),
        "{text}"
    );
}

/// The pushing process of the kill test; does nothing in a normal test run.
#[test]
#[ignore = "run as a child process by a_push_killed_midway_completes_when_rerun"]
fn push_helper_for_the_kill_test() {
    let Ok(target) = std::env::var(KILL_TARGET) else {
        return;
    };
    let opts = PushOptions {
        jobs: 1,
        client: cargo_gantry::registry::ClientOptions {
            retry: RetryPolicy::none(),
            ..client_options()
        },
        ..PushOptions::default()
    };
    registry::push(
        &random_image(30, &KILL_LAYERS),
        &ImageRef::parse(&target).unwrap(),
        &opts,
    )
    .unwrap();
}

#[test]
fn a_push_killed_midway_completes_when_rerun() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let proxy = Proxy::start(reg.port, Faults::default());
    let target = format!("{}/killed:1", proxy.host());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "registry::faults::push_helper_for_the_kill_test",
        ])
        .env(KILL_TARGET, &target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it in the middle of the second big layer (the config goes first, then the layers).
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.stats.forwarded.load(Ordering::SeqCst)
        < (KILL_LAYERS[0] + KILL_LAYERS[1] / 2) as u64
    {
        assert!(Instant::now() < deadline, "the child push never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child push ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let image = random_image(30, &KILL_LAYERS);
    let report = registry::push(&image, &ImageRef::parse(&target).unwrap(), &options()).unwrap();
    assert_eq!(
        report.blobs[1].outcome,
        Outcome::Existed,
        "the first layer was complete: {report:?}"
    );
    assert!(
        report.blobs[3..]
            .iter()
            .all(|b| b.outcome == Outcome::Uploaded),
        "{report:?}"
    );
    assert_eq!(
        reg.inspect("killed:1", None)["Digest"],
        report.digest.as_str()
    );
}
