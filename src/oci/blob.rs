//! Where a blob's bytes live, and writing blobs into a `blobs/sha256/` directory.
//!
//! Layers can be hundreds of megabytes, so they are never held in memory: a built layer lives in
//! a temp file, a base-image layer stays where it was found (a layout's blob file, or a byte range
//! inside a docker archive) and is only streamed when published.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::oci::digest::{Digest, HashingWriter};

/// The bytes of one blob, readable any number of times.
#[derive(Clone, Debug)]
pub enum BlobSource {
    /// `size` bytes starting at `offset` in a file we do not own: a blob in an OCI layout
    /// (offset 0) or an entry inside a docker archive.
    File { path: PathBuf, offset: u64 },
    /// A temporary file we own; it is deleted when the last clone is dropped.
    Temp(Arc<tempfile::TempPath>),
    /// A whole file in gantry's own cache whose bytes this process has just hashed to the
    /// layer's digest. Like `Temp`, it may be hard-linked into an output instead of copied.
    Verified(PathBuf),
}

impl BlobSource {
    /// A whole file, e.g. `blobs/sha256/<hex>` in a layout.
    pub fn file(path: impl Into<PathBuf>) -> BlobSource {
        BlobSource::File {
            path: path.into(),
            offset: 0,
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            BlobSource::File { path, .. } | BlobSource::Verified(path) => path,
            BlobSource::Temp(temp) => temp,
        }
    }

    /// A reader over exactly the blob's `size` bytes; reading past a truncated file is an error
    /// rather than a silently short blob.
    pub fn open(&self, size: u64) -> Result<Box<dyn Read + Send>> {
        self.open_at(size, 0)
    }

    /// The blob's bytes from `position` on (of `size` in all), e.g. to resume an upload.
    pub fn open_at(&self, size: u64, position: u64) -> Result<Box<dyn Read + Send>> {
        let path = self.path();
        let offset = match self {
            BlobSource::File { offset, .. } => *offset,
            BlobSource::Temp(_) | BlobSource::Verified(_) => 0,
        };
        let file = File::open(path).map_err(|e| Error::io("open blob", path, e))?;
        let reader = window(file, offset, size, position, path)?;
        Ok(Box::new(reader))
    }
}

/// `size` bytes of `source` from `offset`, read from `position` in them on.
pub(crate) fn window<R: Read + Seek>(
    mut source: R,
    offset: u64,
    size: u64,
    position: u64,
    path: &Path,
) -> Result<ExactReader<R>> {
    let position = position.min(size);
    // Seek, not read and discard: resuming a chunked upload near the end of a large layer must
    // not read the whole layer again for every chunk.
    source
        .seek(SeekFrom::Start(offset.saturating_add(position)))
        .map_err(|e| Error::io("seek in", path, e))?;
    Ok(ExactReader::new(source, size - position, path.to_owned()))
}

/// Yields exactly `remaining` bytes and fails if the source ends early. Tar headers and
/// descriptors announce sizes up front, so a file that shrank must not produce a short entry.
pub(crate) struct ExactReader<R> {
    inner: R,
    remaining: u64,
    path: PathBuf,
}

