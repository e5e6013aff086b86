//! Reading an OCI layout as a base image: pick a manifest by name (or the only one), follow a
//! multi-platform index down to one platform, and reference the layer blobs where they are.

use std::fs;
use std::path::Path;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::de::DeserializeOwned;

use super::REF_NAME;
use crate::error::{Error, Result};
use crate::oci::blob::BlobSource;
use crate::oci::digest::Digest;
use crate::oci::image::Image;
use crate::oci::layer::Layer;
use crate::oci::platform::Platform;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Indexes may nest (an index per tag pointing at a per-platform index); content addressing
/// makes cycles impossible, but a bound keeps a malformed layout from looping.
const MAX_NESTING: usize = 8;

/// What a descriptor points at.
pub(crate) enum Target {
    Index,
    Manifest,
    Other,
}

pub(crate) fn target(media_type: &MediaType) -> Target {
    match media_type {
        MediaType::ImageIndex => Target::Index,
        MediaType::ImageManifest => Target::Manifest,
        MediaType::Other(s) if s == DOCKER_MANIFEST_LIST => Target::Index,
        MediaType::Other(s) if s == DOCKER_MANIFEST => Target::Manifest,
        _ => Target::Other,
    }
}

/// The OCI media type for a layer; docker's names for the same formats are translated.
pub(crate) fn layer_media_type(media_type: &MediaType) -> Result<MediaType> {
    match media_type {
        MediaType::ImageLayer | MediaType::ImageLayerGzip | MediaType::ImageLayerZstd => {
            Ok(media_type.clone())
        }
        MediaType::Other(s) if s == "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            Ok(MediaType::ImageLayerGzip)
        }
        MediaType::Other(s) if s == "application/vnd.docker.image.rootfs.diff.tar" => {
            Ok(MediaType::ImageLayer)
        }
        other => Err(Error::user(format!(
            "unsupported layer media type `{other}`"
        ))),
    }
}

/// Read the image named `tag` (or the only image) from the layout at `dir`, for `platform`
/// when the layout holds a multi-platform index.
pub fn read(dir: &Path, tag: Option<&str>, platform: &Platform) -> Result<Image> {
    if !dir.join("oci-layout").is_file() {
        return Err(Error::user(format!(
            "`{}` is not an OCI image layout: it has no `oci-layout` file",
            dir.display()
        )));
    }
    let index_path = dir.join("index.json");
    let bytes = fs::read(&index_path).map_err(|e| Error::io("read", &index_path, e))?;
    let index: ImageIndex = parse(&index_path, &bytes)?;
    let mut descriptor = select(dir, index.manifests(), tag)?;
    for _ in 0..MAX_NESTING {
        match target(descriptor.media_type()) {
            Target::Index => {
                let nested: ImageIndex = read_blob_json(dir, &descriptor)?;
                descriptor = pick_platform(dir, nested.manifests(), platform)?;
            }
            Target::Manifest => return from_manifest(dir, &read_blob_json(dir, &descriptor)?),
            Target::Other => {
                return Err(Error::user(format!(
                    "`{}` in `{}` is not an image (media type `{}`)",
                    descriptor.digest(),
                    dir.display(),
                    descriptor.media_type()
                )));
            }
        }
    }
    Err(Error::user(format!(
        "indexes in `{}` are nested too deeply",
        dir.display()
    )))
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

fn select(dir: &Path, manifests: &[Descriptor], tag: Option<&str>) -> Result<Descriptor> {
    let found = match tag {
        Some(tag) => manifests.iter().find(|d| ref_name(d) == Some(tag)),
        None if manifests.len() == 1 => manifests.first(),
        None => None,
    };
    if let Some(d) = found {
        return Ok(d.clone());
    }
    let mut names: Vec<&str> = manifests.iter().filter_map(ref_name).collect();
    names.sort_unstable();
    let what = match tag {
        Some(tag) => format!("no image named `{tag}` in `{}`", dir.display()),
        None if manifests.is_empty() => format!("`{}` holds no images", dir.display()),
        None => format!(
            "`{}` holds {} images; say which one",
            dir.display(),
            manifests.len()
        ),
    };
    let hint = match names.as_slice() {
        [] => "the layout's index.json names no images".to_owned(),
        names => format!("images in this layout: `{}`", names.join("`, `")),
    };
    Err(Error::user(what).with_hint(hint))
}

fn pick_platform(dir: &Path, manifests: &[Descriptor], platform: &Platform) -> Result<Descriptor> {
    let matches = |d: &&Descriptor| d.platform().as_ref().is_some_and(|p| platform.matches(p));
    if let Some(d) = manifests.iter().find(matches) {
        return Ok(d.clone());
    }
    let mut available: Vec<String> = manifests
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| Platform::from(p).to_string())
        .collect();
    available.sort();
    available.dedup();
    Err(
        Error::user(format!("no `{platform}` image in `{}`", dir.display()))
            .with_hint(format!("available platforms: {}", available.join(", "))),
    )
}

/// A small JSON blob (index, manifest, config), checked against its descriptor before use.
pub fn read_blob_json<T: DeserializeOwned>(dir: &Path, descriptor: &Descriptor) -> Result<T> {
    let digest = Digest::try_from(descriptor.digest())?;
    let path = dir.join(digest.blob_path());
    let bytes = fs::read(&path).map_err(|e| Error::io("read blob", &path, e))?;
    if bytes.len() as u64 != descriptor.size() || Digest::of(&bytes) != digest {
        return Err(
            Error::user(format!("blob `{}` is corrupted", path.display()))
                .with_hint("its size or content does not match the descriptor pointing at it"),
        );
    }
    parse(&path, &bytes)
}

fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::user(format!("failed to parse `{}`", path.display())).caused_by(e))
}

fn from_manifest(dir: &Path, manifest: &ImageManifest) -> Result<Image> {
    let config: ImageConfiguration = read_blob_json(dir, manifest.config())?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::user(format!(
            "image in `{}` lists {} diff_ids in its config for {} layers",
            dir.display(),
            diff_ids.len(),
            manifest.layers().len()
        )));
    }
    let mut layers = Vec::new();
    for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let digest = Digest::try_from(descriptor.digest())?;
        let path = dir.join(digest.blob_path());
        let len = fs::metadata(&path)
            .map_err(|e| Error::io("read blob", &path, e))?
            .len();
        if len != descriptor.size() {
            return Err(Error::user(format!(
                "blob `{}` has {len} bytes but its descriptor says {}",
                path.display(),
                descriptor.size()
            )));
        }
        let media_type = layer_media_type(descriptor.media_type())?;
        let source = BlobSource::file(path);
        layers.push(Layer::from_blob(
            digest,
            len,
            Digest::parse(diff_id)?,
            media_type,
            source,
        ));
    }
    Image::from_parts(config, layers)
}
