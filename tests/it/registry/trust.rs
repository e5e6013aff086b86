//! What a registry must not be able to do to gantry: keep it waiting forever, collect its
//! credentials by sending it elsewhere, multiply its retries, or keep it uploading after a
//! failure that has already decided the outcome.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cargo_gantry::oci::Platform;
use cargo_gantry::registry::{
    self, ClientOptions, Credential, CredentialSource, ImageRef, PullOptions, PushOptions,
    RetryPolicy, Secret, Timeouts,
};

use super::{client_options, options, random_image};
use crate::support::proxy::{Faults, Proxy};
use crate::support::registry::TestRegistry;

/// `bob:hunter2`, as the bearer proxy wants it at its token service.
const BOB: &str = "Basic Ym9iOmh1bnRlcjI=";

fn bob() -> ClientOptions {
    ClientOptions {
        credentials: CredentialSource::Given(Credential::Basic {
            user: "bob".into(),
            password: Secret::new("hunter2"),
        }),
        ..client_options()
    }
}

/// A TCP port on 127.0.0.1 that accepts connections, reads what it is sent and never answers.
fn silent_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                while conn.read(&mut sink).is_ok_and(|n| n > 0) {}
            });
        }
    });
    port
}

/// A TCP port on 127.0.0.1 that answers every request with the start of a large body, for a
/// manifest it names by digest, and then goes silent.
fn stalling_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut head = [0u8; 4096];
                let _ = conn.read(&mut head);
                let digest = format!("sha256:{}", "ab".repeat(32));
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {digest}\r\n\r\n{{\"schemaVersion\""
                );
                let mut sink = [0u8; 4096];
                while conn.read(&mut sink).is_ok_and(|n| n > 0) {}
            });
        }
    });
    port
}

/// Run `f` on a thread; fail the test if it takes longer than `limit` (rather than hang).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("still waiting after {limit:?}"))
}

/// Timeouts of a fraction of a second, and three quick tries.
fn quick_timeouts() -> ClientOptions {
    ClientOptions {
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(300),
            commit: Duration::from_millis(300),
        },
        retry: RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        ..client_options()
    }
}

#[test]
fn a_registry_that_never_answers_fails_push_and_pull_in_bounded_time() {
    let host = format!("127.0.0.1:{}", silent_port());
    let client = quick_timeouts();
    let target = ImageRef::parse(&format!("{host}/silent:1")).unwrap();
    let push = PushOptions {
        client: client.clone(),
        ..options()
    };
    let started = Instant::now();
    let err = within(Duration::from_secs(30), {
        let target = target.clone();
        move || registry::push(&random_image(60, &[1000]), &target, &push).unwrap_err()
    });
    let elapsed = started.elapsed();
    let text = err.render();
    assert!(text.contains("no answer from the registry"), "{text}");
    assert!(text.contains("timed out"), "{text}");
    assert!(text.contains(&format!("hint: `{host}` accepted")), "{text}");
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");

    let pull = PullOptions {
        client,
        cache_dir: tempfile::tempdir().unwrap().keep(),
        jobs: 1,
    };
    let err = within(Duration::from_secs(30), move || {
        registry::pull(&target, &Platform::linux_amd64(), &pull).unwrap_err()
    });
    assert!(err.render().contains("timed out"), "{}", err.render());
}

