//! One repository's manifests and small blobs, one request each: what signatures (and other
//! artifacts stored next to an image) need, without the image machinery of `push` and `pull`.
//!
//! Everything read is bounded and hashed: a manifest or blob whose bytes do not match the digest
//! asked for is an error, so a caller can trust what it gets back as content-addressed.

use ureq::http::Method;

use super::client::{Body, Client, ClientOptions, Req};
use super::failure::status_of;
use super::reference::ImageRef;
use crate::error::{Error, Result};
use crate::oci::Digest;

/// Manifests, indexes and the small blobs artifacts carry are never larger than this.
const SMALL_LIMIT: u64 = 4 << 20;
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// What a client may do in the repository: it decides the token scope asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Pull,
    PullPush,
}

/// A manifest as the registry serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub digest: Digest,
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A manifest the registry stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub digest: Digest,
    /// `OCI-Subject`: the registry indexed the manifest as a referrer of this digest (OCI 1.1).
    pub subject: Option<Digest>,
}

/// One repository of one registry (`reference`'s registry and repository; its tag or digest is
/// not used).
pub struct Repository {
    client: Client,
    name: ImageRef,
}

impl Repository {
    pub fn new(
        reference: &ImageRef,
        access: Access,
        doing: String,
        options: &ClientOptions,
    ) -> Result<Repository> {
        let actions = match access {
            Access::Pull => "pull",
            Access::PullPush => "pull,push",
        };
        let scopes = vec![format!("repository:{}:{actions}", reference.repository())];
        Ok(Repository {
            client: Client::new(reference, scopes, doing, options)?,
            name: reference.clone(),
        })
    }

