//! `fsck` for OCI layouts: re-hash every blob, then follow index -> manifest -> config/layers and
//! check every digest, size and diff_id on the way. Problems are collected, not fatal, so one run
//! lists everything that is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::error::{Error, Result};
use crate::oci::digest::{Digest, HashingWriter};
use crate::oci::layout::read::{Target, layer_media_type, target};

/// One thing wrong with a layout, naming the blob when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub blob: Option<Digest>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.blob {
            Some(blob) => write!(f, "blob `{blob}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// Blob files re-hashed.
    pub blobs: usize,
    pub problems: Vec<Problem>,
    /// Layers whose diff_id could not be checked (compression we cannot decode, e.g. zstd).
    pub unverified: Vec<Digest>,
}

impl Report {
    /// `Ok` when there is no problem; otherwise one error listing all of them.
    pub fn into_result(self, dir: &Path) -> Result<()> {
        if self.problems.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self.problems.iter().map(|p| p.to_string()).collect();
        Err(
            Error::failure(format!("OCI layout `{}` is corrupted", dir.display()))
                .caused_by(list.join("\n")),
        )
    }
}

/// Check the layout at `dir`. Only failing to read the layout at all is an `Err`.
pub fn check(dir: &Path) -> Result<Report> {
    let mut fsck = Fsck {
        dir,
        sizes: BTreeMap::new(),
        seen: BTreeSet::new(),
        report: Report::default(),
    };
    if !dir.join("oci-layout").is_file() {
        fsck.problem(None, "the `oci-layout` file is missing".to_owned());
    }
    fsck.hash_all_blobs()?;
    let index_path = dir.join("index.json");
    let bytes = fs::read(&index_path).map_err(|e| Error::io("read", &index_path, e))?;
    match serde_json::from_slice::<ImageIndex>(&bytes) {
        Ok(index) => index.manifests().iter().for_each(|d| fsck.descriptor(d)),
        Err(e) => fsck.problem(
            None,
            format!("`index.json` is not a valid image index: {e}"),
        ),
    }
    Ok(fsck.report)
}

struct Fsck<'a> {
    dir: &'a Path,
    /// Size of every blob whose content matches its name.
    sizes: BTreeMap<Digest, u64>,
    /// Descriptors already followed (layers are often shared between manifests).
    seen: BTreeSet<Digest>,
    report: Report,
}

impl Fsck<'_> {
    fn problem(&mut self, blob: Option<&Digest>, message: String) {
        self.report.problems.push(Problem {
            blob: blob.cloned(),
            message,
        });
    }

    fn hash_all_blobs(&mut self) -> Result<()> {
        let blobs = self.dir.join("blobs").join("sha256");
        let entries = fs::read_dir(&blobs).map_err(|e| Error::io("read directory", &blobs, e))?;
        let mut names = Vec::new();
        for entry in entries {
            names.push(
                entry
                    .map_err(|e| Error::io("read directory", &blobs, e))?
                    .file_name(),
            );
        }
        names.sort();
        for name in names {
            let path = blobs.join(&name);
            let Ok(named) = Digest::from_hex(&name.to_string_lossy()) else {
                self.problem(
                    None,
                    format!("`{}` is not named by a sha256 digest", path.display()),
                );
                continue;
            };
            let file = File::open(&path).map_err(|e| Error::io("read blob", &path, e))?;
            let (actual, size) = hash(file).map_err(|e| Error::io("read blob", &path, e))?;
            self.report.blobs += 1;
            if actual == named {
                self.sizes.insert(named, size);
            } else {
                self.problem(Some(&named), format!("content hashes to `{actual}`"));
            }
        }
        Ok(())
    }

    /// Whether the blob a descriptor names is present, intact and of the announced size.
    fn blob_ok(&mut self, d: &Descriptor) -> Option<Digest> {
        let Ok(digest) = Digest::try_from(d.digest()) else {
            self.problem(None, format!("unsupported digest `{}`", d.digest()));
            return None;
        };
        match self.sizes.get(&digest) {
            Some(&size) if size == d.size() => Some(digest),
            Some(&size) => {
                self.problem(
                    Some(&digest),
                    format!("has {size} bytes but its descriptor says {}", d.size()),
                );
                None
            }
            // Corrupted blobs were reported while hashing; only report missing ones here.
            None if self.dir.join(digest.blob_path()).exists() => None,
            None => {
                self.problem(Some(&digest), "is referenced but missing".to_owned());
                None
            }
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self, digest: &Digest, what: &str) -> Option<T> {
        let parsed = fs::read(self.dir.join(digest.blob_path()))
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
        parsed
            .map_err(|e| self.problem(Some(digest), format!("is not a valid {what}: {e}")))
            .ok()
    }

    fn descriptor(&mut self, d: &Descriptor) {
        let Some(digest) = self.blob_ok(d) else {
            return;
        };
        if !self.seen.insert(digest.clone()) {
            return;
        }
        match target(d.media_type()) {
            Target::Index => {
                if let Some(index) = self.json::<ImageIndex>(&digest, "image index") {
                    index.manifests().iter().for_each(|d| self.descriptor(d));
                }
            }
            Target::Manifest => {
                if let Some(manifest) = self.json::<ImageManifest>(&digest, "image manifest") {
                    self.manifest(&manifest);
                }
            }
            Target::Other => {}
        }
    }

    fn manifest(&mut self, manifest: &ImageManifest) {
        let Some(config_digest) = self.blob_ok(manifest.config()) else {
            return;
        };
        if manifest.config().media_type() != &MediaType::ImageConfig {
            // An artifact (OCI 1.1): its blobs are checked, there is no rootfs to match.
            for blob in manifest.layers() {
                self.blob_ok(blob);
            }
            if let Some(subject) = manifest.subject() {
                self.blob_ok(subject);
            }
            return;
        }
        let Some(config) = self.json::<ImageConfiguration>(&config_digest, "image config") else {
            return;
        };
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            let (n, m) = (diff_ids.len(), manifest.layers().len());
            self.problem(
                Some(&config_digest),
                format!("lists {n} diff_ids for {m} layers"),
            );
        }
        for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
            if let Some(digest) = self.blob_ok(layer) {
                self.diff_id(&digest, layer.media_type(), diff_id);
            }
        }
    }

    fn diff_id(&mut self, digest: &Digest, media_type: &MediaType, diff_id: &str) {
        let path = self.dir.join(digest.blob_path());
        let actual = match layer_media_type(media_type) {
            Ok(MediaType::ImageLayer) => Ok(digest.clone()),
            Ok(MediaType::ImageLayerGzip) => File::open(&path)
                .and_then(|f| hash(flate2::read::MultiGzDecoder::new(f)))
                .map(|(d, _)| d)
                .map_err(|e| format!("cannot be decompressed: {e}")),
            Ok(_) => return self.report.unverified.push(digest.clone()),
            Err(e) => Err(e.message().to_owned()),
        };
        match actual {
            Ok(actual) if actual.as_str() == diff_id => {}
            Ok(actual) => self.problem(
                Some(digest),
                format!(
                    "uncompressed content hashes to `{actual}`, but the config says `{diff_id}`"
                ),
            ),
            Err(message) => self.problem(Some(digest), message),
        }
    }
}

fn hash(mut reader: impl Read) -> io::Result<(Digest, u64)> {
    let mut writer = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut writer)?;
    let (_, digest, size) = writer.finish();
    Ok((digest, size))
}

#[cfg(test)]
#[path = "fsck_tests.rs"]
mod tests;
