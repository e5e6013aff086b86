//! Docker archives (`docker save` / `docker load` format) that are also OCI layouts.
//!
//! One tar serves every consumer: `manifest.json` (with `RepoTags`) for `docker load` of any
//! version, and `oci-layout` + `index.json` + `blobs/sha256/` for docker 25+, containerd,
//! `skopeo oci-archive:` and friends. `manifest.json` points into `blobs/sha256/`, so no blob is
//! stored twice. Every tar header is fixed, so the same image always gives the same archive.

mod read;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::oci::digest::HashingReader;
use crate::oci::image::{Image, Rendered, canonical_json};
use crate::oci::layer::header;
use crate::oci::layout::{OCI_LAYOUT, check_tag, index_json};

pub use read::read;

/// containerd (and so docker 25+ with the containerd store) names imported images by this.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One entry of `manifest.json`, the docker format's index.
#[derive(Serialize, serde::Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DockerManifest {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

/// Write `image` as a docker archive at `dest`, tagged `tag`. The file appears only once complete.
pub fn write(dest: &Path, image: &Image, tag: &str) -> Result<Rendered> {
    check_tag(tag)?;
    check_replaceable(dest)?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let temp = tempfile::Builder::new()
        .prefix(".gantry-archive-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temp file in", dir, e))?;
    // Large writes: the layers are megabytes, and every write is a syscall.
    let mut out = BufWriter::with_capacity(1 << 20, temp);
    let rendered = write_to(&mut out, image, tag)?;
    let temp = out
        .into_inner()
        .map_err(|e| Error::io("write", dest, e.into_error()))?;
    temp.persist(dest)
        .map_err(|e| Error::io("write", dest, e.error))?;
    Ok(rendered)
}

/// Stream the archive into any writer (a file, `docker load`'s stdin).
pub fn write_to(out: impl Write, image: &Image, tag: &str) -> Result<Rendered> {
    check_tag(tag)?;
    let rendered = image.render()?;
    let io_err =
        |e: std::io::Error| Error::failure("failed to write a docker archive").caused_by(e);
    let mut tar = tar::Builder::new(out);
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0, 0);
        tar.append_data(&mut h, dir, std::io::empty())
            .map_err(io_err)?;
    }
    let mut written = BTreeSet::new();
    for layer in image.layers() {
        if written.insert(layer.digest().clone()) {
            let path = layer.digest().blob_path();
            if layer.source().trusted() {
                // Written or verified by this process: no second hash.
                append_file(&mut tar, &path, layer.size(), layer.open()?)?;
                continue;
            }
            let mut content = HashingReader::new(layer.open()?);
            append_file(&mut tar, &path, layer.size(), &mut content)?;
            // A base layer that changed on disk must not be passed off under its old digest.
            if content.digest() != *layer.digest() {
                return Err(Error::failure(format!(
                    "layer `{}` has the wrong content: its bytes hash to `{}`",
                    layer.digest(),
                    content.digest()
                ))
                .with_hint("the source image is corrupted; fetch or build it again"));
            }
        }
    }
    for json in [&rendered.config, &rendered.manifest] {
        let path = crate::oci::Digest::of(json).blob_path();
        append_file(&mut tar, &path, json.len() as u64, json.as_slice())?;
    }
    let name = docker_name(tag);
    let index = index_json(&rendered, tag, &[(CONTAINERD_NAME, &name)], &[])?;
    let manifest = canonical_json(&[DockerManifest {
        config: rendered.config_digest.blob_path(),
        repo_tags: Some(vec![tag.to_owned()]),
        layers: image
            .layers()
            .iter()
            .map(|l| l.digest().blob_path())
            .collect(),
    }])?;
    append_file(&mut tar, "index.json", index.len() as u64, index.as_slice())?;
    append_file(
        &mut tar,
        "manifest.json",
        manifest.len() as u64,
        manifest.as_slice(),
    )?;
    append_file(&mut tar, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
    tar.into_inner().map_err(io_err)?.flush().map_err(io_err)?;
    Ok(rendered)
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, 0o644, size, 0);
    tar.append_data(&mut h, path, data).map_err(|e| {
        Error::failure(format!("failed to write `{path}` into a docker archive")).caused_by(e)
    })
}

/// Only an existing tar file may be overwritten: a typo must not clobber e.g. `Cargo.toml`.
fn check_replaceable(dest: &Path) -> Result<()> {
    let refuse = |what: &str| {
        Err(
            Error::user(format!("refusing to replace `{}`: {what}", dest.display()))
                .with_hint("choose another output path, or move the existing one away yourself"),
        )
    };
    let mut file = match File::open(dest) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspect", dest, e)),
        Ok(file) => file,
    };
    if dest.is_dir() {
        return refuse("it is a directory");
    }
    let mut block = [0u8; 512];
    let is_tar = file.read_exact(&mut block).is_ok() && &block[257..262] == b"ustar";
    if !is_tar {
        return refuse("it exists and is not a tar archive");
    }
    Ok(())
}

/// The fully qualified name docker and containerd give a tag: `app` -> `docker.io/library/app:latest`.
pub fn docker_name(tag: &str) -> String {
    let (domain, rest) = match tag.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first, rest.to_owned())
        }
        _ => ("docker.io", tag.to_owned()),
    };
    let rest = if domain == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    let last = rest.rsplit('/').next().unwrap_or_default();
    let tagged = if last.contains([':', '@']) {
        rest
    } else {
        format!("{rest}:latest")
    };
    format!("{domain}/{tagged}")
}

#[cfg(test)]
mod tests;
