//! Layers: the `Layer` value (digest, diff_id, where its bytes are) and a deterministic builder.
//!
//! The same entries always give the same bytes: entries sorted by path, fixed owner, empty user
//! and group names, one caller-chosen mtime, fixed GNU tar headers, and gzip at a pinned level
//! with a fixed header. Nothing from the host (uid, gid, mtime, xattrs, permissions) leaks in.

mod builder;
pub mod cache;

use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, MediaType};

use crate::error::Result;
use crate::oci::blob::BlobSource;
use crate::oci::digest::Digest;

pub use builder::LayerBuilder;
pub(crate) use builder::header;
pub use cache::{LayerCache, Lookup};

/// One layer of an image: the compressed blob and the digest of its uncompressed tar.
#[derive(Clone, Debug)]
pub struct Layer {
    digest: Digest,
    size: u64,
    diff_id: Digest,
    media_type: MediaType,
    source: BlobSource,
}

impl Layer {
    /// A layer whose blob already exists, e.g. a base-image layer read from disk. The digest is
    /// checked again when the blob is copied anywhere.
    pub fn from_blob(
        digest: Digest,
        size: u64,
        diff_id: Digest,
        media_type: MediaType,
        source: BlobSource,
    ) -> Layer {
        Layer {
            digest,
            size,
            diff_id,
            media_type,
            source,
        }
    }

    /// Digest of the blob as stored (compressed).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Digest of the uncompressed tar, as listed in the config's `rootfs.diff_ids`.
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }

    pub fn media_type(&self) -> &MediaType {
        &self.media_type
    }

    pub fn source(&self) -> &BlobSource {
        &self.source
    }

    /// A reader over the stored blob bytes.
    pub fn open(&self) -> Result<Box<dyn std::io::Read + Send>> {
        self.source.open(self.size)
    }

    /// A reader over the stored blob bytes from `position` on.
    pub fn open_at(&self, position: u64) -> Result<Box<dyn std::io::Read + Send>> {
        self.source.open_at(self.size, position)
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.size, &self.digest)
    }
}

/// What a file entry contains.
#[derive(Clone, Debug)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A file on the host, streamed in at `finish()` (only its bytes are used, not its metadata).
    Host(PathBuf),
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Self {
        Content::Bytes(bytes)
    }
}

impl From<&[u8]> for Content {
    fn from(bytes: &[u8]) -> Self {
        Content::Bytes(bytes.to_vec())
    }
}

impl From<&Path> for Content {
    fn from(path: &Path) -> Self {
        Content::Host(path.to_owned())
    }
}

impl From<PathBuf> for Content {
    fn from(path: PathBuf) -> Self {
        Content::Host(path)
    }
}

#[cfg(test)]
mod tests;
