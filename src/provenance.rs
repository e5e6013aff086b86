//! SLSA provenance of an image: an in-toto v1 statement whose subject is the image manifest and
//! whose predicate (SLSA provenance v1) says how gantry built it, attached to the image as an
//! OCI 1.1 referrer like the SBOMs. Signed with the `--sign-key` key, the layer is the DSSE
//! envelope of the statement instead of the bare statement.
//!
//! ```text
//! buildType   https://github.com/cargo-gantry/gantry/build@v1
//!   externalParameters    what the user chose: bin, package, profile, features, all/no-default
//!                         features, target (the Rust triple), platform (os/arch), base
//!   internalParameters    gantryVersion
//!   resolvedDependencies  the source commit (gitCommit, `dirty` annotation), Cargo.lock
//!                         (sha256), the toolchain (sha256 of `rustc -vV`, its version line),
//!                         the base image (by digest), each present only when known
//! runDetails.builder.id   https://github.com/cargo-gantry/gantry/builder@v1
//! runDetails.metadata     invocationId: sha256 of subject + buildDefinition; startedOn and
//!                         finishedOn: SOURCE_DATE_EPOCH when set, else left out
//! ```
//!
//! Nothing in it depends on the clock, the checkout's path or the machine beyond the toolchain,
//! so the same source, lockfile and toolchain give the same bytes (and, signed, the same
//! envelope: both signature schemes are deterministic). The provenance is self-reported by the
//! build that made the image (SLSA Build L1): it says what gantry saw, it does not prove it.

use serde_json::{Map, Value, json};

use crate::cargo::{self, Toolchain};
use crate::error::{Error, Result};
use crate::image::Base;
use crate::oci::Artifact;
use crate::oci::Digest;
use crate::oci::image::{canonical_json, rfc3339};
use crate::project::Project;
use crate::resolve::Target;
use crate::settings::Profile;
use crate::sign::SigningKey;
use crate::sign::dsse;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What the parameters mean: the definition is in the README's "Provenance" section.
pub const BUILD_TYPE: &str = "https://github.com/cargo-gantry/gantry/build@v1";
pub const BUILDER_ID: &str = "https://github.com/cargo-gantry/gantry/builder@v1";
/// The artifact type of the referrer, signed or not (the in-toto payload type).
pub const IN_TOTO: &str = dsse::IN_TOTO;
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The annotation naming the predicate, so a reader can pick provenance from the referrers
/// list without fetching each one.
pub const PREDICATE_ANNOTATION: &str = "in-toto.io/predicate-type";

/// What the user chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameters {
    pub bin: String,
    pub package: String,
    /// `release`, `dev` or a custom profile's name.
    pub profile: String,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    /// The Rust target triple the binary was compiled for (the host's when none was given).
    pub target: String,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// `auto`, `scratch` or the base image reference as given.
    pub base: String,
}

/// The git commit of the checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub commit: String,
    /// Tracked files had uncommitted changes: the commit alone does not give the source.
    pub dirty: bool,
    /// Where the repository lives (`org.opencontainers.image.source`), when known.
    pub uri: Option<String>,
}

impl Source {
    /// From `Project::revision`: `<sha>` or `<sha>-dirty`.
    pub fn from_revision(revision: &str, uri: Option<String>) -> Source {
        let (commit, dirty) = match revision.strip_suffix("-dirty") {
            Some(commit) => (commit, true),
            None => (revision, false),
        };
        Source {
            commit: commit.to_owned(),
            dirty,
            uri,
        }
    }
}

/// Everything the statement says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The image's name (`registry/repository`, or the name of its tag).
    pub name: String,
    /// The image manifest's digest.
    pub digest: Digest,
    pub parameters: Parameters,
    pub source: Option<Source>,
    /// The digest of Cargo.lock's bytes.
    pub lockfile: Option<Digest>,
    /// `rustc -vV` as printed.
    pub rustc: Option<String>,
    /// The base image: its reference and manifest digest.
    pub base_image: Option<(String, Digest)>,
    /// SOURCE_DATE_EPOCH, when set.
    pub time: Option<u64>,
}

impl Provenance {
    /// The provenance of `target`'s image `digest`, named `name`, built on `base`.
    pub fn of_target(
        target: &Target,
        name: String,
        digest: Digest,
        base: &Base,
        found: Found,
    ) -> Result<Provenance> {
        let c = &target.cargo;
        let host = found
            .rustc
            .as_deref()
            .and_then(|v| v.lines().find_map(|l| l.strip_prefix("host: ")))
            .map(|h| h.trim().to_owned());
        let base_image = match base {
            Base::Image {
                image, reference, ..
            } => Some((reference.clone(), image.digest()?)),
            Base::Auto | Base::Scratch => None,
        };
        let uri = target
            .image_labels()
            .get("org.opencontainers.image.source")
            .cloned();
        Ok(Provenance {
            name,
            digest,
            parameters: Parameters {
                bin: target.bin.clone(),
                package: target.package.clone(),
                profile: match &c.profile {
                    Profile::Dev => "dev".to_owned(),
                    Profile::Release => "release".to_owned(),
                    Profile::Named(n) => n.clone(),
                },
                features: c.features.clone(),
                all_features: c.all_features,
                no_default_features: c.no_default_features,
                target: c.target.clone().or(host).unwrap_or_default(),
                platform: target.platform.platform.to_owned(),
                base: target.image.base.clone(),
            },
            source: target
                .revision
                .as_deref()
                .map(|r| Source::from_revision(r, uri)),
            lockfile: found.lockfile,
            rustc: found.rustc,
            base_image,
            time: found.time,
        })
    }
}