impl<R: Read> ExactReader<R> {
    pub(crate) fn new(inner: R, size: u64, path: PathBuf) -> Self {
        ExactReader {
            inner,
            remaining: size,
            path,
        }
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            let msg = format!(
                "`{}` ended {} bytes early",
                self.path.display(),
                self.remaining
            );
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Stream `content` into `dir/<hex>`: hashed while written to a temp file in `dir`, then renamed,
/// so a blob file only ever exists complete and under its true digest. When `expected` is given
/// a mismatch is an error (a corrupted base layer must not be published under its old name).
pub(crate) fn write_blob(
    dir: &Path,
    mut content: impl Read,
    expected: Option<&Digest>,
) -> Result<(Digest, u64)> {
    let temp = tempfile::Builder::new()
        .prefix(".tmp-blob-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temp file in", dir, e))?;
    let mut writer = HashingWriter::new(BufWriter::new(temp));
    io::copy(&mut content, &mut writer).map_err(|e| {
        Error::failure(format!("failed to write a blob in `{}`", dir.display())).caused_by(e)
    })?;
    let (buffered, digest, size) = writer.finish();
    let temp = buffered
        .into_inner()
        .map_err(|e| Error::io("write to", dir, e.into_error()))?;
    if let Some(expected) = expected.filter(|&want| *want != digest) {
        return Err(Error::failure(format!(
            "blob `{expected}` has the wrong content: its bytes hash to `{digest}`"
        ))
        .with_hint("the source image is corrupted; fetch or build it again"));
    }
    let dest = dir.join(digest.hex());
    temp.persist(&dest)
        .map_err(|e| Error::io("write blob", &dest, e.error))?;
    Ok((digest, size))
}

impl BlobSource {
    /// The blob's bytes were written or hashed by this process, so an output may take them as
    /// they are: a hard link instead of a copy, no second hash.
    pub fn trusted(&self) -> bool {
        matches!(self, BlobSource::Temp(_) | BlobSource::Verified(_))
    }
}

/// Put a trusted blob into `dir` by hard-linking it (same filesystem), else stream it in and
/// check its digest like any other blob. A link shares the inode with gantry's cache; blobs
/// are immutable by name, and the cache re-hashes its blobs before every reuse.
pub(crate) fn place_blob(
    dir: &Path,
    source: &BlobSource,
    size: u64,
    digest: &Digest,
) -> Result<()> {
    let dest = dir.join(digest.hex());
    if source.trusted() && (dest.exists() || std::fs::hard_link(source.path(), &dest).is_ok()) {
        return Ok(());
    }
    write_blob(dir, source.open(size)?, Some(digest)).map(|_| ())
}

/// Write small in-memory bytes (a config, a manifest) as a blob.
pub(crate) fn write_bytes(dir: &Path, bytes: &[u8]) -> Result<Digest> {
    let digest = Digest::of(bytes);
    write_blob(dir, bytes, Some(&digest))?;
    Ok(digest)
}

/// Write a whole small file (e.g. `index.json`) in `dir`, so `io::Write` errors carry the path.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_is_stored_under_its_digest_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let digest = write_bytes(dir.path(), b"some bytes").unwrap();
        assert_eq!(digest, Digest::of(b"some bytes"));
        let mut back = Vec::new();
        BlobSource::file(dir.path().join(digest.hex()))
            .open(10)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, b"some bytes");
        // Only the blob remains: the temp file was renamed, not copied.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn wrong_expected_digest_is_refused_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let wrong = Digest::of(b"other");
        let err = write_blob(dir.path(), &b"bytes"[..], Some(&wrong)).unwrap_err();
        assert!(err.message().contains(wrong.as_str()), "{}", err.message());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_trusted_blob_is_linked_and_an_untrusted_one_is_copied_and_checked() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let file = dir.path().join("blob");
        std::fs::write(&file, b"layer bytes").unwrap();
        let digest = Digest::of(b"layer bytes");
        place_blob(&out, &BlobSource::Verified(file.clone()), 11, &digest).unwrap();
        let placed = out.join(digest.hex());
        assert_eq!(
            std::fs::metadata(&placed).unwrap().ino(),
            std::fs::metadata(&file).unwrap().ino()
        );

        // From a file gantry does not own: copied, and a wrong digest is refused.
        std::fs::remove_file(&placed).unwrap();
        let wrong = Digest::of(b"other");
        assert!(place_blob(&out, &BlobSource::file(&file), 11, &wrong).is_err());
        place_blob(&out, &BlobSource::file(&file), 11, &digest).unwrap();
        assert_ne!(
            std::fs::metadata(&placed).unwrap().ino(),
            std::fs::metadata(&file).unwrap().ino()
        );
    }

    /// A seekable source that counts the bytes read from it.
    struct Counting<'a> {
        inner: io::Cursor<Vec<u8>>,
        read: &'a std::cell::Cell<u64>,
    }

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl Seek for Counting<'_> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn resuming_near_the_end_reads_only_the_rest() {
        let data: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let read = std::cell::Cell::new(0);
        let source = Counting {
            inner: io::Cursor::new(data.clone()),
            read: &read,
        };
        // A 1000-byte blob at offset 3 of its file, resumed at byte 900.
        let mut rest = Vec::new();
        window(source, 3, 1000, 900, Path::new("f"))
            .unwrap()
            .read_to_end(&mut rest)
            .unwrap();
        assert_eq!(rest, data[903..1003]);
        assert_eq!(read.get(), 100, "bytes read from the source");
    }

    #[test]
    fn reading_a_range_and_a_truncated_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let source = BlobSource::File { path, offset: 3 };
        let mut out = String::new();
        source.open(4).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "3456");
        let err = source
            .open(20)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
