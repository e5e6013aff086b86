//! Push an `Image`: every blob the registry lacks, then the manifest.
//!
//! Per blob: `HEAD` first (present: nothing to send, which is also what makes an interrupted
//! push cheap to rerun), then a cross-repository mount from the base image's repository when it
//! is on the same registry, then an upload: one `PUT` with the whole blob (monolithic), or
//! `PATCH` chunks and a final `PUT` (chunked). A chunk that fails is resumed from the offset the
//! registry reports; a session the registry dropped is started again, up to the retry budget.
//! Blobs go in parallel (`jobs`); the manifest goes last, so a tag never points at missing blobs.

use std::io::Read;

use ureq::http::Method;

use super::client::{Body, Client, ClientOptions, Req, Response, query, worth_retrying};
use super::failure::is_transient;
use super::progress::{Blob, Progress};
use super::pull::BASE_NAME;
use super::reference::ImageRef;
use crate::error::{Error, Result};
use crate::oci::{Digest, Image, Layer};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Clone, Debug)]
pub struct PushOptions {
    pub client: ClientOptions,
    /// Upload blobs in `PATCH` chunks of this many bytes; `None`: one `PUT` per blob.
    pub chunk_size: Option<u64>,
    /// Blobs uploaded at the same time.
    pub jobs: usize,
    /// Repositories on the same registry that may hold some blobs, tried as mount sources. The
    /// base recorded by `registry::pull` in the image's annotations is tried without asking.
    pub mount_from: Vec<ImageRef>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            client: ClientOptions::default(),
            chunk_size: None,
            jobs: 4,
            mount_from: Vec::new(),
        }
    }
}

/// What a push did, blob by blob; `reference` is `REPO@sha256:…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushReport {
    pub reference: ImageRef,
    pub digest: Digest,
    pub blobs: Vec<BlobReport>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobReport {
    pub digest: Digest,
    pub size: u64,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The registry already had it: nothing was sent.
    Existed,
    /// Linked from another repository of the same registry: nothing was sent.
    Mounted {
        from: String,
    },
    Uploaded,
}

enum Content<'a> {
    Bytes(&'a [u8]),
    Layer(&'a Layer),
}

struct BlobJob<'a> {
    digest: Digest,
    size: u64,
    content: Content<'a>,
}

impl<'a> BlobJob<'a> {
    /// The blob's bytes from `position` on.
    fn open(&self, position: u64) -> Result<Box<dyn Read + Send + 'a>> {
        match self.content {
            Content::Bytes(bytes) => Ok(Box::new(&bytes[position as usize..])),
            Content::Layer(layer) => {
                let mut reader = layer.open()?;
                std::io::copy(&mut reader.by_ref().take(position), &mut std::io::sink()).map_err(
                    |e| {
                        Error::failure(format!("failed to read layer `{}`", self.digest))
                            .caused_by(e)
                    },
                )?;
                Ok(reader)
            }
        }
    }
}

