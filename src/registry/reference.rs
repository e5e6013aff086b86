//! `ImageRef`: `[HOST[:PORT]/]REPOSITORY[:TAG][@DIGEST]`, resolved the way `docker pull` does.
//!
//! A first path component is a registry host only when it looks like one (it has a `.` or a `:`,
//! or is `localhost`); otherwise the image is on Docker Hub, and a one-component Docker Hub name
//! is an official image under `library/`. So `alpine` is `docker.io/library/alpine:latest`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::oci::Digest;

const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's API really is: `docker.io` itself only redirects to the website.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key Docker Hub credentials have in `~/.docker/config.json` (a historical URL).
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
const DEFAULT_TAG: &str = "latest";
/// The OCI distribution spec's limit on tag length.
const MAX_TAG_LEN: usize = 128;

/// A validated image reference. A push names a tag (`latest` when none is given); a pull may
/// name a tag, a digest or both (then the digest wins and the tag is only informative).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef> {
        let bad = |why: &str| {
            Error::user(format!("invalid image reference `{s}`: {why}")).with_hint(
                "write it as `[HOST[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST]`, e.g. `ghcr.io/me/app:1.0` or `127.0.0.1:5000/app`",
            )
        };
        let (rest, digest) =
            match s.split_once('@') {
                Some((rest, digest)) => (
                    rest,
                    Some(Digest::parse(digest).map_err(|_| {
                        bad("the digest is not `sha256:` and 64 lowercase hex digits")
                    })?),
                ),
                None => (s, None),
            };
        // A `:` after the last `/` starts the tag; one before it is a registry port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            let valid = tag.len() <= MAX_TAG_LEN
                && tag
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !valid {
                return Err(bad(
                    "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
                ));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if looks_like_host(first) => (first.to_owned(), rest.to_owned()),
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !repository.split('/').all(valid_component) {
            return Err(bad(
                "repository names are lowercase letters and digits, separated by `/`, `.`, `_` or `-`",
            ));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as users write it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository, pinned to `digest` (and without a tag): `REPO@sha256:…`.
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `registry/repository`, the name `REPO@sha256:…` starts with.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What goes after `/manifests/` in a URL: the digest if there is one, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The `host[:port]` the HTTP API is served on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The key of this registry in `~/.docker/config.json` and for credential helpers.
    pub fn auth_key(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_AUTH_KEY
        } else {
            &self.registry
        }
    }

    /// `localhost`, `127.0.0.0/8` and `[::1]`: talked to over plain HTTP unless told otherwise,
    /// as Docker does, since a registry on this machine rarely has a certificate.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

fn looks_like_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost" || component.starts_with('[')
}

fn valid_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    !bytes.is_empty()
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| alnum(b) || b"._-".contains(&b))
}

/// Whether `host[:port]` names this machine.
pub(crate) fn is_loopback_host(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<ImageRef> {
        ImageRef::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn docker_hub_names_get_the_default_registry_library_and_tag() {
        assert_eq!(
            parse("alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(parse("me/app:1").to_string(), "docker.io/me/app:1");
        assert_eq!(
            parse("index.docker.io/me/app").to_string(),
            "docker.io/me/app:latest"
        );
        let hub = parse("alpine");
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert_eq!(hub.auth_key(), "https://index.docker.io/v1/");
    }

    #[test]
    fn a_host_is_recognised_by_a_dot_a_port_or_localhost() {
        let r = parse("127.0.0.1:5000/team/app:v2");
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("127.0.0.1:5000", "team/app", Some("v2"))
        );
        assert_eq!(parse("localhost/app").registry(), "localhost");
        assert_eq!(parse("ghcr.io/me/app").registry(), "ghcr.io");
        assert_eq!(parse("team/app").registry(), "docker.io");
        assert_eq!(parse("[::1]:5000/app").registry(), "[::1]:5000");
    }

    #[test]
    fn a_digest_pins_the_reference_and_drops_the_default_tag() {
        let d = Digest::of(b"x");
        let r = parse(&format!("ghcr.io/me/app@{d}"));
        assert_eq!((r.tag(), r.digest()), (None, Some(&d)));
        assert_eq!(r.manifest_reference(), d.as_str());
        let both = parse(&format!("ghcr.io/me/app:1@{d}"));
        assert_eq!(both.manifest_reference(), d.as_str());
        assert_eq!(
            parse("ghcr.io/me/app:1").with_digest(d.clone()).to_string(),
            format!("ghcr.io/me/app@{d}")
        );
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost:5000/a",
            "127.0.0.1/a",
            "127.1.2.3:1/a",
            "[::1]:5000/a",
        ] {
            assert!(parse(host).is_loopback(), "{host}");
        }
        for host in ["ghcr.io/a", "10.0.0.1:5000/a", "alpine"] {
            assert!(!parse(host).is_loopback(), "{host}");
        }
    }

    #[test]
    fn malformed_references_are_user_errors_naming_the_input() {
        for s in [
            "App",
            "ghcr.io/me/App",
            "me/app:-x",
            "a@sha256:00",
            "a//b",
            "a:",
            "",
        ] {
            let err = ImageRef::parse(s).unwrap_err();
            assert!(
                err.message()
                    .starts_with(&format!("invalid image reference `{s}`")),
                "{}",
                err.message()
            );
            assert!(err.hint().unwrap().contains("REPOSITORY[:TAG]"));
        }
    }
}
