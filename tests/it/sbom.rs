//! SBOMs and cargo-auditable data: what cargo compiled into the binary, nothing else from
//! Cargo.lock; validated by the reference tools (pyspdxtools, cyclonedx-python-lib,
//! rust-audit-info) and attached as OCI 1.1 referrers that skopeo and umoci still accept.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::tools::{on_path, run, tool};
use crate::support::*;

/// The crates compiled into `app`'s binary.
const COMPILED: &[&str] = &["app", "itoa", "memchr", "util"];
/// In Cargo.lock, but not in the binary: a dev-dependency, a Windows-only dependency, an
/// optional dependency whose feature is off, and a build-dependency.
const NOT_COMPILED: &[&str] = &["ryu", "byteorder", "hex", "autocfg"];

/// A workspace whose Cargo.lock holds more than the binary: every crate of `NOT_COMPILED` is
/// locked, none is linked. All of them are in this repository's own lockfile, hence in the
/// local cargo cache.
fn workspace(fx: &Fixture, dir: &str) {
    fx.file(
        &format!("{dir}/Cargo.toml"),
        "[workspace]\nmembers = [\"app\", \"util\"]\nresolver = \"2\"\n",
    )
    .file(
        &format!("{dir}/app/Cargo.toml"),
        r#"[package]
name = "app"
version = "0.1.0"
edition = "2021"
license = "MIT OR Apache-2.0"

[dependencies]
itoa = "1"
util = { path = "../util" }
hex = { version = "0.4", optional = true }

[features]
encode = ["dep:hex"]

[target.'cfg(windows)'.dependencies]
byteorder = "1"

[dev-dependencies]
ryu = "1"

[build-dependencies]
autocfg = "1"
"#,
    )
    .file(
        &format!("{dir}/app/build.rs"),
        "fn main() { let _ = autocfg::AutoCfg::new(); }\n",
    )
    .file(
        &format!("{dir}/app/src/main.rs"),
        "fn main() { let mut b = itoa::Buffer::new(); println!(\"{} {}\", b.format(7), util::find()); }\n",
    )
    .file(
        &format!("{dir}/util/Cargo.toml"),
        &manifest("util", "memchr = \"2\""),
    )
    .file(
        &format!("{dir}/util/src/lib.rs"),
        "pub fn find() -> usize { memchr::memchr(b'x', b\"abx\").unwrap_or(0) }\n",
    )
    .lock(dir);
}

fn locked_names(fx: &Fixture, dir: &str) -> BTreeSet<String> {
    let lock: toml::Table = fx.read(&format!("{dir}/Cargo.lock")).parse().unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

fn sbom(dir: &Path, format: &str) -> Vec<u8> {
    let out = gantry(dir, &["sbom", "--format", format, "-o", "-"]);
    ok(out, &format!("cargo gantry sbom --format {format}")).stdout
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// `pkg:cargo/NAME@VERSION` purls of an SPDX document, as names.
fn spdx_crates(doc: &serde_json::Value) -> BTreeSet<String> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(str::to_owned))
        .filter_map(|purl| {
            Some(
                purl.strip_prefix("pkg:cargo/")?
                    .split('@')
                    .next()?
                    .to_owned(),
            )
        })
        .collect()
}