/// Push `image` to `target` (a tag, or a digest that must be the image's).
pub fn push(image: &Image, target: &ImageRef, options: &PushOptions) -> Result<PushReport> {
    let rendered = image.render()?;
    if let Some(wanted) = target.digest().filter(|d| **d != rendered.manifest_digest) {
        return Err(Error::user(format!(
            "cannot push to `{target}`: the image's digest is `{}`, not `{wanted}`",
            rendered.manifest_digest
        ))
        .with_hint("push to a tag instead, e.g. `REPO:latest`"));
    }
    let sources = mount_sources(image, target, &options.mount_from);
    let mut scopes = vec![format!("repository:{}:pull,push", target.repository())];
    scopes.extend(sources.iter().map(|s| format!("repository:{s}:pull")));
    let client = Client::new(
        target,
        scopes,
        format!("pushing `{target}`"),
        &options.client,
    );
    let progress = Progress::new(options.client.progress);

    let mut jobs = vec![BlobJob {
        digest: rendered.config_digest.clone(),
        size: rendered.config.len() as u64,
        content: Content::Bytes(&rendered.config),
    }];
    for layer in image.layers() {
        if !jobs.iter().any(|j| j.digest == *layer.digest()) {
            jobs.push(BlobJob {
                digest: layer.digest().clone(),
                size: layer.size(),
                content: Content::Layer(layer),
            });
        }
    }
    let pusher = Pusher {
        client: &client,
        repo: target.repository(),
        sources: &sources,
        chunk_size: options.chunk_size,
        progress: &progress,
    };
    let outcomes = super::parallel(&jobs, options.jobs.max(1), |job| pusher.blob(job))?;

    let url = client.url(&format!(
        "{}/manifests/{}",
        target.repository(),
        target.manifest_reference()
    ));
    let req = Req::new(Method::PUT, url)
        .header("content-type", OCI_MANIFEST)
        .body(Body::Bytes(&rendered.manifest));
    let resp = client.send(req, &[201])?;
    check_digest(&client, &resp, &rendered.manifest_digest, "the manifest")?;
    Ok(PushReport {
        reference: target.with_digest(rendered.manifest_digest.clone()),
        digest: rendered.manifest_digest,
        blobs: jobs
            .iter()
            .zip(outcomes)
            .map(|(j, outcome)| BlobReport {
                digest: j.digest.clone(),
                size: j.size,
                outcome,
            })
            .collect(),
    })
}

/// Other repositories of the target's registry to mount from: the ones given and the base.
fn mount_sources(image: &Image, target: &ImageRef, given: &[ImageRef]) -> Vec<String> {
    let base = image
        .annotations()
        .get(BASE_NAME)
        .and_then(|b| ImageRef::parse(b).ok());
    let mut out: Vec<String> = Vec::new();
    for r in given.iter().chain(&base) {
        if r.registry() == target.registry()
            && r.repository() != target.repository()
            && !out.iter().any(|o| o == r.repository())
        {
            out.push(r.repository().to_owned());
        }
    }
    out
}

struct Pusher<'a> {
    client: &'a Client,
    repo: &'a str,
    sources: &'a [String],
    chunk_size: Option<u64>,
    progress: &'a Progress,
}

