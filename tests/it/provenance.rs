//! SLSA provenance end to end: `build --push --sign-key` to a real registry on 127.0.0.1, the
//! referrers found through the fallback tag with plain HTTP, the DSSE signature checked with
//! `openssl` (no gantry code), and the same statement from the OCI layout that skopeo, umoci and
//! `oci::fsck` still accept.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::Digest as _;

use crate::registry::referrers::{another_tools_entry, fallback_index, manifest};
use crate::support::registry::{SKOPEO, TestRegistry, run, tool};
use crate::support::{Fixture, gantry_cmd, stderr, stdout};

const OPENSSL: &str = "/usr/bin/openssl";
const IN_TOTO: &str = "application/vnd.in-toto+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const EPOCH: &str = "1700000000";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn blob(host: &str, digest: &str) -> Vec<u8> {
    let mut resp = ureq::get(&format!("http://{host}/v2/team/app/blobs/{digest}"))
        .call()
        .unwrap();
    let bytes = resp.body_mut().read_to_vec().unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(&bytes)), digest);
    bytes
}

fn build(dir: &Path, args: &[&str]) -> Output {
    let out = gantry_cmd(dir)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("GANTRY_SIGNING_KEY")
        .arg("build")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The DSSE signature of `envelope` checked the way the DSSE spec says, with openssl: the
/// signature covers `DSSEv1 <len> <type> <len> <body>`.
fn openssl_verifies(openssl: &Path, public: &Path, envelope: &Value, scratch: &Path) -> Vec<u8> {
    let payload_type = envelope["payloadType"].as_str().unwrap();
    let body = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let mut pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    pae.extend_from_slice(&body);
    let sig = STANDARD
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    std::fs::write(scratch.join("pae"), &pae).unwrap();
    std::fs::write(scratch.join("sig"), &sig).unwrap();
    let out = Command::new(openssl)
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(scratch.join("sig"))
        .arg(scratch.join("pae"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl rejected the envelope: {}{}",
        stdout(&out),
        stderr(&out)
    );
    body
}

/// The provenance referrer's layer in an OCI layout.
fn layout_provenance(layout: &Path) -> Option<(Value, Vec<u8>)> {
    let read = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.strip_prefix("sha256:").unwrap()),
        )
        .unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["artifactType"] == IN_TOTO)?
        .clone();
    let m: Value = serde_json::from_slice(&read(entry["digest"].as_str().unwrap())).unwrap();
    let layer = read(m["layers"][0]["digest"].as_str().unwrap());
    Some((m, layer))
}

