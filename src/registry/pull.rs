//! Pull a base image from a registry into a digest-addressed blob cache, as an `oci::Image`
//! whose layers are the cached files (nothing is copied again until the image is published).
//!
//! A tag costs one `HEAD` to learn its digest; everything below that digest (index, manifest,
//! config, layers) is content-addressed, so once cached it is never downloaded again. Every
//! download is hashed while it is written and only renamed into the cache when it matches.
//! Each download is one unit of work for the retry layer: a body that breaks off is fetched again.

use std::path::PathBuf;

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use ureq::http::Method;

use super::client::{Client, ClientOptions, Req};
use super::failure::status_of;
use super::progress::Progress;
use super::reference::ImageRef;
use crate::error::{Error, Result};
use crate::oci::blob::{BlobSource, write_blob};
use crate::oci::layout::read::{Target, layer_media_type, target};
use crate::oci::{Digest, Image, Layer, Platform};
use crate::settings::env;

/// OCI annotations naming the base image; `push` also reads `BASE_NAME` to find mount sources.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Everything we can read, so the registry does not downgrade to schema 1 or pick an index.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// A manifest or index larger than this is not one.
const MANIFEST_LIMIT: u64 = 4 << 20;
const MAX_NESTING: usize = 8;

#[derive(Clone, Debug)]
pub struct PullOptions {
    pub client: ClientOptions,
    /// Where blobs are kept, as `sha256/<hex>` files.
    pub cache_dir: PathBuf,
    /// Layers downloaded at the same time.
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            client: ClientOptions::default(),
            cache_dir: default_cache_dir(),
            jobs: 4,
        }
    }
}

/// `$XDG_CACHE_HOME/gantry/blobs`, else `~/.cache/gantry/blobs`, else the temp dir.
pub fn default_cache_dir() -> PathBuf {
    // XDG's and the shell's own variables, not gantry settings (named in `settings::env`).
    let xdg = std::env::var_os(env::XDG_CACHE_HOME)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let home = || std::env::var_os(env::HOME).map(|h| PathBuf::from(h).join(".cache"));
    xdg.or_else(home)
        .unwrap_or_else(std::env::temp_dir)
        .join("gantry")
        .join("blobs")
}

/// Pull `reference` for `platform` (a multi-platform index is narrowed to it).
pub fn pull(reference: &ImageRef, platform: &Platform, options: &PullOptions) -> Result<Image> {
    let scopes = vec![format!("repository:{}:pull", reference.repository())];
    let client = Client::new(
        reference,
        scopes,
        format!("pulling `{reference}`"),
        &options.client,
    )?;
    let dir = options.cache_dir.join("sha256");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create the blob cache", &dir, e))?;
    let puller = Puller {
        client: &client,
        reference,
        dir,
        progress: Progress::new(options.client.progress),
    };
    let not_found = |e: Error| {
        match status_of(&e) {
        Some(404) => e.with_hint(format!(
            "check the reference: gantry looked for `{reference}` (a name without a registry host is on Docker Hub, under `library/` when it has no `/`)"
        )),
        _ => e,
    }
    };

    let mut digest = match reference.digest() {
        Some(d) => d.clone(),
        None => puller.resolve_tag().map_err(not_found)?,
    };
    for _ in 0..MAX_NESTING {
        let bytes = puller.small_blob(&digest, "manifests").map_err(not_found)?;
        let kind: Kind = parse(reference, &bytes)?;
        let media_type = kind.media_type.as_deref().map(MediaType::from);
        match media_type.as_ref().map(target) {
            Some(Target::Index) | None if kind.manifests.is_some() => {
                let index: ImageIndex = parse(reference, &bytes)?;
                let found = index
                    .manifests()
                    .iter()
                    .find(|d| d.platform().as_ref().is_some_and(|p| platform.matches(p)));
                let Some(found) = found else {
                    let mut available: Vec<String> = index
                        .manifests()
                        .iter()
                        .filter_map(|d| d.platform().as_ref())
                        .map(|p| Platform::from(p).to_string())
                        .collect();
                    available.sort();
                    return Err(
                        Error::user(format!("`{reference}` has no `{platform}` image"))
                            .with_hint(format!("available platforms: {}", available.join(", "))),
                    );
                };
                digest = Digest::try_from(found.digest())?;
            }
            Some(Target::Manifest) | None => {
                let manifest: ImageManifest = parse(reference, &bytes)?;
                let mut image = puller.image(&manifest, platform, options.jobs)?;
                image.annotate(BASE_NAME, reference.to_string());
                image.annotate(BASE_DIGEST, digest.to_string());
                return Ok(image);
            }
            Some(_) => {
                return Err(Error::user(format!(
                    "`{reference}` is not an image (media type `{}`)",
                    media_type.map(|m| m.to_string()).unwrap_or_default()
                )));
            }
        }
    }
    Err(Error::user(format!(
        "the indexes of `{reference}` are nested too deeply"
    )))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kind {
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
}

fn parse<T: serde::de::DeserializeOwned>(reference: &ImageRef, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::failure(format!(
            "the registry sent an unreadable manifest for `{reference}`"
        ))
        .caused_by(e)
    })
}

