//! Several images in one build: `--bin a --bin b` / `--workspace` compile in one cargo run and
//! write one image per binary, sharing their runtime layers.

use std::collections::BTreeSet;

use crate::support::docker::docker;
use crate::support::*;

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
    .file(
        "ws/api/src/bin/migrate.rs",
        "fn main() { println!(\"migrate {}\", itoa::Buffer::new().format(2)); }\n",
    )
    .file("ws/worker/Cargo.toml", &manifest("worker", "itoa = \"1\""))
    .file(
        "ws/worker/src/main.rs",
        "fn main() { println!(\"worker {}\", itoa::Buffer::new().format(3)); }\n",
    )
    .lock("ws");
}

#[test]
fn workspace_build_compiles_once_and_the_images_share_their_runtime_layer() {
    let Some(_docker) = docker() else { return };
    let fx = Fixture::new();
    workspace(&fx);
    let layout = fx.path("layout");
    let out = gantry_cmd(&fx.path("ws"))
        .args(["build", "--workspace", "--load", "--oci-layout"])
        .arg(&layout)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    // One cargo run: the shared dependency compiled once.
    assert_eq!(err.matches("Compiling itoa").count(), 1, "{err}");
    assert_eq!(err.matches("   Compiling `").count(), 1, "{err}");
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 3, "{printed}");
    for (line, tag) in lines
        .iter()
        .zip(["api:0.1.0", "migrate:0.1.0", "worker:0.1.0"])
    {
        assert!(line.starts_with(&format!("{tag}@sha256:")), "{line}");
    }
    // One layout holds the three, and their first (runtime) layers are the same blob.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    let mut runtime_layers = BTreeSet::new();
    let mut named = 0;
    for m in manifests {
        if m["annotations"]["org.opencontainers.image.ref.name"].is_null() {
            continue; // an SBOM referrer
        }
        named += 1;
        let digest = m["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(layout.join("blobs/sha256").join(digest)).unwrap(),
        )
        .unwrap();
        runtime_layers.insert(manifest["layers"][0]["digest"].as_str().unwrap().to_owned());
    }
    assert_eq!(named, 3);
    assert_eq!(runtime_layers.len(), 1, "{runtime_layers:?}");
    // Each image runs its own binary.
    for (tag, says) in [
        ("api:0.1.0", "api 1"),
        ("migrate:0.1.0", "migrate 2"),
        ("worker:0.1.0", "worker 3"),
    ] {
        let run = std::process::Command::new("/usr/bin/docker")
            .args(["run", "--rm", tag])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), says);
    }
    let _ = std::process::Command::new("/usr/bin/docker")
        .args(["rmi", "api:0.1.0", "migrate:0.1.0", "worker:0.1.0"])
        .output();
}

#[test]
fn outputs_that_name_one_image_refuse_several_binaries_before_compiling() {
    let fx = Fixture::new();
    workspace(&fx);
    for (flag, value) in [
        ("--tag", "x:1"),
        ("--docker-archive", "x.tar"),
        ("--push", "127.0.0.1:1/x:1"),
    ] {
        let out = gantry(
            &fx.path("ws"),
            &["build", "--bin", "api", "--bin", "worker", flag, value],
        );
        assert_eq!(out.status.code(), Some(1), "{flag}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("`{flag}` names one image, but 2 binaries")),
            "{err}"
        );
        assert!(!err.contains("Compiling"), "{err}");
    }
    let out = gantry(&fx.path("ws"), &["run", "--workspace"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("runs one binary"), "{}", stderr(&out));
}

#[test]
fn several_multi_platform_images_refuse_one_shared_layout_before_compiling() {
    let fx = Fixture::new();
    workspace(&fx);
    let out = gantry(
        &fx.path("ws"),
        &[
            "build",
            "--workspace",
            "--platform",
            "linux/amd64,linux/arm64",
            "--oci-layout",
            "out",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot share one `--oci-layout`"), "{err}");
    assert!(!err.contains("Compiling"), "{err}");
}
