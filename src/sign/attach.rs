//! Sign an image in a registry: the payload for its digest, signed, added as one more layer of
//! its `.sig` manifest.
//!
//! Like cosign, adding to an existing `.sig` manifest is read-modify-write: two signers at the
//! same moment can lose one signature. Signing is deterministic (RFC 6979 ECDSA, Ed25519), so
//! signing the same digest with the same key again finds its layer and changes nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::key::SigningKey;
use super::payload;
use super::store::{self, signature_tag};
use crate::error::{Error, Result};
use crate::oci::Digest;
use crate::registry::{Access, ClientOptions, ImageRef, Repository};

/// What signing did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// `REPO@sha256:…`, the image that was signed.
    pub image: ImageRef,
    /// `REPO:sha256-….sig`, where its signatures are.
    pub signatures: ImageRef,
    pub outcome: SignOutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignOutcome {
    /// A new layer was added to the `.sig` manifest (or the manifest created).
    Added,
    /// The `.sig` manifest already had this very signature: nothing was pushed.
    AlreadySigned,
}

/// Sign `image` (a tag, resolved to its manifest digest, or a digest that must exist).
pub fn sign(image: &ImageRef, key: &SigningKey, options: &ClientOptions) -> Result<Signed> {
    let repo = Repository::new(
        image,
        Access::PullPush,
        format!("signing `{image}`"),
        options,
    )?;
    let digest = resolve(&repo, image)?;
    attach(&repo, image, &digest, key)
}

/// Sign the manifest `digest` just pushed to `image`'s repository (what `build --push` calls;
/// the digest is not looked up again).
pub fn sign_pushed(
    options: &ClientOptions,
    image: &ImageRef,
    digest: &Digest,
    key: &SigningKey,
) -> Result<Signed> {
    let repo = Repository::new(
        image,
        Access::PullPush,
        format!("signing `{}`", image.with_digest(digest.clone())),
        options,
    )?;
    attach(&repo, image, digest, key)
}

/// The manifest digest `image` names; a user error when the registry does not have it.
pub(crate) fn resolve(repo: &Repository, image: &ImageRef) -> Result<Digest> {
    match repo.resolve(&image.manifest_reference())? {
        Some(digest) => Ok(digest),
        None => Err(
            Error::user(format!("`{image}` is not in the registry")).with_hint(
                "check the registry, repository and tag; push the image first, e.g. `cargo gantry build --push REF`",
            ),
        ),
    }
}

fn attach(
    repo: &Repository,
    image: &ImageRef,
    digest: &Digest,
    key: &SigningKey,
) -> Result<Signed> {
    let payload = payload::payload(image, digest);
    let signature = STANDARD.encode(key.sign(&payload));
    let payload_digest = Digest::of(&payload);
    let tag = signature_tag(digest);
    let signed = |outcome| Signed {
        image: image.with_digest(digest.clone()),
        signatures: ImageRef::parse(&format!("{}:{tag}", image.name())).expect("a valid tag"),
        outcome,
    };

    let existing = repo.manifest(&tag)?;
    let config = match &existing {
        Some(m) => {
            let present = store::layers(&m.bytes)?.iter().any(|l| {
                l.digest == payload_digest && l.signature.as_deref() == Some(signature.as_str())
            });
            if present {
                return Ok(signed(SignOutcome::AlreadySigned));
            }
            Some(repo.blob(&store::config_digest(&m.bytes)?)?)
        }
        None => None,
    };
    repo.put_blob(&payload)?;
    let update = store::append(
        existing
            .as_ref()
            .map(|m| m.bytes.as_slice())
            .zip(config.as_deref()),
        &payload_digest,
        payload.len() as u64,
        &signature,
    )?;
    repo.put_blob(&update.config)?;
    repo.put_manifest(&tag, &update.media_type, &update.manifest)?;
    Ok(signed(SignOutcome::Added))
}