fn cyclonedx_crates(doc: &serde_json::Value) -> BTreeSet<String> {
    let mut all = doc["components"].as_array().unwrap().clone();
    all.push(doc["metadata"]["component"].clone());
    all.iter()
        .filter_map(|c| c["purl"].as_str())
        .filter_map(|purl| {
            Some(
                purl.strip_prefix("pkg:cargo/")?
                    .split('@')
                    .next()?
                    .to_owned(),
            )
        })
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn write(fx: &Fixture, name: &str, bytes: &[u8]) -> PathBuf {
    let path = fx.path(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn sbom_lists_only_the_crates_compiled_into_the_binary() {
    let fx = Fixture::new();
    workspace(&fx, "ws");
    // The fixture is only a test when the lockfile has what the binary must not list.
    let locked = locked_names(&fx, "ws");
    for name in NOT_COMPILED.iter().chain(COMPILED) {
        assert!(
            locked.contains(*name),
            "{name} is not in Cargo.lock: {locked:?}"
        );
    }

    let spdx = sbom(&fx.path("ws"), "spdx");
    let doc = json(&spdx);
    assert_eq!(spdx_crates(&doc), names(COMPILED), "{doc:#}");
    // Same inputs, same bytes.
    assert_eq!(sbom(&fx.path("ws"), "spdx"), spdx);

    // Checksums come from Cargo.lock; local crates have none.
    let lock: toml::Table = fx.read("ws/Cargo.lock").parse().unwrap();
    let itoa_sum = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("itoa"))
        .and_then(|p| p["checksum"].as_str())
        .unwrap()
        .to_owned();
    let package = |name: &str| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name}"))
            .clone()
    };
    assert_eq!(package("itoa")["checksums"][0]["checksumValue"], itoa_sum);
    assert_eq!(package("itoa")["checksums"][0]["algorithm"], "SHA256");
    assert!(package("util").get("checksums").is_none());
    assert_eq!(package("app")["licenseDeclared"], "MIT OR Apache-2.0");
    // The graph: app -> util -> memchr, described from the binary's package.
    let id = |name: &str| package(name)["SPDXID"].as_str().unwrap().to_owned();
    let rels: BTreeSet<(String, String, String)> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (
                s("spdxElementId"),
                s("relationshipType"),
                s("relatedSpdxElement"),
            )
        })
        .collect();
    for (from, to) in [("app", "util"), ("util", "memchr"), ("app", "itoa")] {
        assert!(
            rels.contains(&(id(from), "DEPENDS_ON".into(), id(to))),
            "{from} -> {to}: {rels:?}"
        );
    }
    assert!(rels.contains(&("SPDXRef-DOCUMENT".into(), "DESCRIBES".into(), id("app"))));

    let file = write(&fx, "app.spdx.json", &spdx);
    let Some(pyspdxtools) = on_path("pyspdxtools") else {
        return;
    };
    run(Command::new(pyspdxtools).arg("-i").arg(&file));
}

#[test]
fn a_feature_only_another_member_enables_is_not_in_the_sbom() {
    let fx = Fixture::new();
    workspace(&fx, "ws");
    // `cargo metadata` unifies features over the workspace: `tool` turns on util's `hex`, so
    // the resolve graph has util -> hex. `cargo build -p app` does not compile it.
    fx.file(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"app\", \"util\", \"tool\"]\nresolver = \"2\"\n",
    )
    .file(
        "ws/util/Cargo.toml",
        &manifest(
            "util",
            "memchr = \"2\"\nhex = { version = \"0.4\", optional = true }",
        ),
    )
    .file(
        "ws/tool/Cargo.toml",
        &manifest(
            "tool",
            "util = { path = \"../util\", features = [\"hex\"] }",
        ),
    )
    .file(
        "ws/tool/src/lib.rs",
        "pub fn t() -> usize { util::find() }\n",
    )
    .lock("ws");
    let doc = json(&sbom(&fx.path("ws"), "spdx"));
    assert_eq!(spdx_crates(&doc), names(COMPILED), "{doc:#}");
}

#[test]
fn cyclonedx_sbom_is_valid_1_6_and_lists_the_same_crates() {
    let fx = Fixture::new();
    workspace(&fx, "ws");
    let bytes = sbom(&fx.path("ws"), "cyclonedx");
    let doc = json(&bytes);
    assert_eq!(doc["specVersion"], "1.6");
    assert_eq!(cyclonedx_crates(&doc), names(COMPILED), "{doc:#}");
    assert_eq!(sbom(&fx.path("ws"), "cyclonedx"), bytes);
    let file = write(&fx, "app.cdx.json", &bytes);
    let Some(python) = on_path("python3") else {
        return;
    };
    let check = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
        sys.exit(f'invalid: {error!r}' if error else 0)\n";
    run(Command::new(python).args(["-c", check]).arg(&file));
}

/// `cargo gantry build` into an OCI layout; returns the image digest.
fn build_layout(dir: &Path, layout: &Path) -> String {
    let out = ok(
        gantry(
            dir,
            &[
                "build",
                "--oci-layout",
                layout.to_str().unwrap(),
                "--tag",
                "app:1",
            ],
        ),
        "cargo gantry build",
    );
    let printed = stdout(&out);
    printed.trim().rsplit('@').next().unwrap().to_owned()
}

