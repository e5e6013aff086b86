//! `LayerBuilder`: entries in, one reproducible gzip-compressed tar layer out.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use gzp::deflate::Gzip;
use gzp::par::compress::{ParCompress, ParCompressBuilder};
use gzp::{Compression, ZWriter};
use oci_spec::image::MediaType;

use super::{Content, Layer};
use crate::error::{Error, Result};
use crate::oci::blob::{BlobSource, ExactReader};
use crate::oci::digest::{Digest, HashingWriter};

/// Pinned so that an upgrade of the default does not change every layer digest. Level 1, as
/// go-containerregistry (ko) does: on a 27 MB binary it compresses in about a third of the time
/// of level 6 for ~14% more bytes, and the application layer is recompressed on every rebuild.
const GZIP_LEVEL: u32 = 1;
/// The tar stream is compressed in blocks of this size on every core, each block a raw deflate
/// stream ended on a byte boundary, all in one gzip member (pigz's scheme, without priming a
/// block with the one before: +0.1% bytes on a 27 MB binary at 1 MiB). Pinned: the bytes
/// depend on it and on the level, never on the number of threads.
const GZIP_BLOCK: usize = 1024 * 1024;
/// Mode of parent directories the builder adds on its own.
const PARENT_DIR_MODE: u32 = 0o755;

#[derive(Clone, Debug)]
enum Kind {
    Dir,
    File(Content),
    Symlink(String),
}

#[derive(Clone, Debug)]
struct Entry {
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Collects entries, then writes them as one gzip-compressed tar layer.
///
/// Paths are given as in the image (`/usr/bin/app` or `usr/bin/app`). Adding methods never fail;
/// the first problem (a bad path, a duplicate) is reported by `finish()`.
#[derive(Debug)]
pub struct LayerBuilder {
    mtime: u64,
    entries: BTreeMap<String, Entry>,
    scratch_dir: Option<PathBuf>,
    error: Option<Error>,
}

impl LayerBuilder {
    /// `mtime` is stamped on every entry; pass `SOURCE_DATE_EPOCH` or 0, never "now".
    pub fn new(mtime: u64) -> LayerBuilder {
        LayerBuilder {
            mtime,
            entries: BTreeMap::new(),
            scratch_dir: None,
            error: None,
        }
    }

    /// Where the compressed layer is written (default: the system temp dir). Pick a directory on
    /// the same disk as the output when layers are big and `/tmp` is a small tmpfs.
    pub fn scratch_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.scratch_dir = Some(dir.into());
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.add(path, Kind::Dir, mode)
    }

    pub fn file(&mut self, path: &str, mode: u32, content: impl Into<Content>) -> &mut Self {
        self.add(path, Kind::File(content.into()), mode)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(path, Kind::Symlink(target.to_owned()), 0o777)
    }

    /// Set the owner of an entry added before (everything else is owned by 0:0), e.g. 65532 for
    /// `/home/nonroot`.
    pub fn chown(&mut self, path: &str, uid: u32, gid: u32) -> &mut Self {
        match normalize(path).and_then(|key| {
            self.entries.get_mut(&key).ok_or_else(|| {
                Error::user(format!(
                    "cannot chown `{path}`: it was not added to the layer"
                ))
            })
        }) {
            Ok(entry) => (entry.uid, entry.gid) = (uid, gid),
            Err(e) => self.fail(e),
        }
        self
    }

    fn add(&mut self, path: &str, kind: Kind, mode: u32) -> &mut Self {
        let entry = Entry {
            kind,
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
        };
        match normalize(path) {
            Ok(key) if self.entries.contains_key(&key) => {
                self.fail(Error::user(format!("`{path}` is added to the layer twice")))
            }
            Ok(key) => drop(self.entries.insert(key, entry)),
            Err(e) => self.fail(e),
        }
        self
    }

    fn fail(&mut self, e: Error) {
        self.error.get_or_insert(e);
    }

    /// A sha256 over everything that decides the layer's bytes: each entry's path, kind, mode,
    /// owner and symlink target, the *contents* of each file (host files are read and hashed),
    /// the mtime, the gzip level and `producer` (who writes the bytes). Two builders with the
    /// same fingerprint finish to the same blob. The first problem (see `finish`) is an error.
    pub fn fingerprint(&self, producer: &str) -> Result<Digest> {
        if let Some(e) = &self.error {
            return Err(Error::user(e.message().to_owned()));
        }
        let mut h = HashingWriter::new(std::io::sink());
        let mut put = |bytes: &[u8]| {
            // Length-prefixed, so that no two different entry lists hash the same bytes.
            let _ = h.write_all(&(bytes.len() as u64).to_le_bytes());
            let _ = h.write_all(bytes);
        };
        put(b"gantry layer v1");
        put(producer.as_bytes());
        put(&self.mtime.to_le_bytes());
        put(&GZIP_LEVEL.to_le_bytes());
        put(&(GZIP_BLOCK as u64).to_le_bytes());
        for (path, entry) in &self.entries {
            put(path.as_bytes());
            put(&[
                entry.mode.to_le_bytes(),
                entry.uid.to_le_bytes(),
                entry.gid.to_le_bytes(),
            ]
            .concat());
            match &entry.kind {
                Kind::Dir => put(b"dir"),
                Kind::Symlink(target) => {
                    put(b"symlink");
                    put(target.as_bytes());
                }
                Kind::File(Content::Bytes(bytes)) => {
                    put(b"bytes");
                    put(Digest::of(bytes).as_str().as_bytes());
                }
                Kind::File(Content::Host(host)) => {
                    let (digest, size) =
                        super::cache::hash_file(host).map_err(|e| Error::io("read", host, e))?;
                    put(b"file");
                    put(&size.to_le_bytes());
                    put(digest.as_str().as_bytes());
                }
            }
        }
        Ok(h.finish().1)
    }

