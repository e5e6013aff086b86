//! Reading a docker archive (`docker save` output, old or new style) as a base image.
//!
//! Both styles have `manifest.json`; old style names layers `<id>/layer.tar` (uncompressed,
//! sometimes symlinked between images), new style (docker 25+) names them `blobs/sha256/<hex>`.
//! Nothing is extracted: each layer is a byte range of the archive file itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use oci_spec::image::{ImageConfiguration, MediaType};

use super::{DockerManifest, docker_name};
use crate::error::{Error, Result};
use crate::oci::blob::BlobSource;
use crate::oci::digest::{Digest, HashingWriter};
use crate::oci::image::Image;
use crate::oci::layer::Layer;

/// Where an archive member's bytes are, or which member it links to.
#[derive(Clone, Debug)]
enum Member {
    Data { offset: u64, size: u64 },
    Link(String),
}

struct Archive<'a> {
    path: &'a Path,
    members: BTreeMap<String, Member>,
}

/// Read the image tagged `tag` (or the only image) from the docker archive at `path`.
pub fn read(path: &Path, tag: Option<&str>) -> Result<Image> {
    let archive = Archive::index(path)?;
    let manifests: Vec<DockerManifest> = archive.json("manifest.json")?;
    let manifest = select(path, &manifests, tag)?;
    let config: ImageConfiguration = archive.json(&manifest.config)?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::user(format!(
            "image in `{}` lists {} diff_ids in its config for {} layers",
            path.display(),
            diff_ids.len(),
            manifest.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (name, diff_id) in manifest.layers.iter().zip(diff_ids) {
        let diff_id = Digest::parse(diff_id)?;
        let (offset, size) = archive.data(name)?;
        let source = BlobSource::File {
            path: path.to_owned(),
            offset,
        };
        let mut magic = [0u8; 4];
        let sniffed = source.open(size)?.read(&mut magic).unwrap_or(0);
        let media_type = match magic[..sniffed] {
            [0x1f, 0x8b, ..] => MediaType::ImageLayerGzip,
            [0x28, 0xb5, 0x2f, 0xfd] => MediaType::ImageLayerZstd,
            _ => MediaType::ImageLayer,
        };
        let named = name
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::from_hex(hex).ok());
        let digest = match (named, &media_type) {
            (Some(digest), _) => digest,
            // An uncompressed layer's blob digest is its diff_id by definition.
            (None, MediaType::ImageLayer) => diff_id.clone(),
            (None, _) => hash(&source, size)?,
        };
        layers.push(Layer::from_blob(digest, size, diff_id, media_type, source));
    }
    Image::from_parts(config, layers)
}

fn select<'m>(
    path: &Path,
    manifests: &'m [DockerManifest],
    tag: Option<&str>,
) -> Result<&'m DockerManifest> {
    let tags = |m: &'m DockerManifest| m.repo_tags.iter().flatten();
    let found = match tag {
        Some(tag) => {
            let wanted = docker_name(tag);
            manifests
                .iter()
                .find(|m| tags(m).any(|t| docker_name(t) == wanted))
        }
        None if manifests.len() == 1 => manifests.first(),
        None => None,
    };
    if let Some(m) = found {
        return Ok(m);
    }
    let mut all: Vec<&str> = manifests
        .iter()
        .flat_map(tags)
        .map(String::as_str)
        .collect();
    all.sort_unstable();
    let what = match tag {
        Some(tag) => format!("no image tagged `{tag}` in `{}`", path.display()),
        None => format!(
            "`{}` holds {} images; say which one",
            path.display(),
            manifests.len()
        ),
    };
    Err(Error::user(what).with_hint(format!("tags in this archive: `{}`", all.join("`, `"))))
}

fn hash(source: &BlobSource, size: u64) -> Result<Digest> {
    let mut writer = HashingWriter::new(std::io::sink());
    std::io::copy(&mut source.open(size)?, &mut writer)
        .map_err(|e| Error::io("read", source.path(), e))?;
    Ok(writer.finish().1)
}

impl<'a> Archive<'a> {
    /// One pass over the tar headers (seeking over the data) to learn where every member is.
    fn index(path: &'a Path) -> Result<Archive<'a>> {
        let fail = |e| {
            Error::user(format!(
                "failed to read docker archive `{}`",
                path.display()
            ))
            .caused_by(e)
        };
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut tar = tar::Archive::new(BufReader::new(file));
        let mut members = BTreeMap::new();
        for entry in tar.entries_with_seek().map_err(fail)? {
            let entry = entry.map_err(fail)?;
            let name = clean(&entry.path().map_err(fail)?.to_string_lossy());
            let member = match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry.link_name().map_err(fail)?.unwrap_or_default();
                    let target = target.to_string_lossy();
                    // Symlinks are relative to their directory; hard links to the archive root.
                    match (entry.header().entry_type(), name.rsplit_once('/')) {
                        (tar::EntryType::Symlink, Some((dir, _))) => {
                            Member::Link(clean(&format!("{dir}/{target}")))
                        }
                        _ => Member::Link(clean(&target)),
                    }
                }
                _ => Member::Data {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
            };
            members.insert(name, member);
        }
        Ok(Archive { path, members })
    }

    /// Offset and size of a member, following links (a bounded number of times).
    fn data(&self, name: &str) -> Result<(u64, u64)> {
        let mut name = clean(name);
        for _ in 0..16 {
            match self.members.get(&name) {
                Some(Member::Data { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(target)) => name = target.clone(),
                None => break,
            }
        }
        Err(Error::user(format!(
            "docker archive `{}` has no usable `{name}`",
            self.path.display()
        )))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let (offset, size) = self.data(name)?;
        let mut bytes = Vec::new();
        let source = BlobSource::File {
            path: self.path.to_owned(),
            offset,
        };
        source
            .open(size)?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", self.path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::user(format!(
                "failed to parse `{name}` in `{}`",
                self.path.display()
            ))
            .caused_by(e)
        })
    }
}

/// `./a/../b//c` -> `b/c`, so names from headers, links and `manifest.json` compare equal.
fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => drop(parts.pop()),
            _ => parts.push(part),
        }
    }
    parts.join("/")
}
