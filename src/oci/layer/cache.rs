//! A cache of built layers, keyed by exactly what goes into them (`target/gantry/cache/`).
//!
//! The runtime layer (CA bundle, passwd, the shared libraries the binary links) is the same on
//! every rebuild after an edit, but tar + gzip + sha256 of its few megabytes cost more than
//! everything else gantry does besides the compile. So a layer is looked up by its
//! [`fingerprint`]: a sha256 over the builder's entries with every file's *contents* hashed
//! (not its mtime and size: a library replaced by `cp -p`, a restored backup or a same-size
//! rewrite within the mtime granularity would fool a stat check, and hashing a few MB costs a
//! few ms with SHA-NI, an order of magnitude less than compressing them), the one mtime, the
//! gzip level and the running gantry executable (a rebuilt gantry may write other bytes).
//!
//! A hit is never trusted blindly: the stored blob is hashed again and must match its recorded
//! digest and size, or the entry is dropped and the layer built afresh. The result is the same
//! bytes, and so the same digests, as a build without the cache.
//!
//! ```text
//! cache/layers/<fingerprint>.json   {"digest", "diff_id", "size"}
//! cache/blobs/sha256/<hex>          the compressed layer (hard-linked from the build's temp file)
//! cache/tmp/                        layers being written: same filesystem as blobs/ and outputs
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::MediaType;
use serde::{Deserialize, Serialize};

use super::{Layer, LayerBuilder};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::oci::blob::BlobSource;
use crate::oci::digest::{Digest, HashingWriter};

/// Entries kept (most recently used first); the runtime layer changes only when a library or
/// a setting does, so a handful covers switching between a few projects and flags.
const KEEP: usize = 8;

/// Whether a layer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    digest: String,
    diff_id: String,
    size: u64,
}

/// The cache directory (`target/gantry/cache`).
#[derive(Debug, Clone)]
pub struct LayerCache {
    dir: PathBuf,
}

impl LayerCache {
    pub fn new(dir: impl Into<PathBuf>) -> LayerCache {
        LayerCache { dir: dir.into() }
    }

