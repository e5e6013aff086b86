//! Registries end to end: pushes and pulls against a real distribution registry on 127.0.0.1,
//! checked with `skopeo` and `docker`; faults injected by a proxy in front of it.

mod faults;
mod formats;
pub mod referrers;
mod trust;

use std::process::Command;
use std::time::Duration;

use cargo_gantry::oci::{Image, LayerBuilder, Platform, layout};
use cargo_gantry::publish::{Publisher, Registry};
use cargo_gantry::registry::{
    self, ClientOptions, Credential, CredentialSource, ImageRef, Outcome, ProgressMode,
    PullOptions, PushOptions, RetryPolicy, Secret,
};

use crate::support::registry::{SKOPEO, TestRegistry, docker, run, tool};

/// Deterministic bytes that gzip does not shrink, so layer sizes are what the test says.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An image with one layer of `size` random bytes per entry of `sizes`.
pub fn random_image(seed: u64, sizes: &[usize]) -> Image {
    let mut image = Image::new(&Platform::linux_amd64());
    for (i, size) in sizes.iter().enumerate() {
        let mut layer = LayerBuilder::new(0);
        layer.file(
            &format!("/data/{seed}-{i}.bin"),
            0o644,
            noise(seed * 100 + i as u64, *size),
        );
        image.push_layer(layer.finish().unwrap(), &format!("layer {i}"));
    }
    image
}

/// Quiet, and quick to retry: tests should not sleep for seconds.
pub fn options() -> PushOptions {
    PushOptions {
        client: client_options(),
        ..PushOptions::default()
    }
}

pub fn client_options() -> ClientOptions {
    ClientOptions {
        progress: ProgressMode::Quiet,
        credentials: CredentialSource::Anonymous,
        retry: RetryPolicy {
            attempts: 8,
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    }
}

fn reference(host: &str, name: &str) -> ImageRef {
    ImageRef::parse(&format!("{host}/{name}")).unwrap()
}

#[test]
fn pushed_image_has_the_same_digest_in_skopeo_inspect_and_copy() {
    let (Some(reg), Some(skopeo)) = (TestRegistry::start(), tool(SKOPEO)) else {
        return;
    };
    let image = random_image(1, &[300_000, 1000]);
    let target = reference(&reg.host(), "team/app:v1");
    let published = Registry::new(target, options()).publish(&image).unwrap();
    let digest = image.digest().unwrap();
    assert_eq!(published.digest, digest);
    assert_eq!(
        published.references,
        [format!("{}/team/app@{digest}", reg.host())]
    );

    assert_eq!(reg.inspect("team/app:v1", None)["Digest"], digest.as_str());
    let back = tempfile::tempdir().unwrap();
    let dest = back.path().join("layout");
    run(Command::new(skopeo)
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/team/app:v1", reg.host()))
        .arg(format!("oci:{}:v1", dest.display())));
    let copied = layout::read(&dest, Some("v1"), &Platform::linux_amd64()).unwrap();
    assert_eq!(copied.digest().unwrap(), digest);
}

#[test]
fn a_second_push_uploads_nothing() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let proxy = crate::support::proxy::Proxy::start(reg.port, Default::default());
    let image = random_image(2, &[200_000, 200_000]);
    let target = reference(&proxy.host(), "app:1");
    let first = registry::push(&image, &target, &options()).unwrap();
    assert!(
        first.blobs.iter().all(|b| b.outcome == Outcome::Uploaded),
        "{first:?}"
    );
    let before = proxy.requests().len();
    let second = registry::push(&image, &target, &options()).unwrap();
    assert_eq!(second.digest, first.digest);
    assert!(
        second.blobs.iter().all(|b| b.outcome == Outcome::Existed),
        "{second:?}"
    );
    let requests = &proxy.requests()[before..];
    let writes: Vec<&String> = requests
        .iter()
        .filter(|r| !r.starts_with("HEAD "))
        .collect();
    assert_eq!(
        writes,
        [&"PUT /v2/app/manifests/1".to_owned()],
        "{requests:?}"
    );
}

