//! Keys: a private key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, or SEC1
//! `-----BEGIN EC PRIVATE KEY-----` for P-256), a public key from a PKIX PEM
//! (`-----BEGIN PUBLIC KEY-----`). ECDSA P-256 with SHA-256 (what cosign requires) and Ed25519.
//!
//! The private key never leaves this module: no `Debug`, `Display` or error shows its bytes, and
//! errors about PEM text passed in an environment variable name the variable, not its value.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::der::{Decode as _, Document, SecretDocument};
use p256::pkcs8::spki::DecodePublicKey as _;
use p256::pkcs8::{ObjectIdentifier, PrivateKeyInfoRef, SubjectPublicKeyInfoRef};

use crate::error::{Error, Result};
use crate::settings::env;

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

const MAKE_KEY: &str = "make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem` (or `-algorithm ed25519`) and its public half with `openssl pkey -in key.pem -pubout -out pub.pem`";

/// The signature schemes gantry signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA on P-256 over the SHA-256 of the message; signatures ASN.1 DER. cosign's default.
    EcdsaP256Sha256,
    /// Ed25519 over the message itself; signatures 64 raw bytes.
    Ed25519,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::Ed25519 => "ed25519",
        })
    }
}

/// Where a key came from, for messages: a file, or PEM text in an environment variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    File(std::path::PathBuf),
    Env(&'static str),
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::File(p) => write!(f, "`{}`", p.display()),
            KeyOrigin::Env(name) => write!(f, "the PEM text in `{name}`"),
        }
    }
}

/// A private key. Debug-printing it shows the algorithm only.
pub enum SigningKey {
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <private>)", self.algorithm())
    }
}

/// A public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyingKey {
    EcdsaP256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// The signing key of a command: `--key FILE` if given, else `GANTRY_SIGNING_KEY`, which holds
/// either the PEM text itself (what CI secret stores hand out) or a path to it. A value that
/// contains `-----BEGIN` is PEM text; anything else is a path.
pub fn signing_key(flag: Option<&Path>, env_value: Option<String>) -> Result<SigningKey> {
    match (flag, env_value.filter(|v| !v.trim().is_empty())) {
        (Some(path), _) => SigningKey::read(path),
        (None, Some(value)) if value.contains("-----BEGIN") => {
            SigningKey::from_pem(&value, &KeyOrigin::Env(env::SIGNING_KEY))
        }
        (None, Some(path)) => SigningKey::read(Path::new(path.trim())),
        (None, None) => Err(Error::user("no signing key given").with_hint(format!(
            "pass `--key KEY.pem`, or set `{}` to the PEM text or a path to it",
            env::SIGNING_KEY
        ))),
    }
}

fn read_pem(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        let err = Error::user(format!("failed to read the key `{}`", path.display())).caused_by(e);
        err.with_hint(format!(
            "check the path given with `--key` or in `{}`",
            env::SIGNING_KEY
        ))
    })?;
    // A key file that is not text is not PEM; say so without echoing any of it.
    String::from_utf8(bytes).map_err(|_| not_pem(&KeyOrigin::File(path.to_owned())))
}

fn not_pem(origin: &KeyOrigin) -> Error {
    Error::user(format!("{origin} is not a PEM key")).with_hint(format!(
        "gantry reads PEM files (`-----BEGIN PRIVATE KEY-----`, `-----BEGIN PUBLIC KEY-----`); {MAKE_KEY}"
    ))
}

/// The label of the first PEM block (`PRIVATE KEY` of `-----BEGIN PRIVATE KEY-----`).
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let len = text[start..].find("-----")?;
    Some(&text[start..start + len])
}

/// The one PEM block starting at the first `-----BEGIN` (text before it is ignored, as openssl
/// does with comments).
fn pem_block(text: &str) -> &str {
    let start = text.find("-----BEGIN").unwrap_or(0);
    &text[start..]
}

fn unsupported(origin: &KeyOrigin, what: &str) -> Error {
    Error::user(format!(
        "{origin} is {what}, which gantry does not sign or verify with"
    ))
    .with_hint(format!("use an ECDSA P-256 or an Ed25519 key; {MAKE_KEY}"))
}