    /// Write the layer to a temp file and return it with its digests.
    pub fn finish(mut self) -> Result<Layer> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let entries = with_parents(self.entries)?;
        let temp = match &self.scratch_dir {
            Some(dir) => tempfile::NamedTempFile::new_in(dir),
            None => tempfile::NamedTempFile::new(),
        }
        .map_err(|e| Error::failure("failed to create a temp file for a layer").caused_by(e))?;
        let (file, temp) = temp.into_parts();
        let where_ = temp.to_path_buf();
        let io_err = |e: std::io::Error| Error::io("write layer", &where_, e);

        // tar -> hash (diff_id) -> gzip (parallel) -> hash (digest) -> file
        let blob = HashingWriter::new(BufWriter::new(file));
        let mut tar = tar::Builder::new(HashingWriter::new(gzip_writer(blob)?));
        for (path, entry) in &entries {
            append(&mut tar, path, entry, self.mtime)?;
        }
        let (mut gzip, diff_id, _) = tar.into_inner().map_err(io_err)?.finish();
        let blob = gzip.finish().map_err(|e| {
            Error::failure(format!(
                "failed to compress the layer `{}`",
                where_.display()
            ))
            .caused_by(e)
        })?;
        let (buffered, digest, size) = blob.finish();
        buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
        let source = BlobSource::Temp(Arc::new(temp));
        Ok(Layer {
            digest,
            size,
            diff_id,
            media_type: MediaType::ImageLayerGzip,
            source,
        })
    }
}

/// A gzip writer that compresses on every core; its bytes do not depend on how many there are.
fn gzip_writer<W: Write + Send + 'static>(out: W) -> Result<ParCompress<'static, Gzip, W>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    gzip_writer_with(out, threads)
}

pub(super) fn gzip_writer_with<W: Write + Send + 'static>(
    out: W,
    threads: usize,
) -> Result<ParCompress<'static, Gzip, W>> {
    let failed =
        |e: gzp::GzpError| Error::failure("failed to start the layer compressor").caused_by(e);
    Ok(ParCompressBuilder::<Gzip>::new()
        .buffer_size(GZIP_BLOCK)
        .map_err(failed)?
        .num_threads(threads)
        .map_err(failed)?
        .compression_level(Compression::new(GZIP_LEVEL))
        .from_writer(out))
}

/// `/a//b/./c/` -> `a/b/c`; `..` is refused so that no entry can point outside the root.
fn normalize(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::user(format!(
                    "layer path `{path}` must not contain `..`"
                )));
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(Error::user(format!(
            "layer path `{path}` names the root directory"
        )));
    }
    Ok(parts.join("/"))
}

/// Add every missing ancestor as a root-owned 0755 directory, so extractors never invent their
/// own (with their own modes and times).
fn with_parents(mut entries: BTreeMap<String, Entry>) -> Result<BTreeMap<String, Entry>> {
    let paths: Vec<String> = entries.keys().cloned().collect();
    for path in &paths {
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            match entries.get(parent) {
                Some(Entry {
                    kind: Kind::Dir, ..
                }) => {}
                Some(_) => {
                    return Err(Error::user(format!(
                        "cannot add `/{path}` to the layer: `/{parent}` is not a directory"
                    )));
                }
                None => {
                    let dir = Entry {
                        kind: Kind::Dir,
                        mode: PARENT_DIR_MODE,
                        uid: 0,
                        gid: 0,
                    };
                    entries.insert(parent.to_owned(), dir);
                }
            }
        }
    }
    Ok(entries)
}

/// A GNU header with every field we do not set explicitly left zero: no user or group names,
/// no device numbers. Shared with the docker archive writer.
pub(crate) fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    entry: &Entry,
    mtime: u64,
) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::failure(format!("failed to add `/{path}` to a layer")).caused_by(e)
    };
    let header = |kind, size| {
        let mut h = header(kind, entry.mode, size, mtime);
        h.set_uid(entry.uid.into());
        h.set_gid(entry.gid.into());
        h
    };
    match &entry.kind {
        Kind::Dir => {
            let mut h = header(tar::EntryType::Directory, 0);
            tar.append_data(&mut h, format!("{path}/"), std::io::empty())
                .map_err(fail)
        }
        Kind::Symlink(target) => {
            let mut h = header(tar::EntryType::Symlink, 0);
            tar.append_link(&mut h, path, target).map_err(fail)
        }
        Kind::File(Content::Bytes(bytes)) => {
            let mut h = header(tar::EntryType::Regular, bytes.len() as u64);
            tar.append_data(&mut h, path, bytes.as_slice())
                .map_err(fail)
        }
        Kind::File(Content::Host(host)) => {
            let file = File::open(host).map_err(|e| Error::io("read", host, e))?;
            let len = file
                .metadata()
                .map_err(|e| Error::io("read", host, e))?
                .len();
            let mut h = header(tar::EntryType::Regular, len);
            let data = ExactReader::new(file, len, host.clone());
            tar.append_data(&mut h, path, data).map_err(fail)
        }
    }
}