#[test]
fn chunked_upload_gives_the_same_digest() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let image = random_image(3, &[700_000, 10]);
    let opts = PushOptions {
        chunk_size: Some(128 * 1024),
        ..options()
    };
    let report = registry::push(&image, &reference(&reg.host(), "chunked:1"), &opts).unwrap();
    assert_eq!(
        reg.inspect("chunked:1", None)["Digest"],
        report.digest.as_str()
    );
    assert!(reg.raw_manifest("chunked:1") == image.render().unwrap().manifest);
}

#[test]
fn basic_auth_accepts_the_right_credentials_and_explains_the_wrong_ones() {
    let Some(reg) = TestRegistry::with_basic_auth("alice", "right-pass") else {
        return;
    };
    let image = random_image(4, &[1000]);
    let target = reference(&reg.host(), "private:1");
    let with = |credentials| PushOptions {
        client: ClientOptions {
            credentials,
            ..client_options()
        },
        ..options()
    };

    let anonymous = registry::push(&image, &target, &with(CredentialSource::Anonymous))
        .unwrap_err()
        .render();
    assert!(
        anonymous.contains("the registry answered 401 Unauthorized"),
        "{anonymous}"
    );
    assert!(
        anonymous.contains(&format!("hint: log in with `docker login {}`", reg.host())),
        "{anonymous}"
    );

    let wrong = Credential::Basic {
        user: "alice".into(),
        password: Secret::new("wrong-pass"),
    };
    let err = registry::push(&image, &target, &with(CredentialSource::Given(wrong)))
        .unwrap_err()
        .render();
    assert!(
        err.contains("401 Unauthorized") && err.contains("rejected the credentials"),
        "{err}"
    );
    assert!(!err.contains("wrong-pass"), "the password leaked: {err}");

    // The right ones, from a Docker config file as `docker login` writes it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let auth = "YWxpY2U6cmlnaHQtcGFzcw=="; // base64("alice:right-pass")
    std::fs::write(
        &config,
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host()),
    )
    .unwrap();
    let report = registry::push(
        &image,
        &target,
        &with(CredentialSource::DockerConfig(config)),
    )
    .unwrap();
    assert_eq!(
        reg.inspect("private:1", Some("alice:right-pass"))["Digest"],
        report.digest.as_str()
    );
}

#[test]
fn a_base_pulled_from_the_registry_is_mounted_reused_and_cached() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let base = random_image(5, &[250_000, 150_000]);
    registry::push(&base, &reference(&reg.host(), "base:1"), &options()).unwrap();

    let proxy = crate::support::proxy::Proxy::start(reg.port, Default::default());
    let cache = tempfile::tempdir().unwrap();
    let pull_opts = PullOptions {
        client: client_options(),
        cache_dir: cache.path().to_owned(),
        jobs: 2,
    };
    let base_ref = reference(&proxy.host(), "base:1");
    let mut app = registry::pull(&base_ref, &Platform::linux_amd64(), &pull_opts).unwrap();
    assert_eq!(app.layers().len(), 2);
    let mut top = LayerBuilder::new(0);
    top.file("/app", 0o755, &b"app"[..]);
    app.push_layer(top.finish().unwrap(), "app");

    let report = registry::push(&app, &reference(&proxy.host(), "app:1"), &options()).unwrap();
    let mounted = report
        .blobs
        .iter()
        .filter(|b| matches!(&b.outcome, Outcome::Mounted { from } if from == "base"))
        .count();
    assert_eq!(mounted, 2, "{report:?}");
    let inspected = reg.inspect("app:1", None);
    let base_layers: Vec<String> = base
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect();
    assert_eq!(
        inspected["Layers"].as_array().unwrap()[..2],
        serde_json::json!(base_layers).as_array().unwrap()[..]
    );

    // A second pull downloads nothing: one HEAD for the tag, the rest is in the cache.
    let before = proxy.requests().len();
    let again = registry::pull(&base_ref, &Platform::linux_amd64(), &pull_opts).unwrap();
    assert_eq!(
        proxy.requests()[before..],
        ["HEAD /v2/base/manifests/1".to_owned()]
    );
    assert_eq!(again.layers().len(), 2);
}

