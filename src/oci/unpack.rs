//! Unpack an image's layers into a directory, applying OCI whiteouts, so that what a base image
//! provides (libraries, glibc version) can be inspected. Not a container runtime: device nodes
//! are skipped and ownership is not restored.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{Error, Result};
use crate::oci::image::Image;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

pub fn unpack(image: &Image, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io("create directory", dest, e))?;
    for (i, layer) in image.layers().iter().enumerate() {
        let raw = layer.open()?;
        let reader: Box<dyn Read> = if is_gzip(layer.media_type().to_string().as_str()) {
            Box::new(GzDecoder::new(raw))
        } else {
            raw
        };
        apply(reader, dest).map_err(|e| {
            Error::failure(format!("failed to unpack layer {i} ({})", layer.digest())).caused_by(e)
        })?;
    }
    Ok(())
}

/// OCI (`…tar+gzip`) and Docker (`…tar.gzip`) layer media types both end in `gzip`.
fn is_gzip(media_type: &str) -> bool {
    media_type.ends_with("gzip")
}

fn apply(reader: impl Read, dest: &Path) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(rel) = clean(&path) else { continue };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = dest.join(rel.parent().unwrap_or(Path::new("")));
        if name == OPAQUE {
            // Everything below this directory from lower layers is hidden.
            if let Ok(children) = std::fs::read_dir(&parent) {
                for child in children.flatten() {
                    remove(&child.path())?;
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            remove(&parent.join(hidden))?;
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            continue;
        }
        // A file replacing a directory (or the reverse) in a later layer.
        let target = dest.join(&rel);
        if let Ok(meta) = std::fs::symlink_metadata(&target)
            && meta.is_dir() != kind.is_dir()
        {
            remove(&target)?;
        }
        entry.unpack_in(dest)?;
    }
    Ok(())
}

/// The entry's path without `/`, `.` or `..` tricks; `None` for the root itself.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return None,
            _ => {}
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{LayerBuilder, Platform};

    #[test]
    fn later_layers_and_whiteouts_win() {
        let mut lower = LayerBuilder::new(0);
        lower
            .file("/etc/a", 0o644, b"a".as_slice())
            .file("/etc/b", 0o644, b"b".as_slice());
        lower.file("/opt/x/1", 0o644, b"1".as_slice());
        let mut upper = LayerBuilder::new(0);
        upper
            .file("/etc/.wh.a", 0o644, b"".as_slice())
            .file("/etc/b", 0o644, b"B".as_slice());
        upper
            .file("/opt/x/.wh..wh..opq", 0o644, b"".as_slice())
            .file("/opt/x/2", 0o644, b"2".as_slice());
        let mut image = Image::new(&Platform::linux_amd64());
        image.push_layer(lower.finish().unwrap(), "lower");
        image.push_layer(upper.finish().unwrap(), "upper");
        let dir = tempfile::tempdir().unwrap();
        unpack(&image, dir.path()).unwrap();
        assert!(!dir.path().join("etc/a").exists());
        assert_eq!(std::fs::read(dir.path().join("etc/b")).unwrap(), b"B");
        assert!(!dir.path().join("opt/x/1").exists());
        assert!(dir.path().join("opt/x/2").exists());
    }
}
