//! Push an `Image`: every blob the registry lacks, then the manifest.
//!
//! Per blob: `HEAD` first (present: nothing to send, which is also what makes an interrupted
//! push cheap to rerun), then a cross-repository mount from the base image's repository when it
//! is on the same registry, then an upload: one `PUT` with the whole blob (monolithic), or
//! `PATCH` chunks and a final `PUT` (chunked). A blob is one unit of work for the retry layer:
//! a chunked upload that fails is resumed from the offset the registry reports (the file is
//! opened there, not read again from its start); a session the registry dropped is started
//! again. Blobs go in parallel (`jobs`), and the first one that fails for good stops the others.
//! The manifest goes last, so a tag never points at missing blobs; then the image's referrers
//! (`referrers.rs`).

use std::io::Read;

use ureq::http::Method;

use super::client::{Body, Client, ClientOptions, Req, Response, Wait, query};
use super::failure::{self, status_of};
use super::origin;
use super::progress::{Blob, Progress};
use super::pull::BASE_NAME;
use super::reference::ImageRef;
use crate::error::{Error, Result};
use crate::oci::{Digest, Image, Index, Layer};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCTETS: &str = "application/octet-stream";

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
    /// The image's referrers (SBOMs, provenance), pushed after it; `None` when it has none.
    pub referrers: Option<super::ReferrersReport>,
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
            Content::Bytes(bytes) => {
                let start = usize::try_from(position)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                Ok(Box::new(&bytes[start..]))
            }
            Content::Layer(layer) => layer.open_at(position),
        }
    }
}

/// A `target` named by digest must name what is pushed (`what`, whose digest is `digest`).
fn refuse_other_digest(target: &ImageRef, what: &str, digest: &Digest) -> Result<()> {
    match target.digest().filter(|d| *d != digest) {
        Some(wanted) => Err(Error::user(format!(
            "cannot push to `{target}`: the {what}'s digest is `{digest}`, not `{wanted}`"
        ))
        .with_hint("push to a tag instead, e.g. `REPO:latest`")),
        None => Ok(()),
    }
}

