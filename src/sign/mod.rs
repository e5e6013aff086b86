//! Signatures: sign images in a registry the way cosign does, verify them, and wrap in-toto
//! statements in signed DSSE envelopes.
//!
//! ```text
//! key::signing_key(--key, GANTRY_SIGNING_KEY) -> SigningKey    PKCS#8 PEM: ECDSA P-256, Ed25519
//! VerifyingKey::read(PUB.pem)                                  PKIX PEM
//! payload::payload(&ImageRef, &Digest) -> Vec<u8>              simple-signing JSON, the signed bytes
//! sign(&ImageRef, &SigningKey, &ClientOptions) -> Signed       tag -> digest, then sign_pushed
//! sign_pushed(&ClientOptions, &ImageRef, &Digest, &SigningKey) one more layer on `sha256-<hex>.sig`
//! verify(&ImageRef, &VerifyingKey, ReferencePolicy, ..)        -> Verified, or why not
//! dsse::envelope(type, body, &SigningKey) -> Envelope          PAE-signed, for attestations
//! verify_attestation(&ImageRef, &VerifyingKey, ..)             a signed in-toto referrer of the image
//! ```
//!
//! The formats follow cosign's signature spec, so `cosign verify --key` accepts what `sign`
//! writes and `verify` accepts what `cosign sign --key` writes. The registry side is
//! `registry::Repository`; this module knows no HTTP.

mod attach;
mod attestation;
mod check;
pub mod dsse;
pub mod key;
pub mod payload;
pub mod store;

pub use attach::{SignOutcome, Signed, sign, sign_pushed};
pub use attestation::{VerifiedStatement, verify_attestation};
pub use check::{ReferencePolicy, Rejection, Verified, verify};
pub use key::{Algorithm, KeyOrigin, SigningKey, VerifyingKey, signing_key};