#[test]
fn build_attaches_sboms_as_referrers_and_embeds_auditable_data() {
    let fx = Fixture::new();
    workspace(&fx, "ws");
    fx.file(
        "ws/app/Cargo.toml",
        &(fx.read("ws/app/Cargo.toml")
            + "\n[package.metadata.gantry]\nsbom = [\"spdx\", \"cyclonedx\"]\n"),
    );
    let layout = fx.path("layout");
    let digest = build_layout(&fx.path("ws"), &layout);

    // index.json: the image, then one artifact manifest per SBOM whose subject is the image
    // (and the provenance, checked in tests/it/provenance.rs).
    let index = json(&std::fs::read(layout.join("index.json")).unwrap());
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 4, "{index:#}");
    assert_eq!(manifests[0]["digest"], digest.as_str());
    let mut types = BTreeSet::new();
    let sboms = manifests[1..]
        .iter()
        .filter(|d| d["artifactType"] != "application/vnd.in-toto+json");
    for d in sboms {
        let hex = d["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        let manifest = json(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap());
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(manifest["artifactType"], d["artifactType"]);
        assert_eq!(manifest["subject"]["digest"], digest.as_str());
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(manifest["config"]["size"], 2);
        let layer = &manifest["layers"][0];
        let sbom_hex = layer["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        let sbom = json(&std::fs::read(layout.join("blobs/sha256").join(sbom_hex)).unwrap());
        let crates = if layer["mediaType"] == "application/spdx+json" {
            spdx_crates(&sbom)
        } else {
            cyclonedx_crates(&sbom)
        };
        assert_eq!(crates, names(COMPILED));
        types.insert(manifest["artifactType"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        types,
        names(&["application/spdx+json", "application/vnd.cyclonedx+json"])
    );

    let report = cargo_gantry::oci::fsck::check(&layout).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    if let Some(skopeo) = tool("/usr/bin/skopeo") {
        let inspect = run(Command::new(skopeo)
            .arg("inspect")
            .arg(format!("oci:{}:app:1", layout.display())));
        assert_eq!(json(inspect.as_bytes())["Digest"], digest.as_str());
    }
    if let Some(umoci) = tool("/usr/bin/umoci") {
        let listed = run(Command::new(&umoci).args(["ls", "--layout"]).arg(&layout));
        assert_eq!(listed.trim(), "app:1");
        let bundle = fx.path("bundle");
        run(Command::new(&umoci)
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:app:1", layout.display()))
            .arg(&bundle));
        assert!(bundle.join("rootfs/usr/local/bin/app").is_file());
    }

    // The binary carries the same crates in cargo-auditable's `.dep-v0` section.
    let binary = fx.path("ws/target/gantry/release/app");
    let Some(audit) = on_path("rust-audit-info") else {
        return;
    };
    let info = json(run(Command::new(audit).arg(&binary)).as_bytes());
    let embedded: BTreeSet<String> = info["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(embedded, names(COMPILED), "{info:#}");
    let root: Vec<&serde_json::Value> = info["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["root"] == true)
        .collect();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0]["name"], "app");
}

#[test]
fn auditable_image_digest_is_the_same_from_another_directory() {
    let (a, b) = (Fixture::new(), Fixture::new());
    workspace(&a, "ws");
    workspace(&b, "elsewhere/ws");
    std::fs::copy(a.path("ws/Cargo.lock"), b.path("elsewhere/ws/Cargo.lock")).unwrap();
    let first = build_layout(&a.path("ws"), &a.path("layout"));
    let second = build_layout(&b.path("elsewhere/ws"), &b.path("layout"));
    assert_eq!(first, second);
    assert_eq!(
        std::fs::read(a.path("layout/index.json")).unwrap(),
        std::fs::read(b.path("layout/index.json")).unwrap(),
        "the SBOM referrers are reproducible too"
    );
}

#[test]
fn auditable_false_leaves_the_section_out() {
    let fx = Fixture::new();
    workspace(&fx, "ws");
    fx.file(
        "ws/app/Cargo.toml",
        &(fx.read("ws/app/Cargo.toml") + "\n[package.metadata.gantry]\nauditable = false\n"),
    );
    build_layout(&fx.path("ws"), &fx.path("layout"));
    let binary = std::fs::read(fx.path("ws/target/gantry/release/app")).unwrap();
    let elf = object::File::parse(&*binary).unwrap();
    use object::{Object, ObjectSection};
    assert!(elf.sections().all(|s| s.name() != Ok(".dep-v0")));
}