#[test]
fn a_registry_that_stalls_in_the_middle_of_an_answer_fails_the_pull_in_bounded_time() {
    let host = format!("127.0.0.1:{}", stalling_port());
    let target = ImageRef::parse(&format!("{host}/stalled:1")).unwrap();
    let pull = PullOptions {
        client: quick_timeouts(),
        cache_dir: tempfile::tempdir().unwrap().keep(),
        jobs: 1,
    };
    let started = Instant::now();
    let err = within(Duration::from_secs(30), move || {
        registry::pull(&target, &Platform::linux_amd64(), &pull).unwrap_err()
    });
    let text = err.render();
    assert!(
        text.contains(
            "caused by: timed out: the registry sent nothing for 300ms in the middle of its answer"
        ),
        "{text}"
    );
    assert!(text.contains("(3 tries in "), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn a_failing_request_is_tried_as_often_as_the_policy_says_not_more() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let proxy = Proxy::start(
        reg.port,
        Faults {
            server_error: 100,
            only: Some("POST "),
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
    let target = ImageRef::parse(&format!("{}/nested:1", proxy.host())).unwrap();
    // No layers: the config is the only blob, so every POST is its upload being started.
    let err = registry::push(&random_image(61, &[]), &target, &opts).unwrap_err();
    let requests = proxy.requests();
    let posts = requests.iter().filter(|r| r.starts_with("POST ")).count();
    assert_eq!(posts, 3, "{requests:?}");
    assert!(
        err.render()
            .contains("hint: the registry kept failing (3 tries"),
        "{}",
        err.render()
    );
}

#[test]
fn the_first_fatal_upload_failure_stops_the_other_uploads() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let image = random_image(62, &[3000, 200_000, 200_000, 200_000]);
    let forbidden = image.layers()[0].digest().hex().to_owned();
    let proxy = Proxy::start(
        reg.port,
        Faults {
            forbidden: Some(forbidden),
            delay: Duration::from_millis(100),
            ..Faults::default()
        },
    );
    let opts = PushOptions {
        chunk_size: Some(32 * 1024),
        jobs: 2,
        ..options()
    };
    let target = ImageRef::parse(&format!("{}/stop:1", proxy.host())).unwrap();
    let err = registry::push(&image, &target, &opts).unwrap_err();
    assert!(err.render().contains("403 Forbidden"), "{}", err.render());
    let requests = proxy.requests();
    let at = proxy.stats.forbidden_after.lock().unwrap().unwrap();
    // The other worker may have sent one request before it learnt of the failure; no more.
    assert!(requests.len() - at <= 1, "after #{at}: {requests:?}");
}

#[test]
fn an_upload_sent_to_another_port_carries_no_credentials() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let elsewhere = Proxy::start(reg.port, Faults::default());
    let proxy = Proxy::start(
        reg.port,
        Faults {
            bearer_for: Some(BOB),
            locations_to: Some(elsewhere.port),
            ..Faults::default()
        },
    );
    let target = ImageRef::parse(&format!("{}/moved:1", proxy.host())).unwrap();
    let opts = PushOptions {
        client: bob(),
        ..options()
    };
    let report = registry::push(&random_image(63, &[5000]), &target, &opts)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(
        reg.inspect("moved:1", None)["Digest"],
        report.digest.as_str()
    );
    assert!(
        elsewhere.requests().iter().any(|r| r.starts_with("PUT ")),
        "the uploads did not go to the other port: {:?}",
        proxy.requests()
    );
    assert_eq!(elsewhere.authorized(), Vec::<String>::new());
}

#[test]
fn a_blob_redirected_to_another_port_is_fetched_without_credentials() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let image = random_image(64, &[5000]);
    let direct = ImageRef::parse(&format!("{}/redirected:1", reg.host())).unwrap();
    registry::push(&image, &direct, &options()).unwrap();
    let elsewhere = Proxy::start(reg.port, Faults::default());
    let proxy = Proxy::start(
        reg.port,
        Faults {
            bearer_for: Some(BOB),
            redirect_blobs_to: Some(elsewhere.port),
            ..Faults::default()
        },
    );
    let pull = PullOptions {
        client: bob(),
        cache_dir: tempfile::tempdir().unwrap().keep(),
        jobs: 1,
    };
    let reference = ImageRef::parse(&format!("{}/redirected:1", proxy.host())).unwrap();
    let pulled = registry::pull(&reference, &Platform::linux_amd64(), &pull)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(pulled.layers()[0].digest(), image.layers()[0].digest());
    let fetched = elsewhere.requests();
    assert_eq!(fetched.len(), 2, "config and layer: {fetched:?}");
    assert_eq!(elsewhere.authorized(), Vec::<String>::new());
    // The registry itself did get the token: the redirect was to the blobs only.
    assert!(!proxy.authorized().is_empty());
}