struct Puller<'a> {
    client: &'a Client,
    reference: &'a ImageRef,
    dir: PathBuf,
    progress: Progress,
}

impl Puller<'_> {
    fn manifest_url(&self, reference: &str) -> String {
        self.client.url(&format!(
            "{}/manifests/{reference}",
            self.reference.repository()
        ))
    }

    /// The digest a tag points at, from a `HEAD` (which Docker Hub does not rate-limit).
    fn resolve_tag(&self) -> Result<Digest> {
        let url = self.manifest_url(&self.reference.manifest_reference());
        self.client.retrying(|_| {
            let resp = self.client.send(
                Req::new(Method::HEAD, url.clone()).header("accept", ACCEPT),
                &[200],
            )?;
            if let Some(d) = resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| Digest::parse(v.to_str().ok()?).ok())
            {
                return Ok(d);
            }
            // Not every registry sends the digest on HEAD: fetch the manifest and hash it.
            let resp = self.client.send(
                Req::new(Method::GET, url.clone()).header("accept", ACCEPT),
                &[200],
            )?;
            let limit = Some(MANIFEST_LIMIT);
            let (digest, _) = self
                .client
                .read_body(&Method::GET, &url, resp, limit, |body| {
                    write_blob(&self.dir, body, None)
                })?;
            Ok(digest)
        })
    }

    fn cached(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// A manifest, index or config: from the cache, else downloaded, checked and cached.
    fn small_blob(&self, digest: &Digest, kind: &str) -> Result<Vec<u8>> {
        let path = self.cached(digest);
        if !path.exists() {
            let url = match kind {
                "manifests" => self.manifest_url(digest.as_str()),
                _ => self
                    .client
                    .url(&format!("{}/blobs/{digest}", self.reference.repository())),
            };
            self.client.retrying(|_| {
                let req = Req::new(Method::GET, url.clone()).header("accept", ACCEPT);
                let resp = self.client.send(req, &[200])?;
                let limit = Some(MANIFEST_LIMIT);
                self.client
                    .read_body(&Method::GET, &url, resp, limit, |body| {
                        write_blob(&self.dir, body, Some(digest))
                    })
            })?;
        }
        std::fs::read(&path).map_err(|e| Error::io("read", &path, e))
    }

    fn image(&self, manifest: &ImageManifest, platform: &Platform, jobs: usize) -> Result<Image> {
        let config_digest = Digest::try_from(manifest.config().digest())?;
        let config: ImageConfiguration =
            parse(self.reference, &self.small_blob(&config_digest, "blobs")?)?;
        let got = Platform {
            os: config.os().clone(),
            architecture: config.architecture().clone(),
            variant: config.variant().clone(),
        };
        if got.os != platform.os || got.architecture != platform.architecture {
            return Err(Error::user(format!(
                "`{}` is a `{got}` image, not `{platform}`",
                self.reference
            ))
            .with_hint("pick a base image for the target platform, or a multi-platform one"));
        }
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::user(format!(
                "`{}` lists {} diff_ids for {} layers",
                self.reference,
                diff_ids.len(),
                manifest.layers().len()
            )));
        }
        let descriptors = manifest.layers();
        let paths = super::parallel(descriptors, jobs.max(1), &self.client.cancel, |d| {
            self.layer(&Digest::try_from(d.digest())?, d.size())
        })?;
        let mut layers = Vec::new();
        for ((descriptor, diff_id), path) in descriptors.iter().zip(&diff_ids).zip(paths) {
            let media_type = layer_media_type(descriptor.media_type())?;
            let digest = Digest::try_from(descriptor.digest())?;
            layers.push(Layer::from_blob(
                digest,
                descriptor.size(),
                Digest::parse(diff_id)?,
                media_type,
                BlobSource::file(path),
            ));
        }
        Image::from_parts(config, layers)
    }

    /// A layer's cached file, downloading it first when missing (or of the wrong size).
    fn layer(&self, digest: &Digest, size: u64) -> Result<PathBuf> {
        let path = self.cached(digest);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
            return Ok(path);
        }
        let bar = self.progress.blob("pull", digest, size);
        let url = self
            .client
            .url(&format!("{}/blobs/{digest}", self.reference.repository()));
        self.client.retrying(|_| {
            bar.rewind(0);
            let resp = self
                .client
                .send(Req::new(Method::GET, url.clone()), &[200])?;
            self.client
                .read_body(&Method::GET, &url, resp, None, |body| {
                    write_blob(&self.dir, bar.wrap(Box::new(body)), Some(digest))
                })
        })?;
        bar.finish("pulled");
        Ok(path)
    }
}