    /// Where layers are written while they are built: next to the cache's blobs, so that a
    /// finished layer is linked into the cache and into an OCI layout instead of copied.
    pub fn scratch(&self) -> Result<PathBuf> {
        let tmp = self.dir.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| Error::io("create directory", &tmp, e))?;
        Ok(tmp)
    }

    /// The layer `builder` describes: reused from the cache when an entry with the same
    /// fingerprint exists and its blob still hashes to its digest, else built and stored.
    pub fn finish(&self, mut builder: LayerBuilder) -> Result<(Layer, Lookup)> {
        let key = builder.fingerprint(&gantry_identity())?;
        let entry_path = self.dir.join("layers").join(format!("{}.json", key.hex()));
        if let Some(layer) = self.reuse(&entry_path) {
            return Ok((layer, Lookup::Hit));
        }
        builder.scratch_dir(self.scratch()?);
        let layer = builder.finish()?;
        // The cache is an optimisation: failing to store an entry never fails the build.
        if let Err(e) = self.store(&entry_path, &layer) {
            eprintln!(
                "warning: could not cache a layer in `{}`: {}",
                self.dir.display(),
                e.message()
            );
        }
        self.prune();
        Ok((layer, Lookup::Miss))
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs").join("sha256").join(digest.hex())
    }

    /// A verified layer for the entry at `path`, or `None` (and the entry removed) when it is
    /// missing, unreadable or its blob does not hash to what the entry says.
    fn reuse(&self, path: &Path) -> Option<Layer> {
        let text = fs::read(path).ok()?;
        let entry: Option<Entry> = serde_json::from_slice(&text).ok();
        let digests = entry.as_ref().and_then(|e| {
            Some((
                Digest::parse(&e.digest).ok()?,
                Digest::parse(&e.diff_id).ok()?,
            ))
        });
        let (Some(entry), Some((digest, diff_id))) = (entry, digests) else {
            let _ = fs::remove_file(path);
            return None;
        };
        let blob = self.blob_path(&digest);
        let intact = hash_file(&blob).is_ok_and(|(d, size)| d == digest && size == entry.size);
        if !intact {
            // Both go: a damaged blob left in place would be kept by the next store.
            let _ = fs::remove_file(path);
            let _ = fs::remove_file(&blob);
            return None;
        }
        let size = entry.size;
        // Most recently used first when pruning.
        crate::fsutil::touch(path);
        Some(Layer::from_blob(
            digest,
            size,
            diff_id,
            MediaType::ImageLayerGzip,
            BlobSource::Verified(blob),
        ))
    }

    fn store(&self, entry_path: &Path, layer: &Layer) -> Result<()> {
        let blobs = self.dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| Error::io("create directory", &blobs, e))?;
        let dest = self.blob_path(layer.digest());
        if !dest.exists() {
            // A link under a temp name, then a rename: the blob only ever exists complete.
            let temp = blobs.join(format!(".tmp-{}", layer.digest().hex()));
            let _ = fs::remove_file(&temp);
            if fs::hard_link(layer.source().path(), &temp).is_err() {
                io::copy(&mut layer.open()?, &mut create(&temp)?)
                    .map_err(|e| Error::io("write", &temp, e))?;
            }
            fs::rename(&temp, &dest).map_err(|e| Error::io("write", &dest, e))?;
        }
        let entry = Entry {
            digest: layer.digest().to_string(),
            diff_id: layer.diff_id().to_string(),
            size: layer.size(),
        };
        let json = serde_json::to_vec(&entry).expect("an entry serializes");
        let parent = entry_path.parent().expect("entries live in layers/");
        fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
        write_atomic(entry_path, &json)
    }

    /// Keep the [`KEEP`] most recently used entries; remove the others and blobs no kept entry
    /// names. Best effort, like storing.
    fn prune(&self) {
        // Layers of builds that were killed before their temp file was dropped.
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for tmp in fs::read_dir(self.dir.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let stale = tmp
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < hour_ago);
            if stale {
                let _ = fs::remove_file(tmp.path());
            }
        }
        let layers = self.dir.join("layers");
        if crate::fsutil::keep_newest(&layers, KEEP).is_empty() {
            return;
        }
        let kept: Vec<String> = fs::read_dir(&layers)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| serde_json::from_slice::<Entry>(&fs::read(e.path()).ok()?).ok())
            .filter_map(|e| Some(Digest::parse(&e.digest).ok()?.hex().to_owned()))
            .collect();
        let blobs = self.dir.join("blobs").join("sha256");
        for blob in fs::read_dir(&blobs).into_iter().flatten().flatten() {
            let name = blob.file_name().to_string_lossy().into_owned();
            if !kept.contains(&name) {
                let _ = fs::remove_file(blob.path());
            }
        }
    }
}

/// The layer from `cache`, or built directly without one.
pub fn finish(cache: Option<&LayerCache>, builder: LayerBuilder) -> Result<(Layer, Lookup)> {
    match cache {
        Some(cache) => cache.finish(builder),
        None => Ok((builder.finish()?, Lookup::Miss)),
    }
}

fn create(path: &Path) -> Result<fs::File> {
    fs::File::create(path).map_err(|e| Error::io("create", path, e))
}

/// sha256 and length of a whole file.
pub(crate) fn hash_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hasher)?;
    let (_, digest, size) = hasher.finish();
    Ok((digest, size))
}

