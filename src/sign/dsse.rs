//! DSSE (Dead Simple Signing Envelope), the envelope in-toto attestations travel in: the
//! signature covers the pre-authentication encoding (PAE) of the payload type and body, so a
//! payload cannot be reinterpreted as another type.
//!
//! ```text
//! PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//! ```
//!
//! with LEN the byte length in ASCII decimal. The envelope is JSON with the body in base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::key::{SigningKey, VerifyingKey};
use crate::error::{Error, Result};

/// The payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    /// The body, base64.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Unset (empty) as cosign leaves it: the verifier picks the key.
    #[serde(default)]
    pub keyid: String,
    /// The signature over PAE, base64.
    pub sig: String,
}

/// The bytes DSSE signs.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// `body` of `payload_type` (e.g. an in-toto statement, [`IN_TOTO`]) in an envelope signed with
/// `key`.
pub fn envelope(payload_type: &str, body: &[u8], key: &SigningKey) -> Envelope {
    Envelope {
        payload_type: payload_type.to_owned(),
        payload: STANDARD.encode(body),
        signatures: vec![EnvelopeSignature {
            keyid: String::new(),
            sig: STANDARD.encode(key.sign(&pae(payload_type, body))),
        }],
    }
}

impl Envelope {
    /// The body, when one of the signatures is `key`'s over it.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Vec<u8>> {
        let body = STANDARD
            .decode(&self.payload)
            .map_err(|e| Error::user("the envelope's payload is not base64").caused_by(e))?;
        let message = pae(&self.payload_type, &body);
        let signed = self.signatures.iter().any(|s| {
            STANDARD
                .decode(&s.sig)
                .is_ok_and(|sig| key.verify(&message, &sig))
        });
        if signed {
            Ok(body)
        } else {
            Err(Error::user(format!(
                "no signature of the `{}` envelope verifies with the key",
                self.payload_type
            ))
            .with_hint(
                "check that the public key is the signer's and that the envelope is unmodified",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::key::KeyOrigin;

    #[test]
    fn pae_matches_the_specs_example() {
        // The DSSE protocol document's worked example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn pae_counts_bytes_not_characters_and_allows_an_empty_body() {
        assert_eq!(pae("t", "é".as_bytes()), "DSSEv1 1 t 2 é".as_bytes());
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    const ED25519: &str = include_str!("testdata/ed25519.pem");

    #[test]
    fn an_envelope_verifies_with_the_key_and_not_after_a_change() {
        let key = SigningKey::from_pem(ED25519, &KeyOrigin::Env("TEST")).unwrap();
        let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;
        let env = envelope(IN_TOTO, statement, &key);
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["payloadType"], IN_TOTO);
        assert_eq!(json["signatures"][0]["keyid"], "");
        assert_eq!(env.verify(&key.verifying_key()).unwrap(), statement);

        let mut retyped = env.clone();
        retyped.payload_type = "application/json".into();
        assert!(retyped.verify(&key.verifying_key()).is_err());
    }
}
