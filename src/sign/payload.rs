//! The simple-signing payload cosign signs: which image (by manifest digest) under which name.
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"REPO"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}
//! ```
//!
//! The bytes are what is signed, so they are written exactly this way (field order as above, no
//! whitespace), as cosign writes them. Reading is lenient where cosign's Go JSON decoder is: key
//! names match regardless of case (the spec's own example says `Docker-manifest-digest`).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::oci::Digest;
use crate::registry::ImageRef;

/// `critical.type` of a cosign image signature.
pub const COSIGN_TYPE: &str = "cosign container image signature";

#[derive(Serialize)]
struct Payload<'a> {
    critical: Critical<'a>,
    optional: Option<()>,
}

#[derive(Serialize)]
struct Critical<'a> {
    identity: Identity<'a>,
    image: ImageClaim<'a>,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct Identity<'a> {
    #[serde(rename = "docker-reference")]
    docker_reference: &'a str,
}

#[derive(Serialize)]
struct ImageClaim<'a> {
    #[serde(rename = "docker-manifest-digest")]
    manifest_digest: &'a str,
}

/// What `critical.identity.docker-reference` says for `image`: its repository without tag or
/// digest, with Docker Hub spelled `index.docker.io` as cosign (go-containerregistry) does.
pub fn docker_reference(image: &ImageRef) -> String {
    match image.registry() {
        "docker.io" => format!("index.docker.io/{}", image.repository()),
        registry => format!("{registry}/{}", image.repository()),
    }
}

/// The payload bytes for `image` at `digest`.
pub fn payload(image: &ImageRef, digest: &Digest) -> Vec<u8> {
    let reference = docker_reference(image);
    let payload = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: &reference,
            },
            image: ImageClaim {
                manifest_digest: digest.as_str(),
            },
            kind: COSIGN_TYPE,
        },
        optional: None,
    };
    serde_json::to_vec(&payload).expect("plain strings serialize")
}

/// The claims of a payload someone signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub docker_reference: String,
    pub manifest_digest: String,
    pub kind: String,
}

impl Claims {
    pub fn parse(bytes: &[u8]) -> Result<Claims> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::user("the payload is not JSON").caused_by(e))?;
        let field = |v: &'_ serde_json::Value, path: &[&str]| -> Option<String> {
            let mut v = v;
            for key in path {
                v = v
                    .as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))?
                    .1;
            }
            v.as_str().map(str::to_owned)
        };
        let get = |path: &[&str]| {
            field(&value, path).ok_or_else(|| {
                Error::user(format!("the payload has no string `{}`", path.join(".")))
            })
        };
        Ok(Claims {
            docker_reference: field(&value, &["critical", "identity", "docker-reference"])
                .unwrap_or_default(),
            manifest_digest: get(&["critical", "image", "docker-manifest-digest"])?,
            kind: get(&["critical", "type"])?,
        })
    }

    /// Whether `docker-reference` names `image`'s repository (`docker.io` and
    /// `index.docker.io` being one registry).
    pub fn names(&self, image: &ImageRef) -> bool {
        ImageRef::parse(&self.docker_reference)
            .is_ok_and(|r| r.registry() == image.registry() && r.repository() == image.repository())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_bytes_are_cosigns_simple_signing_json() {
        let image = ImageRef::parse("127.0.0.1:5000/team/app:1").unwrap();
        let digest = Digest::of(b"manifest");
        let bytes = payload(&image, &digest);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/team/app"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
    }

    #[test]
    fn docker_hub_is_spelled_as_cosign_spells_it() {
        let image = ImageRef::parse("alpine:3").unwrap();
        assert_eq!(docker_reference(&image), "index.docker.io/library/alpine");
    }

    #[test]
    fn claims_read_back_what_payload_writes_and_match_the_repository() {
        let image = ImageRef::parse("alpine:3").unwrap();
        let digest = Digest::of(b"m");
        let claims = Claims::parse(&payload(&image, &digest)).unwrap();
        assert_eq!(claims.manifest_digest, digest.as_str());
        assert_eq!(claims.kind, COSIGN_TYPE);
        assert!(claims.names(&ImageRef::parse("docker.io/library/alpine:latest").unwrap()));
        assert!(!claims.names(&ImageRef::parse("ghcr.io/library/alpine").unwrap()));
    }

    #[test]
    fn claims_keys_match_regardless_of_case_as_in_the_spec_example() {
        let json = br#"{"critical":{"identity":{"docker-reference":"testing/manifest"},"image":{"Docker-manifest-digest":"sha256:20be"},"type":"cosign container image signature"},"optional":{"creator":"atomic"}}"#;
        let claims = Claims::parse(json).unwrap();
        assert_eq!(claims.manifest_digest, "sha256:20be");
        assert_eq!(claims.docker_reference, "testing/manifest");
    }

    #[test]
    fn a_payload_without_a_digest_is_an_error_naming_the_field() {
        let err = Claims::parse(br#"{"critical":{"type":"x"}}"#).unwrap_err();
        assert!(
            err.message()
                .contains("`critical.image.docker-manifest-digest`")
        );
    }
}