fn malformed(origin: &KeyOrigin, what: &str, cause: impl fmt::Display) -> Error {
    // The cause is the decoder's complaint (a tag, a length), never key material.
    Error::user(format!("{origin} is not a valid {what}"))
        .caused_by(cause.to_string())
        .with_hint(format!(
            "check that the file is complete and unmodified; {MAKE_KEY}"
        ))
}

impl SigningKey {
    pub fn read(path: &Path) -> Result<SigningKey> {
        SigningKey::from_pem(&read_pem(path)?, &KeyOrigin::File(path.to_owned()))
    }

    pub fn from_pem(text: &str, origin: &KeyOrigin) -> Result<SigningKey> {
        let Some(label) = pem_label(text) else {
            return Err(not_pem(origin));
        };
        match label {
            "PRIVATE KEY" => {}
            "EC PRIVATE KEY" => {
                let (_, doc) = SecretDocument::from_pem(pem_block(text))
                    .map_err(|e| malformed(origin, "PEM block", e))?;
                let secret = p256::SecretKey::from_sec1_der(doc.as_bytes())
                    .map_err(|e| malformed(origin, "P-256 private key (SEC1)", e))?;
                return Ok(SigningKey::EcdsaP256(secret.into()));
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(Error::user(format!("{origin} is an encrypted private key")).with_hint(format!(
                    "gantry reads unencrypted PKCS#8 keys; keep the key in a secret store and pass its PEM text in `{}`, or decrypt it to a file only you can read: `openssl pkcs8 -in KEY -out PLAIN.pem`",
                    env::SIGNING_KEY
                )));
            }
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                return Err(Error::user(format!("{origin} is a cosign-encrypted key")).with_hint(
                    "gantry reads unencrypted PKCS#8 PEM keys, not cosign's own format; make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem` (cosign signs and verifies with such keys too)",
                ));
            }
            "RSA PRIVATE KEY" => return Err(unsupported(origin, "an RSA key")),
            "PUBLIC KEY" => {
                return Err(Error::user(format!(
                    "{origin} is a public key; signing needs the private key"
                ))
                .with_hint("pass the private key (`-----BEGIN PRIVATE KEY-----`) to `sign`, the public one to `verify`"));
            }
            other => {
                return Err(
                    Error::user(format!("{origin} holds a `{other}`, not a private key"))
                        .with_hint(format!("gantry reads PKCS#8 PEM private keys; {MAKE_KEY}")),
                );
            }
        }
        let (_, doc) = SecretDocument::from_pem(pem_block(text))
            .map_err(|e| malformed(origin, "PEM block", e))?;
        let info = PrivateKeyInfoRef::from_der(doc.as_bytes())
            .map_err(|e| malformed(origin, "PKCS#8 private key", e))?;
        let oid = info.algorithm.oid;
        if oid == OID_ED25519 {
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(doc.as_bytes())
                .map_err(|e| malformed(origin, "Ed25519 private key", e))?;
            Ok(SigningKey::Ed25519(key))
        } else if oid == OID_EC_PUBLIC_KEY {
            let curve = info.algorithm.parameters_oid().ok();
            if curve != Some(OID_P256) {
                return Err(unsupported(origin, &curve_name(curve)));
            }
            let secret = p256::SecretKey::from_pkcs8_der(doc.as_bytes())
                .map_err(|e| malformed(origin, "P-256 private key", e))?;
            Ok(SigningKey::EcdsaP256(secret.into()))
        } else {
            Err(unsupported(origin, &algorithm_name(oid)))
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
            SigningKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The signature over `message`: ASN.1 DER for ECDSA (deterministic, RFC 6979), 64 bytes
    /// for Ed25519.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::EcdsaP256(k) => {
                let sig: p256::ecdsa::DerSignature = k.sign(message);
                sig.as_bytes().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::EcdsaP256(k) => VerifyingKey::EcdsaP256(*k.verifying_key()),
            SigningKey::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()),
        }
    }
}

impl VerifyingKey {
    pub fn read(path: &Path) -> Result<VerifyingKey> {
        VerifyingKey::from_pem(&read_pem(path)?, &KeyOrigin::File(path.to_owned()))
    }