/// The provenance carries a time only when SOURCE_DATE_EPOCH is set: never the clock.
pub fn statement_time(created: u64) -> Option<u64> {
    std::env::var(crate::settings::env::SOURCE_DATE_EPOCH)
        .is_ok_and(|v| !v.trim().is_empty())
        .then_some(created)
}

/// What the build found out besides the target: read after the compile, which may have
/// written Cargo.lock.
#[derive(Clone, Debug, Default)]
pub struct Found {
    /// `rustc -vV`.
    pub rustc: Option<String>,
    /// The digest of Cargo.lock.
    pub lockfile: Option<Digest>,
    /// SOURCE_DATE_EPOCH, when set.
    pub time: Option<u64>,
}

impl Found {
    /// The toolchain `project` builds with and its Cargo.lock, read after the compile.
    pub fn read(project: &Project, time: Option<u64>) -> Result<Found> {
        let lock = project.root.join("Cargo.lock");
        let lockfile = match std::fs::read(&lock) {
            Ok(bytes) => Some(Digest::of(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read", &lock, e)),
        };
        Ok(Found {
            rustc: Some(cargo::rustc_version(&project.root, Toolchain::Inherited)?),
            lockfile,
            time,
        })
    }
}

fn sha256(digest: &Digest) -> Value {
    json!({ "sha256": digest.hex() })
}

impl Provenance {
    /// The in-toto statement, canonical JSON (sorted keys, no whitespace).
    pub fn statement(&self) -> Result<Vec<u8>> {
        let p = &self.parameters;
        let build_definition = json!({
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "bin": p.bin,
                "package": p.package,
                "profile": p.profile,
                "features": p.features,
                "allFeatures": p.all_features,
                "noDefaultFeatures": p.no_default_features,
                "target": p.target,
                "platform": p.platform,
                "base": p.base,
            },
            "internalParameters": { "gantryVersion": env!("CARGO_PKG_VERSION") },
            "resolvedDependencies": self.dependencies(),
        });
        let subject = json!([{ "name": self.name, "digest": sha256(&self.digest) }]);
        // Derived from what was built and how: the same build, the same id.
        let invocation = Digest::of(&canonical_json(
            &json!({ "subject": subject, "buildDefinition": build_definition }),
        )?);
        let mut metadata = Map::new();
        metadata.insert("invocationId".into(), json!(invocation.as_str()));
        if let Some(t) = self.time {
            metadata.insert("startedOn".into(), json!(rfc3339(t)));
            metadata.insert("finishedOn".into(), json!(rfc3339(t)));
        }
        canonical_json(&json!({
            "_type": STATEMENT_TYPE,
            "subject": subject,
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "buildDefinition": build_definition,
                "runDetails": {
                    "builder": {
                        "id": BUILDER_ID,
                        "version": { "cargo-gantry": env!("CARGO_PKG_VERSION") },
                    },
                    "metadata": metadata,
                },
            },
        }))
    }

    fn dependencies(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(s) = &self.source {
            let mut d = json!({
                "name": "source",
                "digest": { "gitCommit": s.commit },
                "annotations": { "dirty": s.dirty },
            });
            if let Some(uri) = &s.uri {
                d["uri"] = json!(format!("git+{uri}"));
            }
            out.push(d);
        }
        if let Some(lock) = &self.lockfile {
            out.push(json!({ "name": "Cargo.lock", "digest": sha256(lock) }));
        }
        if let Some(rustc) = &self.rustc {
            let release = rustc
                .lines()
                .find_map(|l| l.strip_prefix("release: "))
                .unwrap_or_default()
                .trim();
            let mut d = json!({
                "name": "rustc",
                "digest": sha256(&Digest::of(rustc.as_bytes())),
                "annotations": { "version": rustc.lines().next().unwrap_or_default().trim() },
            });
            if !release.is_empty() {
                d["uri"] = json!(format!("pkg:generic/rustc@{release}"));
            }
            out.push(d);
        }
        if let Some((reference, digest)) = &self.base_image {
            out.push(json!({ "name": "base", "uri": reference, "digest": sha256(digest) }));
        }
        out
    }

