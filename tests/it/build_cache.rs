//! `build` keeps the layers that do not depend on an edit under `target/gantry/cache/`: the
//! image must be the same bytes with and without it, and a damaged entry is never reused.

use std::path::Path;

use crate::support::*;

/// Build with `--timings`; returns the manifest digest and stderr.
fn build(dir: &Path, output: &[&str]) -> (String, String) {
    let mut args = vec!["build", "--timings", "--message-format", "json"];
    args.extend_from_slice(output);
    let out = ok(gantry(dir, &args), "build");
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    (summary["digest"].as_str().unwrap().to_owned(), stderr(&out))
}

fn runtime_layer_cached(stderr: &str) -> bool {
    stderr.contains("timing  layer runtime (cached)")
}

#[test]
fn image_is_byte_identical_with_and_without_the_layer_cache() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi");
    let app = fx.path("app");
    let (cold, err) = build(&app, &["--oci-layout", "oci-1"]);
    assert!(!runtime_layer_cached(&err), "{err}");
    let (warm, err) = build(
        &app,
        &["--oci-layout", "oci-2", "--docker-archive", "a.tar"],
    );
    assert!(runtime_layer_cached(&err), "{err}");
    assert_eq!(cold, warm);
    std::fs::remove_dir_all(app.join("target/gantry/cache")).unwrap();
    let (uncached, err) = build(&app, &["--oci-layout", "oci-3"]);
    assert!(!runtime_layer_cached(&err), "{err}");
    assert_eq!(cold, uncached);
    // Every blob of the layouts written from the cache (hard links) is intact and the same.
    for layout in ["oci-1", "oci-2", "oci-3"] {
        let report = cargo_gantry::oci::fsck::check(&app.join(layout)).unwrap();
        assert!(
            report.problems.is_empty(),
            "{layout}: {:?}",
            report.problems
        );
    }
    let blobs = |d: &str| {
        let mut names: Vec<_> = std::fs::read_dir(app.join(d).join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    assert_eq!(blobs("oci-1"), blobs("oci-2"));
    assert_eq!(blobs("oci-1"), blobs("oci-3"));
}

#[test]
fn a_damaged_cache_blob_is_rebuilt_and_the_image_is_unchanged() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi");
    let app = fx.path("app");
    let (first, _) = build(&app, &["--docker-archive", "a.tar"]);
    let blobs = app.join("target/gantry/cache/blobs/sha256");
    for blob in std::fs::read_dir(&blobs).unwrap() {
        let path = blob.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let (second, err) = build(&app, &["--docker-archive", "b.tar"]);
    assert!(
        !runtime_layer_cached(&err),
        "a damaged entry was reused:\n{err}"
    );
    assert_eq!(first, second);
    let (third, err) = build(&app, &["--docker-archive", "c.tar"]);
    assert!(
        runtime_layer_cached(&err),
        "the entry was not repaired:\n{err}"
    );
    assert_eq!(first, third);
}

fn graph_cached(stderr: &str) -> bool {
    stderr.contains("timing  dependency graph (cached)")
}

/// The names of the packages the SBOM in `layout` lists.
fn sbom_packages(layout: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let sbom = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == "application/spdx+json")
        .expect("an SPDX referrer in the layout");
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(sbom["digest"].as_str().unwrap())).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&blob(manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    let mut names: Vec<String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_dependency_graph_is_reused_after_an_edit_and_asked_again_when_a_manifest_changes() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi").lock("app");
    fx.file("helper/Cargo.toml", &manifest("helper", "")).file(
        "helper/src/lib.rs",
        "pub fn word() -> &'static str { \"hi\" }\n",
    );
    let app = fx.path("app");
    let (first, err) = build(&app, &["--oci-layout", "oci-1"]);
    assert!(!graph_cached(&err), "{err}");
    // A source edit: the graph is the stored one, and the image is what an uncached build makes.
    fx.file("app/src/main.rs", "fn main() { println!(\"hello\"); }\n");
    let (edited, err) = build(&app, &["--oci-layout", "oci-2"]);
    assert!(graph_cached(&err), "{err}");
    assert_ne!(first, edited);
    std::fs::remove_dir_all(app.join("target/gantry/cache/graph")).unwrap();
    let (uncached, err) = build(&app, &["--oci-layout", "oci-3"]);
    assert!(!graph_cached(&err), "{err}");
    assert_eq!(edited, uncached);
    assert_eq!(
        sbom_packages(&app.join("oci-2")),
        sbom_packages(&app.join("oci-3"))
    );
    assert!(!sbom_packages(&app.join("oci-3")).contains(&"helper".to_owned()));

    // A new dependency changes the manifest (and the lockfile): the graph is asked again and
    // the SBOM names the new package.
    fx.file(
        "app/Cargo.toml",
        &manifest("app", "helper = { path = \"../helper\" }"),
    )
    .file(
        "app/src/main.rs",
        "fn main() { println!(\"{}\", helper::word()); }\n",
    );
    let (_, err) = build(&app, &["--oci-layout", "oci-4"]);
    assert!(!graph_cached(&err), "{err}");
    assert!(sbom_packages(&app.join("oci-4")).contains(&"helper".to_owned()));

    // A stored graph that is not cargo's JSON is asked again, not an error.
    let dir = app.join("target/gantry/cache/graph");
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), "{ not a graph").unwrap();
    }
    let (_, err) = build(&app, &["--oci-layout", "oci-5"]);
    assert!(!graph_cached(&err), "{err}");
    assert_eq!(
        sbom_packages(&app.join("oci-4")),
        sbom_packages(&app.join("oci-5"))
    );
}
