//! Verify an image's signatures in a registry, the way `cosign verify --key` does: at least one
//! layer of its `.sig` manifest must carry a signature by the key over a payload that names the
//! image's manifest digest.
//!
//! One check goes beyond cosign (whose spec says `docker-reference` is ignored): by default the
//! payload must also name the repository being verified, so a signature made for
//! `registry/team/app` does not vouch for the same bytes pushed as `registry/other`. Images copied
//! between registries keep payloads naming the old place; `ReferencePolicy::Any` accepts those.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::attach::resolve;
use super::key::VerifyingKey;
use super::payload::{COSIGN_TYPE, Claims};
use super::store::{self, SIMPLE_SIGNING, signature_tag};
use crate::error::{Error, Result};
use crate::registry::{Access, ClientOptions, ImageRef, Repository};

/// Whether the payload's `docker-reference` must name the image's repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReferencePolicy {
    #[default]
    MustMatch,
    Any,
}

/// A signature that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// `REPO@sha256:…`.
    pub image: ImageRef,
    /// The signed simple-signing payload, as stored.
    pub payload: Vec<u8>,
}

/// Why one signature layer did not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    NoSignature,
    BadBase64,
    WrongKey,
    NotAPayload(String),
    WrongType(String),
    WrongDigest(String),
    WrongReference(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::NoSignature => write!(f, "it has no `{}` annotation", store::SIGNATURE_ANNOTATION),
            Rejection::BadBase64 => f.write_str("its signature annotation is not base64"),
            Rejection::WrongKey => f.write_str(
                "the signature does not verify with the key (another key signed it, or the payload was changed)",
            ),
            Rejection::NotAPayload(why) => write!(f, "the payload is not simple-signing JSON: {why}"),
            Rejection::WrongType(t) => write!(f, "the payload's type is `{t}`, not `{COSIGN_TYPE}`"),
            Rejection::WrongDigest(d) => write!(f, "the payload signs the manifest `{d}`, not this one"),
            Rejection::WrongReference(r) => write!(f, "the payload names `{r}`, not this repository"),
        }
    }
}

/// Verify that `image` (a tag, resolved to its manifest digest, or a digest) has a valid
/// signature by `key`. A missing image, a missing `.sig` manifest and "no layer verified" are
/// user errors (exit 1); the last lists each layer and why it did not count.
pub fn verify(
    image: &ImageRef,
    key: &VerifyingKey,
    policy: ReferencePolicy,
    options: &ClientOptions,
) -> Result<Verified> {
    let repo = Repository::new(image, Access::Pull, format!("verifying `{image}`"), options)?;
    let digest = resolve(&repo, image)?;
    let pinned = image.with_digest(digest.clone());
    let tag = signature_tag(&digest);
    let Some(manifest) = repo.manifest(&tag)? else {
        return Err(Error::user(format!(
            "`{pinned}` is not signed: the registry has no `{}:{tag}`",
            image.name()
        ))
        .with_hint(format!(
            "sign it with `cargo gantry sign --key KEY.pem {image}`; a signature covers one digest, so a tag pushed again needs signing again"
        )));
    };
    let layers: Vec<_> = store::layers(&manifest.bytes)?
        .into_iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING)
        .collect();
    if layers.is_empty() {
        return Err(Error::user(format!(
            "`{pinned}` has no cosign signatures: `{}:{tag}` lists no `{SIMPLE_SIGNING}` layer",
            image.name()
        ))
        .with_hint(format!(
            "sign it with `cargo gantry sign --key KEY.pem {image}`"
        )));
    }
    let mut rejected = Vec::new();
    for layer in &layers {
        let Some(annotation) = &layer.signature else {
            rejected.push((layer.digest.clone(), Rejection::NoSignature));
            continue;
        };
        let Ok(signature) = STANDARD.decode(annotation.trim()) else {
            rejected.push((layer.digest.clone(), Rejection::BadBase64));
            continue;
        };
        let payload = repo.blob(&layer.digest)?;
        match judge(
            &payload,
            &signature,
            key,
            image,
            &digest.to_string(),
            policy,
        ) {
            Ok(()) => {
                return Ok(Verified {
                    image: pinned,
                    payload,
                });
            }
            Err(why) => rejected.push((layer.digest.clone(), why)),
        }
    }
    let only_references = rejected
        .iter()
        .all(|(_, r)| matches!(r, Rejection::WrongReference(_)));
    let reasons: Vec<String> = rejected
        .iter()
        .map(|(d, why)| format!("signature `{d}`: {why}"))
        .collect();
    let hint = if only_references {
        format!(
            "the signatures were made for another repository; if `{}` is a copy, pass `--any-reference`",
            image.name()
        )
    } else if rejected.iter().all(|(_, r)| *r == Rejection::WrongKey) {
        "check that the public key is the signer's (`openssl pkey -in key.pem -pubout`)".to_owned()
    } else {
        format!("sign it again with `cargo gantry sign --key KEY.pem {image}`")
    };
    Err(
        Error::user(format!("`{pinned}` has no valid signature by the key"))
            .caused_by(reasons.join("\n"))
            .with_hint(hint),
    )
}

