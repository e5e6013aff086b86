//! Unpack an image's layers into a directory, applying OCI whiteouts, so that what a base image
//! provides (libraries, glibc version) can be inspected. Not a container runtime: device nodes
//! and fifos are skipped, ownership is not restored, setuid/setgid/sticky bits are dropped.
//!
//! A base image is untrusted input: whatever its layers hold, nothing is read, written or
//! deleted outside the directory. As containerd and umoci do, every path of an entry (its
//! parent, a whiteout's target, a hard link's target) is resolved inside the root with
//! `rootfs::resolve`, symlinks taken relative to the root, before anything is created, replaced
//! or removed; the last component is never followed, so replacing or whiting out a symlink
//! acts on the link. Entries that cannot be made safe (`..`, a hard link to nothing inside the
//! root, a symlink loop, sizes over the limits) are refused, naming the layer and the entry.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{Error, Result};
use crate::oci::digest::HashingReader;
use crate::oci::image::Image;
use crate::oci::rootfs::{self, Kind, Last, Missing, Resolved, WalkError};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// Other `.wh..wh.` names are AUFS bookkeeping (`.wh..wh.plnk`), not content.
const META: &str = ".wh..wh.";

/// Bounds on what one image may unpack to, so that a hostile or broken base cannot fill the
/// disk, exhaust memory or keep gantry busy forever. Far above any real base image.
#[derive(Debug, Clone)]
struct Limits {
    total_bytes: u64,
    entries: u64,
    entry_bytes: u64,
    path_bytes: usize,
}

/// The largest bases in common use (CUDA, full distributions with toolchains) unpack to well
/// under 16 GiB; the root is scratch space on the build machine's disk.
const MAX_TOTAL_BYTES: u64 = 16 << 30;
/// Full Debian/Ubuntu images hold ~10⁵ entries; counting every header also ends an endless
/// stream of empty entries (a gzip bomb of headers).
const MAX_ENTRIES: u64 = 1 << 20;
/// The biggest single files in real images (CUDA libraries, ~2 GiB) fit easily.
const MAX_ENTRY_BYTES: u64 = 4 << 30;
/// Linux's PATH_MAX: a longer path cannot be opened anyway. Also bounds the GNU long-name and
/// link-name records, which are held in memory.
const MAX_PATH_BYTES: usize = 4096;
/// PAX records (`path`, `linkpath`, xattrs) are held in memory too; real ones are tiny.
const MAX_PAX_BYTES: u64 = 1 << 20;

const LIMITS: Limits = Limits {
    total_bytes: MAX_TOTAL_BYTES,
    entries: MAX_ENTRIES,
    entry_bytes: MAX_ENTRY_BYTES,
    path_bytes: MAX_PATH_BYTES,
};

const HINT: &str = "the image is malformed, or built to attack the machine that unpacks it; \
     use a base image from a source you trust";

/// Apply `image`'s layers, lowest first, to `dest` (created if missing). Fails, naming the layer
/// and the entry, on anything that cannot be unpacked inside `dest`, and on a layer whose bytes
/// do not hash to its digest.
pub fn unpack(image: &Image, dest: &Path) -> Result<()> {
    unpack_limited(image, dest, &LIMITS)
}

fn unpack_limited(image: &Image, dest: &Path, limits: &Limits) -> Result<()> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io("create directory", dest, e))?;
    let mut unpacker = Unpacker {
        root: dest,
        limits,
        entries: 0,
        bytes: 0,
        this_layer: HashSet::new(),
    };
    for (i, layer) in image.layers().iter().enumerate() {
        let at = || format!("layer {i} (`{}`)", layer.digest());
        let mut blob = HashingReader::new(layer.open()?);
        let applied = {
            let tar: Box<dyn Read + '_> = match is_gzip(layer.media_type().to_string().as_str()) {
                true => Box::new(GzDecoder::new(&mut blob)),
                false => Box::new(&mut blob),
            };
            unpacker.layer(tar)
        };
        // Hash the rest of the blob even after a failure: when the bytes are not those the
        // digest names, that is the cause to report, not whatever they decoded to.
        let drained = io::copy(&mut blob, &mut io::sink());
        if drained.is_ok() && blob.digest() != *layer.digest() {
            return Err(Error::user(format!(
                "{} has the wrong content: its bytes hash to `{}`",
                at(),
                blob.digest()
            ))
            .with_hint("the image is corrupted or was tampered with; fetch or build it again"));
        }
        applied.map_err(|e| e.into_error(&at()))?;
        drained.map_err(|e| Error::failure(format!("failed to read {}", at())).caused_by(e))?;
    }
    Ok(())
}