    pub fn from_pem(text: &str, origin: &KeyOrigin) -> Result<VerifyingKey> {
        let Some(label) = pem_label(text) else {
            return Err(not_pem(origin));
        };
        match label {
            "PUBLIC KEY" => {}
            l if l.contains("PRIVATE KEY") => {
                return Err(Error::user(format!(
                    "{origin} is a private key; verifying takes the public key"
                ))
                .with_hint("derive it with `openssl pkey -in key.pem -pubout -out pub.pem` and share only that"));
            }
            "RSA PUBLIC KEY" => return Err(unsupported(origin, "an RSA key")),
            other => {
                return Err(
                    Error::user(format!("{origin} holds a `{other}`, not a public key"))
                        .with_hint("pass a PKIX public key (`-----BEGIN PUBLIC KEY-----`), e.g. cosign's `cosign.pub`"),
                );
            }
        }
        let (_, doc) =
            Document::from_pem(pem_block(text)).map_err(|e| malformed(origin, "PEM block", e))?;
        let info = SubjectPublicKeyInfoRef::from_der(doc.as_bytes())
            .map_err(|e| malformed(origin, "PKIX public key", e))?;
        let oid = info.algorithm.oid;
        if oid == OID_ED25519 {
            let key = ed25519_dalek::VerifyingKey::from_public_key_der(doc.as_bytes())
                .map_err(|e| malformed(origin, "Ed25519 public key", e))?;
            Ok(VerifyingKey::Ed25519(key))
        } else if oid == OID_EC_PUBLIC_KEY {
            let curve = info.algorithm.parameters_oid().ok();
            if curve != Some(OID_P256) {
                return Err(unsupported(origin, &curve_name(curve)));
            }
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(doc.as_bytes())
                .map_err(|e| malformed(origin, "P-256 public key", e))?;
            Ok(VerifyingKey::EcdsaP256(key))
        } else {
            Err(unsupported(origin, &algorithm_name(oid)))
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            VerifyingKey::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
            VerifyingKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Whether `signature` (DER for ECDSA, 64 bytes for Ed25519) is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            VerifyingKey::EcdsaP256(k) => p256::ecdsa::DerSignature::try_from(signature)
                .is_ok_and(|sig| k.verify(message, &sig).is_ok()),
            VerifyingKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| k.verify(message, &sig).is_ok()),
        }
    }
}