/// The checks, in order: the signature over the bytes first; only a payload the key signed is
/// worth reading.
fn judge(
    payload: &[u8],
    signature: &[u8],
    key: &VerifyingKey,
    image: &ImageRef,
    digest: &str,
    policy: ReferencePolicy,
) -> std::result::Result<(), Rejection> {
    if !key.verify(payload, signature) {
        return Err(Rejection::WrongKey);
    }
    let claims = Claims::parse(payload).map_err(|e| Rejection::NotAPayload(e.to_string()))?;
    if claims.kind != COSIGN_TYPE {
        return Err(Rejection::WrongType(claims.kind));
    }
    if claims.manifest_digest != digest {
        return Err(Rejection::WrongDigest(claims.manifest_digest));
    }
    if policy == ReferencePolicy::MustMatch && !claims.names(image) {
        return Err(Rejection::WrongReference(claims.docker_reference));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Digest;
    use crate::sign::key::{KeyOrigin, SigningKey};
    use crate::sign::payload::payload;

    fn key() -> SigningKey {
        SigningKey::from_pem(include_str!("testdata/p256.pem"), &KeyOrigin::Env("TEST")).unwrap()
    }

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn each_claim_is_checked_only_once_the_signature_holds() {
        let key = key();
        let public = key.verifying_key();
        let app = image("ghcr.io/team/app:1");
        let digest = Digest::of(b"manifest");
        let d = digest.as_str();
        let signed = payload(&app, &digest);
        let sig = key.sign(&signed);
        let judge_as = |bytes: &[u8], sig: &[u8], img: &ImageRef, policy| {
            judge(bytes, sig, &public, img, d, policy)
        };
        assert_eq!(
            judge_as(&signed, &sig, &app, ReferencePolicy::MustMatch),
            Ok(())
        );
        assert_eq!(
            judge_as(b"{}", &sig, &app, ReferencePolicy::MustMatch),
            Err(Rejection::WrongKey)
        );

        let other_digest = payload(&app, &Digest::of(b"other"));
        assert_eq!(
            judge_as(
                &other_digest,
                &key.sign(&other_digest),
                &app,
                ReferencePolicy::Any
            ),
            Err(Rejection::WrongDigest(Digest::of(b"other").to_string()))
        );

        let mirror = image("ghcr.io/mirror/app:1");
        assert_eq!(
            judge_as(&signed, &sig, &mirror, ReferencePolicy::MustMatch),
            Err(Rejection::WrongReference("ghcr.io/team/app".into()))
        );
        assert_eq!(
            judge_as(&signed, &sig, &mirror, ReferencePolicy::Any),
            Ok(())
        );

        let typed = String::from_utf8(signed.clone()).unwrap().replace(
            "cosign container image signature",
            "atomic container signature",
        );
        assert_eq!(
            judge_as(
                typed.as_bytes(),
                &key.sign(typed.as_bytes()),
                &app,
                ReferencePolicy::Any
            ),
            Err(Rejection::WrongType("atomic container signature".into()))
        );
        assert!(matches!(
            judge_as(b"[]", &key.sign(b"[]"), &app, ReferencePolicy::Any),
            Err(Rejection::NotAPayload(_))
        ));
    }
}