/// OCI (`…tar+gzip`) and Docker (`…tar.gzip`) layer media types both end in `gzip`.
fn is_gzip(media_type: &str) -> bool {
    media_type.ends_with("gzip")
}

/// Why a layer stopped unpacking.
enum Stop {
    /// The entry cannot be unpacked safely: the reason, for the user.
    Refused { entry: String, reason: String },
    /// Reading the layer or writing the root failed.
    Io {
        entry: Option<String>,
        source: io::Error,
    },
}

impl Stop {
    fn into_error(self, layer: &str) -> Error {
        match self {
            Stop::Refused { entry, reason } => Error::user(format!(
                "refused to unpack {layer}: entry `{entry}` {reason}"
            ))
            .with_hint(HINT),
            Stop::Io {
                entry: Some(entry),
                source,
            } => Error::failure(format!("failed to unpack entry `{entry}` of {layer}"))
                .caused_by(source),
            Stop::Io {
                entry: None,
                source,
            } => Error::failure(format!("failed to unpack {layer}")).caused_by(source),
        }
    }
}

impl From<io::Error> for Stop {
    fn from(source: io::Error) -> Stop {
        Stop::Io {
            entry: None,
            source,
        }
    }
}

/// The GNU and PAX records that describe the next entry.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

struct Unpacker<'a> {
    root: &'a Path,
    limits: &'a Limits,
    /// Across the whole image: the limits bound the image, not each layer.
    entries: u64,
    bytes: u64,
    /// What the current layer created: its own whiteouts only hide lower layers.
    this_layer: HashSet<PathBuf>,
}