fn curve_name(curve: Option<ObjectIdentifier>) -> String {
    match curve.map(|c| c.to_string()).as_deref() {
        Some("1.3.132.0.34") => "a P-384 key".to_owned(),
        Some("1.3.132.0.35") => "a P-521 key".to_owned(),
        Some("1.3.132.0.10") => "a secp256k1 key".to_owned(),
        Some(other) => format!("an EC key on curve `{other}`"),
        None => "an EC key without a named curve".to_owned(),
    }
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    if oid == OID_RSA {
        return "an RSA key".to_owned();
    }
    match oid.to_string().as_str() {
        "1.3.101.113" => "an Ed448 key".to_owned(),
        "1.2.840.10040.4.1" => "a DSA key".to_owned(),
        other => format!("a key of algorithm `{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256: &str = include_str!("testdata/p256.pem");
    const P256_PUB: &str = include_str!("testdata/p256.pub.pem");
    const P256_SEC1: &str = include_str!("testdata/p256-sec1.pem");
    const P256_ENCRYPTED: &str = include_str!("testdata/p256-encrypted.pem");
    const ED25519: &str = include_str!("testdata/ed25519.pem");
    const ED25519_PUB: &str = include_str!("testdata/ed25519.pub.pem");
    const RSA: &str = include_str!("testdata/rsa.pem");
    const P384: &str = include_str!("testdata/p384.pem");

    fn origin() -> KeyOrigin {
        KeyOrigin::File("key.pem".into())
    }

    fn private(text: &str) -> Result<SigningKey> {
        SigningKey::from_pem(text, &origin())
    }

    fn public(text: &str) -> Result<VerifyingKey> {
        VerifyingKey::from_pem(text, &origin())
    }

    #[test]
    fn p256_keys_sign_and_their_public_pem_verifies() {
        let key = private(P256).unwrap();
        assert_eq!(key.algorithm(), Algorithm::EcdsaP256Sha256);
        let sig = key.sign(b"payload");
        assert_eq!(sig[0], 0x30, "ASN.1 DER sequence");
        let public = public(P256_PUB).unwrap();
        assert_eq!(public, key.verifying_key());
        assert!(public.verify(b"payload", &sig));
        assert!(!public.verify(b"payloaD", &sig));
        assert!(!public.verify(b"payload", &sig[1..]));
    }

    #[test]
    fn a_sec1_p256_key_is_the_same_key_as_its_pkcs8_form() {
        let sec1 = private(P256_SEC1).unwrap();
        assert_eq!(sec1.verifying_key(), public(P256_PUB).unwrap());
    }

    #[test]
    fn ed25519_keys_sign_and_verify_and_are_not_p256_keys() {
        let key = private(ED25519).unwrap();
        assert_eq!(key.algorithm(), Algorithm::Ed25519);
        let sig = key.sign(b"payload");
        assert_eq!(sig.len(), 64);
        let ed = public(ED25519_PUB).unwrap();
        assert!(ed.verify(b"payload", &sig));
        assert!(!public(P256_PUB).unwrap().verify(b"payload", &sig));
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let key = private(P256).unwrap();
        assert_eq!(
            format!("{key:?}"),
            "SigningKey(ecdsa-p256-sha256, <private>)"
        );
    }

    fn assert_user_error(err: Error, message: &str, hint: &str) {
        assert_eq!(err.kind(), crate::error::Kind::User);
        assert!(err.message().contains(message), "{}", err.render());
        assert!(err.hint().unwrap().contains(hint), "{}", err.render());
    }

    #[test]
    fn an_encrypted_key_is_refused_with_a_hint() {
        assert_user_error(
            private(P256_ENCRYPTED).unwrap_err(),
            "`key.pem` is an encrypted private key",
            "GANTRY_SIGNING_KEY",
        );
    }

    #[test]
    fn rsa_and_other_curves_are_refused_naming_what_they_are() {
        assert_user_error(
            private(RSA).unwrap_err(),
            "is an RSA key",
            "ECDSA P-256 or an Ed25519",
        );
        assert_user_error(
            private(P384).unwrap_err(),
            "is a P-384 key",
            "ec_paramgen_curve:P-256",
        );
    }

    #[test]
    fn garbage_is_not_a_pem_key_and_no_byte_of_it_is_echoed() {
        let err = private("hunter2 is my password").unwrap_err();
        assert_user_error(err, "`key.pem` is not a PEM key", "openssl genpkey");
        let err =
            private("-----BEGIN PRIVATE KEY-----\nc2VjcmV0IHN0dWZm\n-----END PRIVATE KEY-----\n")
                .unwrap_err();
        assert!(!err.render().contains("c2VjcmV0"), "{}", err.render());
        assert_user_error(err, "is not a valid", "complete and unmodified");
    }

    #[test]
    fn the_wrong_half_of_a_pair_is_named() {
        assert_user_error(
            private(P256_PUB).unwrap_err(),
            "is a public key",
            "`verify`",
        );
        assert_user_error(public(P256).unwrap_err(), "is a private key", "-pubout");
    }

    #[test]
    fn the_env_value_is_pem_text_or_a_path_and_errors_name_the_variable() {
        let from_env = signing_key(None, Some(P256.to_owned())).unwrap();
        assert_eq!(from_env.verifying_key(), public(P256_PUB).unwrap());
        let err = signing_key(None, Some(P256_PUB.to_owned())).unwrap_err();
        assert!(
            err.message()
                .starts_with("the PEM text in `GANTRY_SIGNING_KEY`")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, ED25519).unwrap();
        let from_path = signing_key(None, Some(path.display().to_string())).unwrap();
        assert_eq!(from_path.algorithm(), Algorithm::Ed25519);
        let flag_wins = signing_key(Some(&path), Some(P256.to_owned())).unwrap();
        assert_eq!(flag_wins.algorithm(), Algorithm::Ed25519);
        assert_user_error(
            signing_key(None, None).unwrap_err(),
            "no signing key",
            "--key",
        );
    }
}
