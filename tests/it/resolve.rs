//! `cargo gantry resolve`: YAML in, the same YAML out with `gantry://` references replaced by
//! pushed digests; every binary built in one cargo run.

use crate::support::docker::docker;
use crate::support::registry::TestRegistry;
use crate::support::*;

const MANIFESTS: &str = "# The api and its worker.\n\
apiVersion: apps/v1\n\
kind: Deployment\n\
metadata: {name: api}   # flow style stays\n\
spec:\n\
  template:\n\
    spec:\n\
      containers:\n\
        - name: api\n\
          image: gantry://api   # ours\n\
        - name: sidecar\n\
          image: \"docker.io/library/nginx:1.27\"\n\
---\n\
kind: Deployment\n\
metadata:\n\
  name: worker\n\
spec:\n\
  template:\n\
    spec:\n\
      containers:\n\
        - image: 'gantry://worker/worker'\n";

fn workspace(fx: &Fixture) {
    fx.file(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"api\", \"worker\"]\nresolver = \"2\"\n",
    )
    .file("ws/api/Cargo.toml", &manifest("api", "itoa = \"1\""))
    .file(
        "ws/api/src/main.rs",
        "fn main() { println!(\"api {}\", itoa::Buffer::new().format(1)); }\n",
    )
    .file("ws/worker/Cargo.toml", &manifest("worker", "itoa = \"1\""))
    .file(
        "ws/worker/src/main.rs",
        "fn main() { println!(\"worker {}\", itoa::Buffer::new().format(2)); }\n",
    )
    .file("ws/deploy/app.yaml", MANIFESTS)
    .lock("ws");
}

#[test]
fn resolve_pushes_both_binaries_and_changes_only_the_two_references() {
    let Some(docker) = docker() else { return };
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let fx = Fixture::new();
    workspace(&fx);
    let prefix = format!("{}/team", reg.host());
    let out = gantry_cmd(&fx.path("ws"))
        .args(["resolve", "-f", "deploy", "--repo", &prefix])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        err.matches("   Compiling `").count(),
        1,
        "one cargo run: {err}"
    );
    let printed = stdout(&out);
    // Byte-identical except the two references.
    let api = format!("{prefix}/api@sha256:");
    let worker = format!("{prefix}/worker@sha256:");
    let a = printed.find(&api).expect("api resolved");
    let w = printed.find(&worker).expect("worker resolved");
    let api_ref = &printed[a..a + api.len() + 64];
    let worker_ref = &printed[w..w + worker.len() + 64];
    let expected = MANIFESTS
        .replace("gantry://api", api_ref)
        .replace("gantry://worker/worker", worker_ref);
    assert_eq!(printed, expected);
    // The pulled images run.
    for (reference, says) in [(api_ref, "api 1"), (worker_ref, "worker 2")] {
        let _ = docker;
        let run = std::process::Command::new("/usr/bin/docker")
            .args(["run", "--rm", reference])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            says,
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let _ = std::process::Command::new("/usr/bin/docker")
            .args(["rmi", reference])
            .output();
    }
}

#[test]
fn an_unknown_binary_is_refused_naming_file_and_line() {
    let fx = Fixture::new();
    workspace(&fx);
    fx.file("ws/deploy/bad.yaml", "spec:\n  image: gantry://nope\n");
    let out = gantry(
        &fx.path("ws"),
        &[
            "resolve",
            "-f",
            "deploy/bad.yaml",
            "--repo",
            "127.0.0.1:1/x",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("deploy/bad.yaml:2:10: `gantry://nope` names no binary"),
        "{err}"
    );
    assert!(err.contains("`api`") && err.contains("`worker`"), "{err}");
    assert!(!err.contains("Compiling"), "{err}");
}

#[test]
fn resolve_without_a_destination_is_refused_with_a_hint() {
    let fx = Fixture::new();
    workspace(&fx);
    let out = gantry(&fx.path("ws"), &["resolve", "-f", "deploy"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("needs somewhere to put the images"), "{err}");
    assert!(err.contains("--repo") && err.contains("--load"), "{err}");
}