#[test]
fn pulling_a_missing_base_names_the_reference_tried() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let opts = PullOptions {
        client: client_options(),
        cache_dir: tempfile::tempdir().unwrap().keep(),
        jobs: 1,
    };
    let err = registry::pull(
        &reference(&reg.host(), "nope:7"),
        &Platform::linux_amd64(),
        &opts,
    )
    .unwrap_err();
    let text = err.render();
    assert!(
        text.contains("the registry answered 404 Not Found"),
        "{text}"
    );
    assert!(
        text.contains(&format!("gantry looked for `{}/nope:7`", reg.host())),
        "{text}"
    );
}

#[test]
fn docker_pulls_and_runs_a_pushed_image() {
    let (Some(reg), Some(docker), Some(cc)) =
        (TestRegistry::start(), docker(), tool("/usr/bin/cc"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hi.c"),
        "#include <stdio.h>\nint main(void){puts(\"hello from the registry\");return 0;}\n",
    )
    .unwrap();
    let binary = dir.path().join("hi");
    run(Command::new(cc)
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(dir.path().join("hi.c")));
    let mut layer = LayerBuilder::new(0);
    layer.file("/hi", 0o755, binary.as_path());
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(layer.finish().unwrap(), "hi");
    image.runtime().set_entrypoint(Some(vec!["/hi".into()]));
    let name = format!("{}/hello:e2e", reg.host());
    registry::push(&image, &ImageRef::parse(&name).unwrap(), &options()).unwrap();

    run(Command::new(&docker).args(["pull", "-q", &name]));
    let out = run(Command::new(&docker).args(["run", "--rm", &name]));
    let _ = Command::new(&docker).args(["rmi", "-f", &name]).output();
    assert_eq!(out.trim(), "hello from the registry");
}

#[test]
fn bearer_token_challenge_is_answered_with_the_token_service() {
    use crate::support::proxy::{Faults, Proxy};
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let faults = Faults {
        bearer_for: Some("Basic Ym9iOmh1bnRlcjI="),
        ..Faults::default()
    }; // bob:hunter2
    let proxy = Proxy::start(reg.port, faults);
    let target = reference(&proxy.host(), "bearer:1");
    let with = |credentials| PushOptions {
        client: ClientOptions {
            credentials,
            ..client_options()
        },
        ..options()
    };
    let bob = |password: &str| {
        CredentialSource::Given(Credential::Basic {
            user: "bob".into(),
            password: Secret::new(password),
        })
    };
    let image = random_image(6, &[1000]);

    let err = registry::push(&image, &target, &with(bob("wrong")))
        .unwrap_err()
        .render();
    assert!(
        err.contains(&format!("`GET http://{}/token` failed", proxy.host())),
        "{err}"
    );
    assert!(
        err.contains("401 Unauthorized") && err.contains("rejected the credentials"),
        "{err}"
    );

    let before = proxy.requests().len();
    let report = registry::push(&image, &target, &with(bob("hunter2"))).unwrap();
    assert_eq!(
        reg.inspect("bearer:1", None)["Digest"],
        report.digest.as_str()
    );
    let requests = &proxy.requests()[before..];
    let tokens: Vec<&String> = requests.iter().filter(|r| r.contains("/token?")).collect();
    // One token for both parallel uploads, asked for our scope and the challenge's.
    let scopes = "scope=repository:bearer:pull,push&scope=repository:x:pull";
    assert!(
        tokens.len() == 1 && tokens[0].contains(scopes),
        "{requests:?}"
    );
}