    /// One request, retried by the client's policy (each request here is its own unit of work).
    fn send<'a>(&self, make: impl Fn() -> Req<'a>, ok: &[u16]) -> Result<super::client::Response> {
        self.client.retrying(|_| self.client.send(make(), ok))
    }

    fn manifest_url(&self, reference: &str) -> String {
        self.client
            .url(&format!("{}/manifests/{reference}", self.name.repository()))
    }

    /// The digest `reference` (a tag or a digest) names, or `None` when the repository has no
    /// such manifest.
    pub fn resolve(&self, reference: &str) -> Result<Option<Digest>> {
        let resp = self.send(
            || Req::new(Method::HEAD, self.manifest_url(reference)).header("accept", ACCEPT),
            &[200, 404],
        )?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| Digest::parse(v.to_str().ok()?).ok());
        match header {
            Some(d) => Ok(Some(d)),
            // Not every registry sends the digest on HEAD: fetch the manifest and hash it.
            None => Ok(self.manifest(reference)?.map(|m| m.digest)),
        }
    }

    /// The manifest `reference` names, or `None` when there is none. A digest reference is
    /// checked against the bytes.
    pub fn manifest(&self, reference: &str) -> Result<Option<Manifest>> {
        let mut resp = self.send(
            || Req::new(Method::GET, self.manifest_url(reference)).header("accept", ACCEPT),
            &[200, 404],
        )?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = self.read(&mut resp, &format!("the manifest `{reference}`"))?;
        let digest = Digest::of(&bytes);
        if let Ok(wanted) = Digest::parse(reference) {
            self.check(&wanted, &digest, "a manifest")?;
        }
        Ok(Some(Manifest {
            digest,
            media_type,
            bytes,
        }))
    }

    /// A small blob's bytes, checked against `digest`.
    pub fn blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let url = self
            .client
            .url(&format!("{}/blobs/{digest}", self.name.repository()));
        let mut resp = self
            .send(|| Req::new(Method::GET, url.clone()), &[200])
            .map_err(|e| match status_of(&e) {
                Some(404) => Error::user(format!(
                    "`{}` has no blob `{digest}`, though a manifest lists it",
                    self.name.name()
                ))
                .caused_by(e),
                _ => e,
            })?;
        let bytes = self.read(&mut resp, &format!("the blob `{digest}`"))?;
        self.check(digest, &Digest::of(&bytes), "a blob")?;
        Ok(bytes)
    }

    /// Upload `bytes` as a blob unless the repository has it; its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        let repo = self.name.repository();
        let head = self.client.url(&format!("{repo}/blobs/{digest}"));
        if self
            .client
            .send(Req::new(Method::HEAD, head), &[200, 404])?
            .status()
            .as_u16()
            == 200
        {
            return Ok(digest);
        }
        let start = self.client.url(&format!("{repo}/blobs/uploads/"));
        let resp = self.send(|| Req::new(Method::POST, start.clone()), &[202])?;
        let Some(location) = resp.headers().get("location").and_then(|v| v.to_str().ok()) else {
            return Err(Error::failure(format!(
                "the registry started an upload without a `Location` while {}",
                self.client.doing()
            )));
        };
        let location = super::origin::join(&start, location).ok_or_else(|| {
            Error::failure(format!(
                "the registry answered with an unusable upload `Location` while {}",
                self.client.doing()
            ))
        })?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!(
            "{location}{sep}{}",
            super::client::query(&[("digest", digest.as_str())])
        );
        let resp = self.send(
            || {
                Req::new(Method::PUT, url.clone())
                    .header("content-type", "application/octet-stream")
                    .body(Body::Bytes(bytes))
            },
            &[201],
        )?;
        self.stored(&resp, &digest, "a blob")?;
        Ok(digest)
    }

    /// Store `bytes` (of `media_type`) under `reference`, a tag; the manifest's digest.
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        Ok(self.put_manifest_for(reference, media_type, bytes)?.digest)
    }

    /// Like [`Repository::put_manifest`] (`reference` may be the manifest's own digest), and
    /// what the registry said of the manifest's `subject`.
    pub fn put_manifest_for(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Stored> {
        let digest = Digest::of(bytes);
        let resp = self.send(
            || {
                Req::new(Method::PUT, self.manifest_url(reference))
                    .header("content-type", media_type)
                    .body(Body::Bytes(bytes))
            },
            &[201],
        )?;
        self.stored(&resp, &digest, "the manifest")?;
        let subject = resp
            .headers()
            .get("oci-subject")
            .and_then(|v| Digest::parse(v.to_str().ok()?).ok());
        Ok(Stored { digest, subject })
    }

    /// `GET /v2/<name>/referrers/<digest>`: the status, content type and (bounded) body, for
    /// `referrers::api_answer` to judge. Statuses of registries without the API are answers too.
    pub fn referrers(&self, subject: &Digest) -> Result<(u16, Option<String>, Vec<u8>)> {
        let url = self
            .client
            .url(&format!("{}/referrers/{subject}", self.name.repository()));
        let mut resp = self.send(
            || Req::new(Method::GET, url.clone()).header("accept", OCI_INDEX),
            &[200, 400, 404, 405],
        )?;
        let status = resp.status().as_u16();
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match status {
            200 => self.read(&mut resp, &format!("the referrers of `{subject}`"))?,
            _ => Vec::new(),
        };
        Ok((status, media_type, body))
    }

    fn read(&self, resp: &mut super::client::Response, what: &str) -> Result<Vec<u8>> {
        resp.body_mut()
            .with_config()
            .limit(SMALL_LIMIT)
            .read_to_vec()
            .map_err(|e| {
                Error::failure(format!(
                    "failed to read {what} while {}",
                    self.client.doing()
                ))
                .caused_by(e)
            })
    }

    fn check(&self, wanted: &Digest, got: &Digest, what: &str) -> Result<()> {
        if wanted == got {
            return Ok(());
        }
        Err(Error::failure(format!(
            "the registry sent {what} whose digest is `{got}` instead of `{wanted}` while {}",
            self.client.doing()
        ))
        .with_hint("the registry or a proxy in between changed the content; retry or report it"))
    }

    /// The digest the registry says it stored (`Docker-Content-Digest`), when it says one.
    fn stored(&self, resp: &super::client::Response, expected: &Digest, what: &str) -> Result<()> {
        let said = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| Digest::parse(v.to_str().ok()?).ok());
        match said {
            Some(got) => self.check(expected, &got, what),
            None => Ok(()),
        }
    }
}