/// What identifies the running gantry: a rebuilt executable (another tar or gzip writer, say)
/// must not reuse the layers of the previous one. Path, length and mtime: cheap, and any
/// rebuild changes at least the mtime.
fn gantry_identity() -> String {
    let exe = std::env::current_exe().ok();
    let meta = exe.as_deref().and_then(|p| fs::metadata(p).ok());
    let mtime = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{} {} {:?} {} {mtime}",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        exe,
        meta.map(|m| m.len()).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer with one host file and some in-memory bytes.
    fn builder(host: &Path) -> LayerBuilder {
        let mut b = LayerBuilder::new(0);
        b.file("/usr/lib/libx.so", 0o644, host)
            .file("/etc/passwd", 0o644, b"root:x:0:0::/:/bin/sh\n".as_slice())
            .dir("/tmp", 0o1777);
        b
    }

    struct Fx {
        _dir: tempfile::TempDir,
        cache: LayerCache,
        lib: PathBuf,
    }

    fn fx() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        fs::write(&lib, vec![7u8; 100_000]).unwrap();
        let cache = LayerCache::new(dir.path().join("cache"));
        Fx {
            _dir: dir,
            cache,
            lib,
        }
    }

    fn same(a: &Layer, b: &Layer) {
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.diff_id(), b.diff_id());
        assert_eq!(a.size(), b.size());
    }

    #[test]
    fn a_hit_gives_the_same_layer_as_a_build_without_the_cache() {
        let fx = fx();
        let uncached = builder(&fx.lib).finish().unwrap();
        let (first, l1) = fx.cache.finish(builder(&fx.lib)).unwrap();
        let (second, l2) = fx.cache.finish(builder(&fx.lib)).unwrap();
        assert_eq!((l1, l2), (Lookup::Miss, Lookup::Hit));
        same(&uncached, &first);
        same(&uncached, &second);
        assert!(second.source().trusted());
        let mut bytes = Vec::new();
        second.open().unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(Digest::of(&bytes), *uncached.digest());
    }

    #[test]
    fn a_changed_file_of_the_same_size_and_mtime_is_a_miss() {
        let fx = fx();
        let (before, _) = fx.cache.finish(builder(&fx.lib)).unwrap();
        let mtime = fs::metadata(&fx.lib).unwrap().modified().unwrap();
        fs::write(&fx.lib, vec![8u8; 100_000]).unwrap();
        fs::File::options()
            .write(true)
            .open(&fx.lib)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let (after, lookup) = fx.cache.finish(builder(&fx.lib)).unwrap();
        assert_eq!(lookup, Lookup::Miss);
        assert_ne!(before.digest(), after.digest());
        same(&after, &builder(&fx.lib).finish().unwrap());
    }

    #[test]
    fn a_damaged_cached_blob_is_rebuilt_not_reused() {
        let fx = fx();
        let (good, _) = fx.cache.finish(builder(&fx.lib)).unwrap();
        let blob = fx.cache.blob_path(good.digest());
        let mut bytes = fs::read(&blob).unwrap();
        bytes[40] ^= 1;
        fs::remove_file(&blob).unwrap();
        fs::write(&blob, &bytes).unwrap();
        let (again, lookup) = fx.cache.finish(builder(&fx.lib)).unwrap();
        assert_eq!(lookup, Lookup::Miss);
        same(&good, &again);
        // Repaired: the next lookup is a hit on intact bytes.
        let (_, lookup) = fx.cache.finish(builder(&fx.lib)).unwrap();
        assert_eq!(lookup, Lookup::Hit);
        assert_eq!(hash_file(&blob).unwrap().0, *good.digest());
    }

    #[test]
    fn a_different_mode_or_mtime_is_another_entry() {
        let fx = fx();
        let key = |b: &LayerBuilder| b.fingerprint("x").unwrap();
        let base = key(&builder(&fx.lib));
        let mut exec = LayerBuilder::new(0);
        exec.file("/usr/lib/libx.so", 0o755, fx.lib.as_path())
            .file("/etc/passwd", 0o644, b"root:x:0:0::/:/bin/sh\n".as_slice())
            .dir("/tmp", 0o1777);
        assert_ne!(base, key(&exec));
        let mut later = LayerBuilder::new(1);
        later
            .file("/usr/lib/libx.so", 0o644, fx.lib.as_path())
            .file("/etc/passwd", 0o644, b"root:x:0:0::/:/bin/sh\n".as_slice())
            .dir("/tmp", 0o1777);
        assert_ne!(base, key(&later));
        assert_ne!(
            base,
            builder(&fx.lib).fingerprint("another gantry").unwrap()
        );
        assert_eq!(base, key(&builder(&fx.lib)));
    }

    #[test]
    fn old_entries_and_their_blobs_are_pruned() {
        let fx = fx();
        for i in 0..(KEEP + 3) {
            let mut b = LayerBuilder::new(i as u64);
            b.file("/f", 0o644, vec![i as u8; 10]);
            fx.cache.finish(b).unwrap();
        }
        let count = |d: &str| fs::read_dir(fx.cache.dir.join(d)).unwrap().count();
        assert_eq!(count("layers"), KEEP);
        assert_eq!(count("blobs/sha256"), KEEP);
        // A temp file a killed build left behind goes once it is an hour old.
        let left = fx.cache.dir.join("tmp/.tmpkilled");
        fs::write(&left, b"partial layer").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        fs::File::options()
            .write(true)
            .open(&left)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut b = LayerBuilder::new(99);
        b.file("/f", 0o644, vec![1u8; 10]);
        fx.cache.finish(b).unwrap();
        assert!(!left.exists());
    }
}