/// Push `image` to `target` (a tag, or a digest that must be the image's).
pub fn push(image: &Image, target: &ImageRef, options: &PushOptions) -> Result<PushReport> {
    let rendered = image.render()?;
    refuse_other_digest(target, "image", &rendered.manifest_digest)?;
    let sources = mount_sources(image, target, &options.mount_from);
    let mut scopes = vec![format!("repository:{}:pull,push", target.repository())];
    scopes.extend(sources.iter().map(|s| format!("repository:{s}:pull")));
    let client = Client::new(
        target,
        scopes,
        format!("pushing `{target}`"),
        &options.client,
    )?;
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
    let outcomes = super::parallel(&jobs, options.jobs.max(1), &client.cancel, |job| {
        pusher.blob(job)
    })?;

    put_manifest(
        &client,
        target,
        OCI_MANIFEST,
        &rendered.manifest,
        &rendered.manifest_digest,
        "the manifest",
    )?;
    // After the image, so that a referrer never names a subject the registry lacks.
    let referrers = match image.referrers() {
        [] => None,
        artifacts => Some(super::push_referrers(
            target,
            &rendered.manifest_descriptor(),
            artifacts,
            &options.client,
        )?),
    };
    Ok(PushReport {
        referrers,
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

/// PUT `bytes` (a manifest or an index of `media_type`) under `target`'s tag or digest, and check
/// the digest the registry says it stored.
fn put_manifest(
    client: &Client,
    target: &ImageRef,
    media_type: &str,
    bytes: &[u8],
    digest: &Digest,
    what: &str,
) -> Result<()> {
    let url = client.url(&format!(
        "{}/manifests/{}",
        target.repository(),
        target.manifest_reference()
    ));
    client.retrying(|_| {
        let req = Req::new(Method::PUT, url.clone())
            .header("content-type", media_type)
            .body(Body::Bytes(bytes));
        let resp = client.send(req, &[201])?;
        check_digest(client, &resp, digest, what)
    })
}

/// Push a multi-platform `index` to `target`: each platform's image by its digest (a blob two
/// platforms share is found by `HEAD` the second time and not sent again), then the index
/// under the tag, last, so the tag never names a manifest the registry lacks.
pub fn push_index(index: &Index, target: &ImageRef, options: &PushOptions) -> Result<PushReport> {
    let rendered = index.render()?;
    refuse_other_digest(target, "index", &rendered.digest)?;
    let mut blobs = Vec::new();
    for (image, manifest) in index.images().iter().zip(&rendered.manifests) {
        let pinned = target.with_digest(manifest.manifest_digest.clone());
        let report = push(image, &pinned, options).map_err(|e| {
            e.with_hint(format!(
                "the `{}` image of the index failed; rerun to upload only what is missing",
                image.platform()
            ))
        })?;
        blobs.extend(report.blobs);
    }
    let scopes = vec![format!("repository:{}:pull,push", target.repository())];
    let client = Client::new(
        target,
        scopes,
        format!("pushing `{target}`"),
        &options.client,
    )?;
    put_manifest(
        &client,
        target,
        OCI_INDEX,
        &rendered.index,
        &rendered.digest,
        "the index",
    )?;
    Ok(PushReport {
        reference: target.with_digest(rendered.digest.clone()),
        digest: rendered.digest,
        blobs,
        // Each platform's image pushed its own referrers above.
        referrers: None,
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
    /// One blob, as a unit of work for the retry layer: a sequence of steps of one request each.
    /// A failed step is followed by the one that recovers from it (look whether the registry
    /// has the blob after all, ask an upload session how far it got, start a new one).
    fn blob(&self, job: &BlobJob) -> Result<Outcome> {
        let bar = self.progress.blob("push", &job.digest, job.size);
        let mut budget = self.client.budget();
        let mut upload = Upload {
            step: Step::Check,
            mount_tried: false,
            sent: false,
            session: None,
        };
        let outcome = loop {
            let step = upload.step.clone();
            match self.step(job, &bar, &mut upload, &step) {
                Ok(Some(outcome)) => break outcome,
                Ok(None) => budget.reached(upload.step.mark(job.size)),
                Err(err) => {
                    let err = match step {
                        Step::Send { .. } | Step::Commit(_) => session_lost(err),
                        _ => err,
                    };
                    upload.step = upload.recover(step, &err, self.chunk_size().is_some());
                    budget.failed(err)?;
                }
            }
        };
        let note = match &outcome {
            Outcome::Existed => "exists".to_owned(),
            Outcome::Mounted { from } => format!("mounted from `{from}`"),
            Outcome::Uploaded => "pushed".to_owned(),
        };
        bar.finish(&note);
        Ok(outcome)
    }

    fn chunk_size(&self) -> Option<u64> {
        self.chunk_size.filter(|c| *c > 0)
    }

    /// Take `step`; the outcome when the blob is done, else the next step is in `upload`.
    fn step(
        &self,
        job: &BlobJob,
        bar: &Blob,
        upload: &mut Upload,
        step: &Step,
    ) -> Result<Option<Outcome>> {
        upload.step = match step {
            Step::Check => {
                if self.exists(&job.digest)? {
                    return Ok(Some(match upload.sent {
                        true => Outcome::Uploaded,
                        false => Outcome::Existed,
                    }));
                }
                if !upload.mount_tried {
                    upload.mount_tried = true;
                    match self.mount(job)? {
                        Mount::Done(outcome) => return Ok(Some(outcome)),
                        Mount::Session(location) => Step::Send {
                            location,
                            position: 0,
                        },
                        Mount::No => Step::Start,
                    }
                } else {
                    match upload.session.take() {
                        Some(location) => Step::Resume(location),
                        None => Step::Start,
                    }
                }
            }
            Step::Start => Step::Send {
                location: self.start()?,
                position: 0,
            },
            Step::Resume(location) => self.resume(location)?,
            Step::Send { location, position } => {
                upload.sent = true;
                bar.rewind(*position);
                match self.chunk_size() {
                    Some(chunk) => self.patch(job, bar, location, *position, chunk)?,
                    None => {
                        self.put(job, bar, location)?;
                        return Ok(Some(Outcome::Uploaded));
                    }
                }
            }
            Step::Commit(location) => {
                let url = with_query(location, &[("digest", job.digest.as_str())]);
                let req = Req::new(Method::PUT, url).wait(Wait::Commit);
                let resp = self.client.send(req, &[201])?;
                check_digest(self.client, &resp, &job.digest, "a blob")?;
                return Ok(Some(Outcome::Uploaded));
            }
        };
        Ok(None)
    }

    /// Try the mount sources in turn; a registry that cannot mount may open an upload session.
    fn mount(&self, job: &BlobJob) -> Result<Mount> {
        for from in self.sources {
            let url = self.client.url(&format!(
                "{}/blobs/uploads/?{}",
                self.repo,
                query(&[("mount", job.digest.as_str()), ("from", from)])
            ));
            // A refused mount (no access to `from`, say) is no reason to fail: upload instead.
            let Ok(resp) = self
                .client
                .send(Req::new(Method::POST, url.clone()), &[201, 202])
            else {
                continue;
            };
            if resp.status().as_u16() == 201 {
                return Ok(Mount::Done(Outcome::Mounted { from: from.clone() }));
            }
            return Ok(Mount::Session(self.location(&url, &resp)?));
        }
        Ok(Mount::No)
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
        let resp = self
            .client
            .send(Req::new(Method::POST, url.clone()), &[202])?;
        self.location(&url, &resp)
    }

    /// The upload session's URL from an answer to `url`.
    fn location(&self, url: &str, resp: &Response) -> Result<String> {
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok());
        match location.and_then(|l| origin::join(url, l)) {
            Some(l) => Ok(l),
            None => Err(Error::failure(format!(
                "the registry started an upload without a usable `Location` while {}",
                self.client.doing()
            ))
            .caused_by(format!("`Location: {}`", location.unwrap_or_default()))),
        }
    }

    /// The whole blob in one `PUT` (monolithic).
    fn put(&self, job: &BlobJob, bar: &Blob, location: &str) -> Result<()> {
        let url = with_query(location, &[("digest", job.digest.as_str())]);
        let body = Body::Stream(bar.wrap(job.open(0)?), job.size);
        let req = Req::new(Method::PUT, url)
            .header("content-type", OCTETS)
            .body(body)
            .wait(Wait::Commit);
        let resp = self.client.send(req, &[201])?;
        check_digest(self.client, &resp, &job.digest, "a blob")
    }

    /// The chunk at `position`; then the next one, or the commit.
    fn patch(
        &self,
        job: &BlobJob,
        bar: &Blob,
        location: &str,
        position: u64,
        chunk: u64,
    ) -> Result<Step> {
        let len = chunk.min(job.size - position);
        if len == 0 {
            return Ok(Step::Commit(location.to_owned()));
        }
        let range = format!("{position}-{}", position + len - 1);
        let body = Body::Stream(bar.wrap(Box::new(job.open(position)?.take(len))), len);
        let req = Req::new(Method::PATCH, location.to_owned())
            .header("content-type", OCTETS)
            .header("content-range", range)
            .body(body);
        let resp = self.client.send(req, &[202])?;
        let location = self.location(location, &resp)?;
        match uploaded(&resp).unwrap_or(position + len) {
            done if done >= job.size => Ok(Step::Commit(location)),
            position => Ok(Step::Send { location, position }),
        }
    }

    /// Where an upload session stands; a new session when the registry no longer knows it.
    fn resume(&self, location: &str) -> Result<Step> {
        match self
            .client
            .send(Req::new(Method::GET, location.to_owned()), &[204])
        {
            Ok(resp) => Ok(Step::Send {
                location: self.location(location, &resp)?,
                position: uploaded(&resp).unwrap_or(0),
            }),
            Err(e) if matches!(status_of(&e), Some(404 | 416)) => Ok(Step::Start),
            Err(e) => Err(e),
        }
    }
}

/// The state of one blob upload between its steps.
struct Upload {
    step: Step,
    mount_tried: bool,
    /// Whether any bytes were sent: a blob found afterwards is ours, not one that existed.
    sent: bool,
    /// An open chunked session to resume after a failed commit.
    session: Option<String>,
}

impl Upload {
    /// The step after `failed` failed with `err`.
    fn recover(&mut self, failed: Step, err: &Error, chunked: bool) -> Step {
        let lost = matches!(status_of(err), Some(404 | 416));
        match failed {
            Step::Check | Step::Start | Step::Resume(_) => failed,
            // A chunk: ask the session how far it got, unless the registry dropped it.
            Step::Send { location, .. } if chunked && !lost => Step::Resume(location),
            // The answer to a `PUT` may have been lost after the blob was stored: look first.
            Step::Commit(location) if !lost => {
                self.session = Some(location);
                Step::Check
            }
            Step::Send { .. } | Step::Commit(_) => {
                self.session = None;
                Step::Check
            }
        }
    }
}

/// One request of a blob upload.
#[derive(Clone, Debug)]
enum Step {
    /// `HEAD`: whether the registry has the blob (then a mount, on the first pass).
    Check,
    /// `POST`: a new upload session.
    Start,
    /// `GET` an upload session: how much of the blob the registry holds.
    Resume(String),
    /// `PUT` the whole blob (monolithic), or `PATCH` the chunk at `position`.
    Send { location: String, position: u64 },
    /// The final `PUT` of a chunked upload.
    Commit(String),
}

impl Step {
    /// How far the upload has got, for the retry budget: recovery steps are no progress.
    fn mark(&self, size: u64) -> u64 {
        match self {
            Step::Check | Step::Resume(_) => 0,
            Step::Start => 1,
            Step::Send { position, .. } => 2 + position,
            Step::Commit(_) => 3 + size,
        }
    }
}

enum Mount {
    Done(Outcome),
    Session(String),
    No,
}

/// A `404` or `416` for an upload session means the registry dropped it (or lost count): worth
/// another try with a new session, unlike a `404` for the repository when starting one.
fn session_lost(err: Error) -> Error {
    match status_of(&err) {
        Some(404 | 416) => failure::transient(err),
        _ => err,
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