#[test]
fn pushed_provenance_is_signed_discoverable_and_names_the_image_its_lockfile_and_commit() {
    let (Some(reg), Some(openssl)) = (TestRegistry::start(), tool(OPENSSL)) else {
        return;
    };
    let host = reg.host();
    let fx = Fixture::new();
    fx.bin_package("app", "prov-app", "", "hi").lock("app");
    let commit = fx.git_commit("app");
    let lock_hex = sha256_hex(&std::fs::read(fx.path("app/Cargo.lock")).unwrap());
    let key = fx.path("key.pem");
    let public = fx.path("key.pub.pem");
    run(Command::new(&openssl)
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key));
    run(Command::new(&openssl)
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));

    let reference = format!("{host}/team/app:1");
    let layout = fx.path("layout");
    let args = [
        "--push",
        &reference,
        "--sign-key",
        key.to_str().unwrap(),
        "--oci-layout",
        layout.to_str().unwrap(),
    ];
    let out = build(&fx.path("app"), &args);
    let pushed = stdout(&out).trim().to_owned();
    let digest = pushed.rsplit_once('@').unwrap().1.to_owned();
    assert!(
        stderr(&out).contains(&format!("listed in `{}`", digest.replace(':', "-"))),
        "{}",
        stderr(&out)
    );

    // The fallback index lists the SBOM and the provenance; both refer to the image.
    let index = fallback_index(&host, "team/app", &digest);
    let entries = index["manifests"].as_array().unwrap().clone();
    let mut types: Vec<&str> = entries
        .iter()
        .map(|e| e["artifactType"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["application/spdx+json", IN_TOTO], "{index:#}");
    let mut provenance = None;
    for e in &entries {
        let m = manifest(&host, "team/app", e["digest"].as_str().unwrap());
        assert_eq!(m["subject"]["digest"], digest.as_str());
        if e["artifactType"] == IN_TOTO {
            assert_eq!(
                e["annotations"]["in-toto.io/predicate-type"],
                "https://slsa.dev/provenance/v1"
            );
            provenance = Some(m);
        }
    }
    let provenance = provenance.unwrap();
    let layer = &provenance["layers"][0];
    assert_eq!(layer["mediaType"], DSSE);
    let envelope_bytes = blob(&host, layer["digest"].as_str().unwrap());
    let envelope: Value = serde_json::from_slice(&envelope_bytes).unwrap();
    assert_eq!(envelope["payloadType"], IN_TOTO);
    let statement_bytes = openssl_verifies(&openssl, &public, &envelope, fx.root());

    let statement: Value = serde_json::from_slice(&statement_bytes).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["subject"][0]["name"], format!("{host}/team/app"));
    assert_eq!(
        format!(
            "sha256:{}",
            statement["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        digest
    );
    let def = &statement["predicate"]["buildDefinition"];
    assert_eq!(def["externalParameters"]["bin"], "prov-app");
    assert_eq!(def["externalParameters"]["profile"], "release");
    let deps = def["resolvedDependencies"].as_array().unwrap();
    let dep = |name: &str| {
        deps.iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` in {deps:#?}"))
            .clone()
    };
    assert_eq!(dep("Cargo.lock")["digest"]["sha256"], lock_hex.as_str());
    assert_eq!(dep("source")["digest"]["gitCommit"], commit.as_str());
    assert_eq!(dep("source")["annotations"]["dirty"], false);
    assert!(
        dep("rustc")["annotations"]["version"]
            .as_str()
            .unwrap()
            .starts_with("rustc ")
    );
    let meta = &statement["predicate"]["runDetails"]["metadata"];
    assert_eq!(meta["startedOn"], "2023-11-14T22:13:20Z");

    // The layout got the same envelope, and still reads as an image to every tool.
    let (m, layer) = layout_provenance(&layout).unwrap();
    assert_eq!(m["subject"]["digest"], digest.as_str());
    assert_eq!(layer, envelope_bytes);
    let report = cargo_gantry::oci::fsck::check(&layout).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    if let Some(skopeo) = tool(SKOPEO) {
        let inspect = run(Command::new(skopeo)
            .arg("inspect")
            .arg(format!("oci:{}:prov-app:0.1.0", layout.display())));
        let inspect: Value = serde_json::from_str(&inspect).unwrap();
        assert_eq!(inspect["Digest"], digest.as_str());
    }
    if let Some(umoci) = tool("/usr/bin/umoci") {
        let listed = run(Command::new(&umoci).args(["ls", "--layout"]).arg(&layout));
        assert_eq!(listed.trim(), "prov-app:0.1.0");
    }

    // Another tool lists its artifact; building and pushing again keeps it, and the same build
    // gives the same statement (and envelope) bytes: the index gains nothing else.
    let size = reg.raw_manifest(&format!("team/app@{digest}")).len();
    let theirs = another_tools_entry(
        &host,
        &cargo_gantry::oci::Digest::parse(&digest).unwrap(),
        size,
    );
    let again = build(&fx.path("app"), &args);
    assert_eq!(stdout(&again).trim(), pushed);
    let index = fallback_index(&host, "team/app", &digest);
    let list = index["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{index:#}");
    assert!(list.contains(&theirs), "{index:#}");
    for e in &entries {
        assert!(list.contains(e), "{e:#} lost: {index:#}");
    }
    assert_eq!(layout_provenance(&layout).unwrap().1, envelope_bytes);

    // `cargo gantry verify --provenance` finds and checks it too.
    let verify = |image: &str| {
        gantry_cmd(fx.root())
            .args(["verify", "--provenance", "--key"])
            .arg(&public)
            .arg(image)
            .output()
            .unwrap()
    };
    let out = verify(&reference);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), pushed);
    assert!(
        stderr(&out).contains("Verified provenance"),
        "{}",
        stderr(&out)
    );

    // `--provenance false`: only the SBOM, and `verify --provenance` says what is missing.
    let plain = fx.path("plain");
    let plain_ref = format!("{host}/team/plain:1");
    build(
        &fx.path("app"),
        &[
            "--provenance",
            "false",
            "--oci-layout",
            plain.to_str().unwrap(),
            "--push",
            &plain_ref,
            "--sign-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(layout_provenance(&plain).is_none());
    let out = verify(&plain_ref);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no provenance"),
        "{}",
        stderr(&out)
    );
}