impl Pusher<'_> {
    fn blob(&self, job: &BlobJob) -> Result<Outcome> {
        let bar = self.progress.blob("push", &job.digest, job.size);
        if self.exists(&job.digest)? {
            bar.finish("exists");
            return Ok(Outcome::Existed);
        }
        let mut session = None;
        for from in self.sources {
            let url = self.client.url(&format!(
                "{}/blobs/uploads/?{}",
                self.repo,
                query(&[("mount", job.digest.as_str()), ("from", from)])
            ));
            // A refused mount (no access to `from`, say) is no reason to fail: upload instead.
            let Ok(resp) = self.client.send(Req::new(Method::POST, url), &[201, 202]) else {
                continue;
            };
            if resp.status().as_u16() == 201 {
                bar.finish(&format!("mounted from `{from}`"));
                return Ok(Outcome::Mounted { from: from.clone() });
            }
            session = Some(self.location(&resp)?);
            break;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match session.take() {
                Some(location) => self.upload(location, job, &bar),
                None => self
                    .start()
                    .and_then(|location| self.upload(location, job, &bar)),
            };
            match result {
                Ok(()) => break,
                Err(e) if attempt < self.client.retry.attempts && worth_retrying(&e) => {
                    std::thread::sleep(self.client.retry.delay(attempt, None));
                    // The last answer may have been lost after the registry stored the blob.
                    if self.exists(&job.digest)? {
                        break;
                    }
                    bar.rewind(0);
                }
                Err(e) => return Err(e),
            }
        }
        bar.finish("pushed");
        Ok(Outcome::Uploaded)
    }

    fn exists(&self, digest: &Digest) -> Result<bool> {
        let url = self.client.url(&format!("{}/blobs/{digest}", self.repo));
        Ok(self
            .client
            .send(Req::new(Method::HEAD, url), &[200, 404])?
            .status()
            .as_u16()
            == 200)
    }

    fn start(&self) -> Result<String> {
        let url = self.client.url(&format!("{}/blobs/uploads/", self.repo));
        let resp = self.client.send(Req::new(Method::POST, url), &[202])?;
        self.location(&resp)
    }

    fn location(&self, resp: &Response) -> Result<String> {
        match resp.headers().get("location").and_then(|v| v.to_str().ok()) {
            Some(l) => Ok(self.client.resolve(l)),
            None => Err(Error::failure(format!(
                "the registry started an upload without a `Location` while {}",
                self.client.doing()
            ))),
        }
    }

    fn upload(&self, mut location: String, job: &BlobJob, bar: &Blob) -> Result<()> {
        let octets = "application/octet-stream";
        if let Some(chunk) = self.chunk_size.filter(|c| *c > 0) {
            let (mut position, mut resumes) = (0, 0);
            while position < job.size {
                let len = chunk.min(job.size - position);
                let range = format!("{position}-{}", position + len - 1);
                let body = Body::Stream(bar.wrap(Box::new(job.open(position)?.take(len))), len);
                let req = Req::new(Method::PATCH, location.clone())
                    .header("content-type", octets)
                    .header("content-range", range)
                    .body(body);
                match self.client.send(req, &[202]) {
                    Ok(resp) => {
                        location = self.location(&resp)?;
                        position = uploaded(&resp).unwrap_or(position + len);
                    }
                    Err(e) if is_transient(&e) && resumes + 1 < self.client.retry.attempts => {
                        resumes += 1;
                        std::thread::sleep(self.client.retry.delay(resumes, None));
                        let resp = self
                            .client
                            .send(Req::new(Method::GET, location.clone()), &[204])?;
                        location = self.location(&resp)?;
                        position = uploaded(&resp).unwrap_or(0);
                        bar.rewind(position);
                    }
                    Err(e) => return Err(e),
                }
            }
            let url = with_query(&location, &[("digest", job.digest.as_str())]);
            let resp = self.client.send(Req::new(Method::PUT, url), &[201])?;
            return check_digest(self.client, &resp, &job.digest, "a blob");
        }
        let url = with_query(&location, &[("digest", job.digest.as_str())]);
        let body = Body::Stream(bar.wrap(job.open(0)?), job.size);
        let req = Req::new(Method::PUT, url)
            .header("content-type", octets)
            .body(body);
        let resp = self.client.send(req, &[201])?;
        check_digest(self.client, &resp, &job.digest, "a blob")
    }
}

/// Bytes the registry holds for an upload session, from `Range: 0-<last>`. distribution says
/// `0-0` for an empty session too; read as 0: re-sending one byte too many gets a `416`, which
/// starts a new session, while skipping one would corrupt the blob.
fn uploaded(resp: &Response) -> Option<u64> {
    let range = resp.headers().get("range")?.to_str().ok()?;
    let (first, last) = range.trim_start_matches("bytes=").split_once('-')?;
    let last: u64 = last.parse().ok()?;
    Some(if first == "0" && last == 0 {
        0
    } else {
        last + 1
    })
}

fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", query(params))
}

/// The registry says which digest it stored (`Docker-Content-Digest`); it must be ours.
fn check_digest(client: &Client, resp: &Response, expected: &Digest, what: &str) -> Result<()> {
    match resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        Some(got) if got != expected.as_str() => Err(Error::failure(format!(
            "the registry stored {what} as `{got}` instead of `{expected}` while {}",
            client.doing()
        ))
        .with_hint(
            "the registry or a proxy in between changed the content; push again or report it",
        )),
        _ => Ok(()),
    }
}