    /// The referrer to attach: the statement, or with `key` its signed DSSE envelope.
    pub fn artifact(&self, key: Option<&SigningKey>) -> Result<Artifact> {
        let statement = self.statement()?;
        let (media_type, data) = match key {
            None => (IN_TOTO, statement),
            Some(key) => (
                DSSE_ENVELOPE,
                canonical_json(&dsse::envelope(IN_TOTO, &statement, key))?,
            ),
        };
        Ok(Artifact {
            artifact_type: IN_TOTO.to_owned(),
            media_type: media_type.to_owned(),
            data,
            annotations: vec![(PREDICATE_ANNOTATION.to_owned(), PREDICATE_TYPE.to_owned())],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::KeyOrigin;

    fn provenance() -> Provenance {
        Provenance {
            name: "127.0.0.1:5000/team/app".into(),
            digest: Digest::of(b"manifest"),
            parameters: Parameters {
                bin: "app".into(),
                package: "app".into(),
                profile: "release".into(),
                features: vec!["fast".into()],
                all_features: false,
                no_default_features: true,
                target: "x86_64-unknown-linux-gnu".into(),
                platform: "linux/amd64".into(),
                base: "auto".into(),
            },
            source: Some(Source::from_revision("abc123-dirty", None)),
            lockfile: Some(Digest::of(b"lock")),
            rustc: Some("rustc 1.95.0 (59807616e 2026-01-01)\nbinary: rustc\nrelease: 1.95.0\nhost: x86_64-unknown-linux-gnu\n".into()),
            base_image: None,
            time: None,
        }
    }

    #[test]
    fn the_statement_is_in_toto_v1_with_slsa_v1_provenance() {
        let p = provenance();
        let s: Value = serde_json::from_slice(&p.statement().unwrap()).unwrap();
        assert_eq!(s["_type"], STATEMENT_TYPE);
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        assert_eq!(s["subject"][0]["name"], "127.0.0.1:5000/team/app");
        assert_eq!(s["subject"][0]["digest"]["sha256"], p.digest.hex());
        let def = &s["predicate"]["buildDefinition"];
        assert_eq!(def["buildType"], BUILD_TYPE);
        assert_eq!(def["externalParameters"]["features"][0], "fast");
        assert_eq!(def["externalParameters"]["noDefaultFeatures"], true);
        let deps = def["resolvedDependencies"].as_array().unwrap();
        assert_eq!(deps[0]["digest"]["gitCommit"], "abc123");
        assert_eq!(deps[0]["annotations"]["dirty"], true);
        assert_eq!(deps[1]["digest"]["sha256"], Digest::of(b"lock").hex());
        assert_eq!(deps[2]["uri"], "pkg:generic/rustc@1.95.0");
        assert_eq!(
            deps[2]["annotations"]["version"],
            "rustc 1.95.0 (59807616e 2026-01-01)"
        );
        let meta = &s["predicate"]["runDetails"]["metadata"];
        assert!(
            meta.get("startedOn").is_none(),
            "no time without SOURCE_DATE_EPOCH"
        );
        assert!(
            meta["invocationId"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert_eq!(s["predicate"]["runDetails"]["builder"]["id"], BUILDER_ID);
    }

    #[test]
    fn the_same_build_gives_the_same_bytes_and_another_build_another_invocation() {
        let p = provenance();
        assert_eq!(p.statement().unwrap(), provenance().statement().unwrap());
        let mut timed = provenance();
        timed.time = Some(86_400);
        let s: Value = serde_json::from_slice(&timed.statement().unwrap()).unwrap();
        let meta = &s["predicate"]["runDetails"]["metadata"];
        assert_eq!(meta["startedOn"], "1970-01-02T00:00:00Z");
        assert_eq!(meta["finishedOn"], "1970-01-02T00:00:00Z");
        let id = |p: &Provenance| {
            let s: Value = serde_json::from_slice(&p.statement().unwrap()).unwrap();
            s["predicate"]["runDetails"]["metadata"]["invocationId"].clone()
        };
        let mut other = provenance();
        other.parameters.profile = "dev".into();
        assert_ne!(id(&p), id(&other));
        assert_eq!(id(&p), id(&timed), "the time is not part of what was built");
    }

    #[test]
    fn signed_the_layer_is_a_dsse_envelope_of_the_statement() {
        let key = SigningKey::from_pem(
            include_str!("sign/testdata/ed25519.pem"),
            &KeyOrigin::Env("TEST"),
        )
        .unwrap();
        let p = provenance();
        let plain = p.artifact(None).unwrap();
        assert_eq!(plain.media_type, IN_TOTO);
        assert_eq!(plain.artifact_type, IN_TOTO);
        assert_eq!(plain.data, p.statement().unwrap());
        let signed = p.artifact(Some(&key)).unwrap();
        assert_eq!(signed.media_type, DSSE_ENVELOPE);
        assert_eq!(signed.artifact_type, IN_TOTO);
        let envelope: dsse::Envelope = serde_json::from_slice(&signed.data).unwrap();
        assert_eq!(envelope.payload_type, IN_TOTO);
        assert_eq!(
            envelope.verify(&key.verifying_key()).unwrap(),
            p.statement().unwrap()
        );
        assert_eq!(p.artifact(Some(&key)).unwrap().data, signed.data);
    }
}
