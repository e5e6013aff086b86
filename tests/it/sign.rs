//! `sign` and `verify` against a real registry on 127.0.0.1, and the signatures checked by a
//! verifier that shares no code with gantry: plain HTTP plus `openssl`, following cosign's
//! signature spec. (Debian's skopeo is built with sigstore disabled, so it cannot be a second.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cargo_gantry::oci::Digest;
use cargo_gantry::registry::{self, Access, ImageRef, Repository};
use serde_json::{Value, json};

use crate::registry::{client_options, options, random_image};
use crate::support::registry::{TestRegistry, run, tool};
use crate::support::{Fixture, gantry_cmd, stderr, stdout};

const OPENSSL: &str = "/usr/bin/openssl";

/// A registry with `team/app:1` pushed, and keys made by openssl in a temp dir.
struct Setup {
    reg: TestRegistry,
    dir: tempfile::TempDir,
    digest: Digest,
    openssl: PathBuf,
}

fn setup() -> Option<Setup> {
    let (reg, openssl) = (TestRegistry::start()?, tool(OPENSSL)?);
    let dir = tempfile::tempdir().unwrap();
    let s = Setup {
        digest: push(&reg, "team/app:1", 1),
        reg,
        dir,
        openssl,
    };
    s.keypair(
        "a",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    s.keypair(
        "b",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    s.keypair("ed", &["-algorithm", "ed25519"]);
    Some(s)
}

fn push(reg: &TestRegistry, name: &str, seed: u64) -> Digest {
    let target = ImageRef::parse(&format!("{}/{name}", reg.host())).unwrap();
    registry::push(&random_image(seed, &[2000]), &target, &options())
        .unwrap()
        .digest
}

impl Setup {
    /// `NAME.pem` and `NAME.pub.pem`.
    fn keypair(&self, name: &str, algorithm: &[&str]) {
        run(Command::new(&self.openssl)
            .arg("genpkey")
            .args(algorithm)
            .arg("-out")
            .arg(self.path(&format!("{name}.pem"))));
        run(Command::new(&self.openssl)
            .args(["pkey", "-pubout", "-in"])
            .arg(self.path(&format!("{name}.pem")))
            .arg("-out")
            .arg(self.path(&format!("{name}.pub.pem"))));
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.reg.host())
    }

    fn gantry(&self, args: &[&str]) -> Output {
        let mut cmd = gantry_cmd(self.dir.path());
        cmd.env_remove("GANTRY_SIGNING_KEY");
        cmd.args(args).output().unwrap()
    }

    fn sign(&self, key: &str, reference: &str) -> Output {
        let key = self.path(&format!("{key}.pem"));
        self.gantry(&["sign", "--key", key.to_str().unwrap(), reference])
    }

    fn verify(&self, key: &str, refs: &[&str]) -> Output {
        let key = self.path(&format!("{key}.pub.pem"));
        let mut args = vec!["verify", "--key", key.to_str().unwrap()];
        args.extend_from_slice(refs);
        self.gantry(&args)
    }

    fn repository(&self, name: &str) -> Repository {
        let image = ImageRef::parse(&self.image(name)).unwrap();
        Repository::new(
            &image,
            Access::PullPush,
            "testing".into(),
            &client_options(),
        )
        .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/v2/{path}", self.reg.host())
    }
}

fn sig_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn http_get(url: &str, accept: &str) -> Vec<u8> {
    let mut resp = ureq::get(url).header("accept", accept).call().unwrap();
    resp.body_mut().read_to_vec().unwrap()
}

/// Sign with gantry, then verify the way cosign's spec says, with no gantry code: fetch the
/// `.sig` manifest and the payload over plain HTTP, check the payload names the image digest,
/// and check the signature with `openssl`.
fn independent_check(s: &Setup, key: &str, verify: &[&str]) {
    let manifest: Value = serde_json::from_slice(&http_get(
        &s.url(&format!("team/app/manifests/{}", sig_tag(&s.digest))),
        "application/vnd.oci.image.manifest.v1+json",
    ))
    .unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload_digest = layer["digest"].as_str().unwrap();
    let payload = http_get(&s.url(&format!("team/app/blobs/{payload_digest}")), "*/*");
    use sha2::Digest as _;
    let hex = hex::encode(sha2::Sha256::digest(&payload));
    assert_eq!(payload_digest, format!("sha256:{hex}"));
    assert_eq!(layer["size"], payload.len());

    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        claims,
        json!({"critical": {
            "identity": {"docker-reference": s.image("team/app")},
            "image": {"docker-manifest-digest": s.digest.as_str()},
            "type": "cosign container image signature"},
          "optional": null})
    );

    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: Value = serde_json::from_slice(&http_get(
        &s.url(&format!("team/app/blobs/{config_digest}")),
        "*/*",
    ))
    .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"], json!([payload_digest]));

    let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    std::fs::write(s.path("payload"), &payload).unwrap();
    std::fs::write(s.path("sig"), STANDARD.decode(signature).unwrap()).unwrap();
    let out = Command::new(&s.openssl)
        .args(verify)
        .arg(s.path(&format!("{key}.pub.pem")))
        .args(verify_files(verify, &s.path("sig"), &s.path("payload")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl rejected the signature: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The file arguments after `-verify PUB` / `-inkey PUB` for each openssl mode.
fn verify_files(mode: &[&str], sig: &Path, payload: &Path) -> Vec<PathBuf> {
    let (sig, payload) = (sig.to_owned(), payload.to_owned());
    if mode[0] == "dgst" {
        vec!["-signature".into(), sig, payload]
    } else {
        vec!["-sigfile".into(), sig, "-in".into(), payload]
    }
}

#[test]
fn sign_then_verify_round_trips_and_prints_the_pinned_reference() {
    let Some(s) = setup() else { return };
    let tagged = s.image("team/app:1");
    let pinned = format!("{}@{}", s.image("team/app"), s.digest);
    let out = s.sign("a", &tagged);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), format!("{pinned}\n"));
    assert!(stderr(&out).contains("Signed"), "{}", stderr(&out));

    for reference in [&tagged, &pinned] {
        let out = s.verify("a", &[reference]);
        assert_exit(&out, 0);
        assert_eq!(stdout(&out), format!("{pinned}\n"));
    }
}

#[test]
fn an_independent_verifier_accepts_a_p256_signature() {
    let Some(s) = setup() else { return };
    assert_exit(&s.sign("a", &s.image("team/app:1")), 0);
    independent_check(&s, "a", &["dgst", "-sha256", "-verify"]);
}

#[test]
fn ed25519_round_trips_with_the_key_in_the_environment_and_openssl_agrees() {
    let Some(s) = setup() else { return };
    let pem = std::fs::read_to_string(s.path("ed.pem")).unwrap();
    let out = gantry_cmd(s.dir.path())
        .env("GANTRY_SIGNING_KEY", &pem)
        .args(["sign", &s.image("team/app:1")])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("ed25519"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(pem.lines().nth(1).unwrap()));
    assert_exit(&s.verify("ed", &[&s.image("team/app:1")]), 0);
    assert_exit(&s.verify("a", &[&s.image("team/app:1")]), 1);
    independent_check(
        &s,
        "ed",
        &["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey"],
    );
}

#[test]
fn a_wrong_key_is_rejected_with_exit_1_and_the_reason() {
    let Some(s) = setup() else { return };
    assert_exit(&s.sign("a", &s.image("team/app:1")), 0);
    let out = s.verify("b", &[&s.image("team/app:1")]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("has no valid signature by the key"), "{err}");
    assert!(err.contains("does not verify with the key"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_tampered_payload_is_rejected() {
    let Some(s) = setup() else { return };
    assert_exit(&s.sign("a", &s.image("team/app:1")), 0);
    let repo = s.repository("team/app");
    let tag = sig_tag(&s.digest);
    let mut manifest: Value =
        serde_json::from_slice(&repo.manifest(&tag).unwrap().unwrap().bytes).unwrap();
    let original = Digest::parse(manifest["layers"][0]["digest"].as_str().unwrap()).unwrap();
    // The same claims with one byte more (a space): still valid JSON naming the right digest,
    // but not the bytes that were signed.
    let mut payload = repo.blob(&original).unwrap();
    payload.insert(1, b' ');
    let tampered = repo.put_blob(&payload).unwrap();
    manifest["layers"][0]["digest"] = json!(tampered.as_str());
    manifest["layers"][0]["size"] = json!(payload.len());
    repo.put_manifest(
        &tag,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();

    let out = s.verify("a", &[&s.image("team/app:1")]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "signature `{tampered}`: the signature does not verify"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_signature_copied_to_another_image_is_rejected_for_its_digest() {
    let Some(s) = setup() else { return };
    assert_exit(&s.sign("a", &s.image("team/app:1")), 0);
    let other = push(&s.reg, "team/app:2", 2);
    let repo = s.repository("team/app");
    let manifest = repo.manifest(&sig_tag(&s.digest)).unwrap().unwrap();
    repo.put_manifest(
        &sig_tag(&other),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest.bytes,
    )
    .unwrap();

    let out = s.verify("a", &[&s.image("team/app:2")]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!("the payload signs the manifest `{}`", s.digest)),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_payload_must_name_the_repository_unless_any_reference_is_given() {
    let Some(s) = setup() else { return };
    assert_exit(&s.sign("a", &s.image("team/app:1")), 0);
    // The same image in another repository, with the signature copied over (as a mirror would).
    assert_eq!(push(&s.reg, "mirror/app:1", 1), s.digest);
    let (from, to) = (s.repository("team/app"), s.repository("mirror/app"));
    let manifest = from.manifest(&sig_tag(&s.digest)).unwrap().unwrap();
    let value: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    for d in [&value["config"]["digest"], &value["layers"][0]["digest"]] {
        let blob = from
            .blob(&Digest::parse(d.as_str().unwrap()).unwrap())
            .unwrap();
        to.put_blob(&blob).unwrap();
    }
    to.put_manifest(
        &sig_tag(&s.digest),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest.bytes,
    )
    .unwrap();

    let mirror = s.image("mirror/app:1");
    let out = s.verify("a", &[&mirror]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the payload names `{}`", s.image("team/app"))),
        "{err}"
    );
    assert!(err.contains("--any-reference"), "{err}");

    let key = s.path("a.pub.pem");
    let out = s.gantry(&[
        "verify",
        "--any-reference",
        "--key",
        key.to_str().unwrap(),
        &mirror,
    ]);
    assert_exit(&out, 0);
}

#[test]
fn a_missing_image_is_a_clear_error_for_sign_and_verify() {
    let Some(s) = setup() else { return };
    let missing = s.image("team/nothing:1");
    for out in [s.sign("a", &missing), s.verify("a", &[&missing])] {
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains(&format!("error: `{missing}` is not in the registry")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn an_unsigned_image_is_a_clear_error_naming_the_signature_tag() {
    let Some(s) = setup() else { return };
    let out = s.verify("a", &[&s.image("team/app:1")]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "is not signed: the registry has no `{}:{}`",
            s.image("team/app"),
            sig_tag(&s.digest)
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: sign it with `cargo gantry sign"),
        "{err}"
    );
}

#[test]
fn a_second_signer_is_appended_and_signing_again_changes_nothing() {
    let Some(s) = setup() else { return };
    let image = s.image("team/app:1");
    assert_exit(&s.sign("a", &image), 0);
    assert_exit(&s.sign("b", &image), 0);
    let again = s.sign("a", &image);
    assert_exit(&again, 0);
    assert!(
        stderr(&again).contains("already signed"),
        "{}",
        stderr(&again)
    );

    let raw = s
        .reg
        .raw_manifest(&format!("team/app:{}", sig_tag(&s.digest)));
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    assert_exit(&s.verify("a", &[&image]), 0);
    assert_exit(&s.verify("b", &[&image]), 0);
}

#[test]
fn verify_checks_every_reference_and_prints_those_that_verified() {
    let Some(s) = setup() else { return };
    push(&s.reg, "team/other:1", 3);
    assert_exit(&s.sign("a", &s.image("team/app:1")), 0);
    let out = s.verify("a", &[&s.image("team/other:1"), &s.image("team/app:1")]);
    assert_exit(&out, 1);
    assert_eq!(
        stdout(&out),
        format!("{}@{}\n", s.image("team/app"), s.digest)
    );
    assert!(stderr(&out).contains("is not signed"), "{}", stderr(&out));
}

#[test]
fn build_push_with_sign_key_signs_what_it_pushed() {
    let Some(s) = setup() else { return };
    let fx = Fixture::new();
    fx.bin_package("app", "signed-app", "", "hi");
    let reference = s.image("team/built:1");
    let key = s.path("a.pem");
    let out = gantry_cmd(&fx.path("app"))
        .args(["build", "--push", &reference, "--sign-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let pushed = stdout(&out).trim().to_owned();
    assert!(pushed.contains("@sha256:"), "{pushed}");
    assert!(stderr(&out).contains("Signed"), "{}", stderr(&out));
    let out = s.verify("a", &[&reference]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).trim(), pushed);
    // A wrong key is refused before anything is compiled.
    let out = gantry_cmd(&fx.path("app"))
        .args([
            "build",
            "--push",
            &reference,
            "--sign-key",
            "/no/such/key.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Compiling"), "{}", stderr(&out));
}