impl Unpacker<'_> {
    fn layer(&mut self, reader: impl Read) -> Result<(), Stop> {
        self.this_layer.clear();
        let mut archive = tar::Archive::new(reader);
        // Raw entries: the tar crate would read a GNU long name or PAX record of any declared
        // size into memory; we read them ourselves, bounded.
        let mut ext = Extensions::default();
        for entry in archive.entries()?.raw(true) {
            let mut entry = entry?;
            self.entries += 1;
            let kind = entry.header().entry_type();
            let declared = entry.header().entry_size()?;
            let named = || display(&entry.header().path_bytes());
            if self.entries > self.limits.entries {
                return Err(refused(
                    named(),
                    format!(
                        "is beyond the limit of {} entries in one image",
                        self.limits.entries
                    ),
                ));
            }
            let record_limit = (self.limits.path_bytes + 1) as u64;
            let record = match kind {
                _ if kind.is_gnu_longname() => Some((&mut ext.long_name, record_limit)),
                _ if kind.is_gnu_longlink() => Some((&mut ext.long_link, record_limit)),
                _ if kind.is_pax_local_extensions() => Some((&mut ext.pax, MAX_PAX_BYTES)),
                _ => None,
            };
            if let Some((slot, limit)) = record {
                if declared > limit {
                    return Err(refused(
                        named(),
                        format!("is a {declared}-byte name record, over the limit of {limit}"),
                    ));
                }
                let mut data = Vec::new();
                (&mut entry).take(limit).read_to_end(&mut data)?;
                *slot = Some(data);
                continue;
            }
            let ext = std::mem::take(&mut ext);
            self.entry(&mut entry, ext)?;
        }
        Ok(())
    }

    fn entry(&mut self, entry: &mut tar::Entry<impl Read>, ext: Extensions) -> Result<(), Stop> {
        let header = entry.header();
        let kind = header.entry_type();
        let mut path = header.path_bytes().into_owned();
        let mut link = header.link_name_bytes().map(|l| l.into_owned());
        let mut pax_size = None;
        if let Some(name) = ext.long_name {
            path = trim_nul(name);
        }
        if let Some(name) = ext.long_link {
            link = Some(trim_nul(name));
        }
        for record in ext.pax.iter().flat_map(|pax| tar::PaxExtensions::new(pax)) {
            let record = record?;
            match record.key_bytes() {
                b"path" => path = record.value_bytes().to_vec(),
                b"linkpath" => link = Some(record.value_bytes().to_vec()),
                b"size" => pax_size = Some(record.value_bytes().to_vec()),
                _ => {}
            }
        }
        let name = display(&path);
        let refuse = |reason: String| refused(name.clone(), reason);
        let declared = header.entry_size().map_err(|e| Stop::Io {
            entry: Some(name.clone()),
            source: e,
        })?;
        // Raw entries are read with the header's size; a PAX size that says otherwise would
        // make us read the archive differently from every other tool.
        let pax_size = pax_size.map(|size| String::from_utf8_lossy(&size).parse::<u64>().ok());
        if pax_size.is_some_and(|size| size != Some(declared)) {
            return Err(refuse("has a PAX size that differs from its header".into()));
        }
        let rel = self.entry_path(&path);
        let Some(rel) = rel.map_err(|reason| refuse(format!("has {reason}")))? else {
            return Ok(());
        };
        let io = |source: io::Error| Stop::Io {
            entry: Some(name.clone()),
            source,
        };

        let file_name = rel.file_name().unwrap_or_default().to_string_lossy();
        let parent = rel.parent().unwrap_or(Path::new(""));
        if file_name == OPAQUE {
            return self.opaque(parent).map_err(|e| self.stop(&name, e));
        }
        if file_name.starts_with(META) {
            return Ok(());
        }
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(refuse(format!("is a whiteout of `{hidden}`")));
            }
            return self
                .whiteout(parent, hidden)
                .map_err(|e| self.stop(&name, e));
        }

        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            return Ok(());
        }
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        if kind.is_gnu_sparse() {
            return Err(refuse(
                "is a sparse file, which gantry does not unpack".into(),
            ));
        }
        let is_file = !kind.is_dir() && !kind.is_symlink() && !kind.is_hard_link();
        if is_file {
            if declared > self.limits.entry_bytes {
                return Err(refuse(format!(
                    "declares {declared} bytes, over the limit of {} for one file",
                    self.limits.entry_bytes
                )));
            }
            self.bytes = self.bytes.saturating_add(declared);
            if self.bytes > self.limits.total_bytes {
                return Err(refuse(format!(
                    "brings the image over the limit of {} unpacked bytes",
                    self.limits.total_bytes
                )));
            }
        }
        let parent = self.parent(parent).map_err(|e| self.stop(&name, e))?;
        let target = parent.join(&*file_name);
        let mode = header.mode().map_err(io)? & 0o777;
        if kind.is_hard_link() {
            let link = link.unwrap_or_default();
            let source = self.link_source(&link).map_err(|e| self.stop(&name, e))?;
            if source == target {
                return Ok(());
            }
            remove(&target).map_err(io)?;
            std::fs::hard_link(&source, &target).map_err(io)?;
        } else if kind.is_symlink() {
            let link = link.unwrap_or_default();
            if link.is_empty() || link.contains(&0) || link.len() > self.limits.path_bytes {
                return Err(refuse(
                    "is a symlink with an empty, overlong or invalid target".into(),
                ));
            }
            remove(&target).map_err(io)?;
            std::os::unix::fs::symlink(bytes_path(&link), &target).map_err(io)?;
        } else if kind.is_dir() {
            let is_dir = std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir());
            if !is_dir {
                remove(&target).map_err(io)?;
                std::fs::create_dir(&target).map_err(io)?;
            }
            // owner rwx: later entries are written into it by us, not by root
            let perms = std::fs::Permissions::from_mode(mode | 0o700);
            std::fs::set_permissions(&target, perms).map_err(io)?;
        } else {
            remove(&target).map_err(io)?;
            // `create_new` never follows a symlink put there behind our back
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .map_err(io)?;
            io::copy(&mut entry.take(declared), &mut file).map_err(io)?;
            // owner read: the point of unpacking is to read the files
            let perms = std::fs::Permissions::from_mode(mode | 0o600);
            file.set_permissions(perms).map_err(io)?;
        }
        self.this_layer.insert(target);
        Ok(())
    }

    /// The entry's path relative to the root, `None` for the root itself. `..` is refused
    /// rather than resolved: no legitimate layer has it, and refusing is plainly safe.
    fn entry_path(&self, bytes: &[u8]) -> Result<Option<PathBuf>, String> {
        if bytes.len() > self.limits.path_bytes {
            return Err(format!(
                "a {}-byte path, over the limit of {}",
                bytes.len(),
                self.limits.path_bytes
            ));
        }
        if bytes.contains(&0) {
            return Err("a NUL byte in its path".into());
        }
        let mut out = PathBuf::new();
        for part in bytes.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => return Err("`..` in its path".into()),
                _ => out.push(bytes_path(part)),
            }
        }
        Ok((!out.as_os_str().is_empty()).then_some(out))
    }

    fn resolve(&self, path: &Path, last: Last) -> Result<Resolved, WalkError> {
        rootfs::resolve(self.root, path, last, Missing::Continue, |_| {})
    }

    /// The host directory an entry goes in, created (inside the root) when missing.
    fn parent(&self, parent: &Path) -> Result<PathBuf, Fail> {
        let dir = self.resolve(parent, Last::Follow)?;
        match dir.kind {
            Kind::Dir => {}
            // every existing component was checked to be a real directory inside the root
            Kind::Missing => std::fs::create_dir_all(&dir.host).map_err(Fail::io(&dir.host))?,
            Kind::File | Kind::Symlink => {
                return Err(Fail::Refused(format!(
                    "is below `{}`, which is not a directory",
                    dir.real.display()
                )));
            }
        }
        Ok(dir.host)
    }

    /// A hard link names an earlier entry of the image: it must exist inside the root.
    fn link_source(&self, link: &[u8]) -> Result<PathBuf, Fail> {
        let shown = display(link);
        let rel = self.entry_path(link).map_err(|reason| {
            Fail::Refused(format!("is a hard link to `{shown}`, which has {reason}"))
        })?;
        let rel = rel.unwrap_or_default();
        // not followed: linking to a symlink links the symlink, as tar does
        let source = self.resolve(&rel, Last::NoFollow)?;
        match source.kind {
            Kind::File | Kind::Symlink => Ok(source.host),
            Kind::Dir => Err(Fail::Refused(format!(
                "is a hard link to the directory `{shown}`"
            ))),
            Kind::Missing => Err(Fail::Refused(format!(
                "is a hard link to `{shown}`, which is not in the image (inside the root it is `{}`)",
                source.real.display()
            ))),
        }
    }

    /// Hide `dir/hidden` from lower layers; the whiteout's directory is resolved inside the
    /// root, and `hidden` itself, if a symlink, is removed rather than followed.
    fn whiteout(&self, dir: &Path, hidden: &str) -> Result<(), Fail> {
        let dir = self.resolve(dir, Last::Follow)?;
        if dir.kind != Kind::Dir {
            return Ok(());
        }
        let target = dir.host.join(hidden);
        if !self.this_layer.contains(&target) {
            remove(&target).map_err(Fail::io(&target))?;
        }
        Ok(())
    }

    /// Everything in `dir` from lower layers is hidden.
    fn opaque(&self, dir: &Path) -> Result<(), Fail> {
        let dir = self.resolve(dir, Last::Follow)?;
        if dir.kind != Kind::Dir {
            return Ok(());
        }
        let children = std::fs::read_dir(&dir.host).map_err(Fail::io(&dir.host))?;
        for child in children {
            let child = child.map_err(Fail::io(&dir.host))?.path();
            if !self.this_layer.contains(&child) {
                remove(&child).map_err(Fail::io(&child))?;
            }
        }
        Ok(())
    }

    fn stop(&self, entry: &str, fail: Fail) -> Stop {
        match fail {
            Fail::Refused(reason) => refused(entry.to_owned(), reason),
            Fail::Walk(WalkError::TooManySymlinks(path)) => refused(
                entry.to_owned(),
                format!(
                    "goes through more than {} symlinks (at `{}`)",
                    rootfs::MAX_SYMLINKS,
                    path.display()
                ),
            ),
            Fail::Walk(WalkError::NotADirectory(path)) => refused(
                entry.to_owned(),
                format!("is below `{}`, which is not a directory", path.display()),
            ),
            Fail::Walk(e @ WalkError::Io { .. }) => Stop::Io {
                entry: Some(entry.to_owned()),
                source: io::Error::other(e),
            },
            Fail::Io(source) => Stop::Io {
                entry: Some(entry.to_owned()),
                source,
            },
        }
    }
}

/// A failure below `Unpacker::entry`, before the entry's name is attached.
enum Fail {
    Refused(String),
    Walk(WalkError),
    Io(io::Error),
}

impl Fail {
    fn io(path: &Path) -> impl Fn(io::Error) -> Fail + '_ {
        move |e| {
            Fail::Io(io::Error::new(
                e.kind(),
                format!("`{}`: {e}", path.display()),
            ))
        }
    }
}

impl From<WalkError> for Fail {
    fn from(e: WalkError) -> Fail {
        Fail::Walk(e)
    }
}

fn refused(entry: String, reason: String) -> Stop {
    Stop::Refused { entry, reason }
}

/// An entry name for messages: lossy UTF-8, cut short when absurdly long.
fn display(bytes: &[u8]) -> String {
    const SHOWN: usize = 200;
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}

fn trim_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

fn bytes_path(bytes: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// Remove whatever is at `path`, without following it if it is a symlink; `remove_dir_all`
/// does not follow symlinks inside the tree either.
fn remove(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
