//! Verify an image's signed provenance: among its OCI 1.1 referrers (the registry's list, or the
//! fallback tag), an in-toto artifact whose manifest's `subject` is the image, whose layer is a
//! DSSE envelope that verifies with the key, and whose statement names the image's manifest
//! digest among its subjects.

use serde_json::Value;

use super::attach::resolve;
use super::dsse::{Envelope, IN_TOTO};
use super::key::VerifyingKey;
use crate::error::{Error, Result};
use crate::oci::Digest;
use crate::registry::{Access, ClientOptions, ImageRef, Repository, referrers_of};

const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

/// A statement that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedStatement {
    /// `REPO@sha256:…`.
    pub image: ImageRef,
    /// The referrer's manifest.
    pub manifest: Digest,
    pub predicate_type: String,
    /// The statement, as signed.
    pub statement: Vec<u8>,
}

/// Verify that `image` has an in-toto statement about it, signed by `key` (what
/// `build --sign-key` attaches as provenance).
pub fn verify_attestation(
    image: &ImageRef,
    key: &VerifyingKey,
    options: &ClientOptions,
) -> Result<VerifiedStatement> {
    let repo = Repository::new(
        image,
        Access::Pull,
        format!("verifying the provenance of `{image}`"),
        options,
    )?;
    let digest = resolve(&repo, image)?;
    let pinned = image.with_digest(digest.clone());
    let candidates: Vec<_> = referrers_of(&repo, &digest)?
        .into_iter()
        .filter(|r| r.artifact_type.as_deref() == Some(IN_TOTO))
        .collect();
    if candidates.is_empty() {
        return Err(Error::user(format!(
            "`{pinned}` has no provenance: none of its referrers is an `{IN_TOTO}` artifact"
        ))
        .with_hint(
            "push it with `cargo gantry build --push REF --sign-key KEY.pem` (provenance is on unless `provenance = false`)",
        ));
    }
    let mut rejected = Vec::new();
    for candidate in &candidates {
        let Some(manifest) = repo.manifest(candidate.digest.as_str())? else {
            rejected.push((
                candidate.digest.clone(),
                "the manifest is missing".to_owned(),
            ));
            continue;
        };
        match judge(&repo, &manifest.bytes, &digest, key) {
            Ok((predicate_type, statement)) => {
                return Ok(VerifiedStatement {
                    image: pinned,
                    manifest: candidate.digest.clone(),
                    predicate_type,
                    statement,
                });
            }
            Err(why) => rejected.push((candidate.digest.clone(), why)),
        }
    }
    let mut err = Error::user(format!("`{pinned}` has no provenance signed by the key"));
    for (d, why) in rejected {
        err = err.caused_by(format!("attestation `{d}`: {why}"));
    }
    Err(err.with_hint(
        "check that the key is the one `build --sign-key` used; an unsigned statement is attached when no key was given",
    ))
}

/// The predicate type and statement of one referrer manifest, or why it does not count.
fn judge(
    repo: &Repository,
    manifest: &[u8],
    subject: &Digest,
    key: &VerifyingKey,
) -> std::result::Result<(String, Vec<u8>), String> {
    let m: Value = serde_json::from_slice(manifest).map_err(|e| format!("not JSON: {e}"))?;
    let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    if text(&m, "/subject/digest").as_deref() != Some(subject.as_str()) {
        return Err("its `subject` is another manifest".into());
    }
    let media_type = text(&m, "/layers/0/mediaType").unwrap_or_default();
    if media_type != DSSE_ENVELOPE {
        return Err(format!(
            "its layer is `{media_type}`, not a signed `{DSSE_ENVELOPE}`"
        ));
    }
    let layer = text(&m, "/layers/0/digest")
        .and_then(|d| Digest::parse(&d).ok())
        .ok_or("its layer has no digest")?;
    let bytes = repo.blob(&layer).map_err(|e| e.message().to_owned())?;
    let envelope: Envelope =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if envelope.payload_type != IN_TOTO {
        return Err(format!(
            "the envelope's payload is `{}`",
            envelope.payload_type
        ));
    }
    let statement = envelope
        .verify(key)
        .map_err(|_| "the envelope's signature does not verify with the key".to_owned())?;
    let s: Value = serde_json::from_slice(&statement)
        .map_err(|e| format!("the statement is not JSON: {e}"))?;
    let names_subject = s["subject"].as_array().is_some_and(|subjects| {
        subjects
            .iter()
            .any(|x| x.pointer("/digest/sha256").and_then(Value::as_str) == Some(subject.hex()))
    });
    if !names_subject {
        return Err("the signed statement is about another digest".into());
    }
    Ok((text(&s, "/predicateType").unwrap_or_default(), statement))
}
