//! Follow a path inside a root filesystem the way the kernel would if that root were `/`, and
//! record every directory and symlink on the way: the image must hold all of them, or the
//! path the loader opens (`/lib64/ld-linux-x86-64.so.2`) would not lead to the file.

use std::io;
use std::path::{Path, PathBuf};

use crate::oci::rootfs::{Kind, Last, Missing, Step, WalkError, resolve};

/// One filesystem entry to create in the image. `path`s are absolute paths inside the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FsEntry {
    Dir {
        path: PathBuf,
    },
    /// `target` exactly as stored in the link; absolute targets resolve inside the image.
    Symlink {
        path: PathBuf,
        target: PathBuf,
    },
    /// A regular file whose contents come from `source` on the host.
    File {
        path: PathBuf,
        source: PathBuf,
    },
}

impl FsEntry {
    pub fn path(&self) -> &Path {
        match self {
            FsEntry::Dir { path } | FsEntry::Symlink { path, .. } | FsEntry::File { path, .. } => {
                path
            }
        }
    }
}

/// Where a path inside the root leads, and what the image needs for it to lead there.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    /// The path after following every symlink, inside the root.
    pub real: PathBuf,
    /// `real` on the host, i.e. under the root directory.
    pub host: PathBuf,
    pub is_dir: bool,
    /// Directories, symlinks and (when it is a file) the file itself, in the order met.
    pub entries: Vec<FsEntry>,
}

pub(crate) use crate::oci::rootfs::host_path;

/// Follow `path` (absolute inside `root`; a relative one is taken from `/`) without ever leaving
/// `root`: an absolute symlink target and `..` at the top stay inside it, as they would in a
/// container. `Ok(None)` when the path does not lead anywhere (missing, a file used as a
/// directory, a symlink loop): the loader then simply tries its next directory.
pub(crate) fn walk(root: &Path, path: &Path) -> io::Result<Option<Walk>> {
    let mut entries = Vec::new();
    let record = |step: Step| {
        entries.push(match step {
            Step::Dir(path) => FsEntry::Dir {
                path: path.to_owned(),
            },
            Step::Symlink { path, target } => FsEntry::Symlink {
                path: path.to_owned(),
                target: target.to_owned(),
            },
            Step::File { path, host } => FsEntry::File {
                path: path.to_owned(),
                source: host.to_owned(),
            },
        })
    };
    let resolved = match resolve(root, path, Last::Follow, Missing::Stop, record) {
        Ok(resolved) => resolved,
        Err(WalkError::TooManySymlinks(_) | WalkError::NotADirectory(_)) => return Ok(None),
        Err(WalkError::Io { host, source }) => {
            return Err(io::Error::new(
                source.kind(),
                format!("`{}`: {source}", host.display()),
            ));
        }
    };
    let is_dir = match resolved.kind {
        Kind::Dir => true,
        Kind::File => false,
        Kind::Symlink | Kind::Missing => return Ok(None),
    };
    Ok(Some(Walk {
        real: resolved.real,
        host: resolved.host,
        is_dir,
        entries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn absolute_symlinks_and_dotdot_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs_err::create_dir_all(r.join("usr/lib64")).unwrap();
        fs_err::write(r.join("usr/lib64/ld.so"), "x").unwrap();
        // `/lib64 -> /usr/lib64` would lead to the host's /usr/lib64 if followed naively
        symlink("/usr/lib64", r.join("lib64")).unwrap();
        symlink("../../../../../usr/lib64/ld.so", r.join("usr/lib64/up")).unwrap();

        let walk = super::walk(r, Path::new("/lib64/ld.so")).unwrap().unwrap();
        assert_eq!(walk.real, p("/usr/lib64/ld.so"));
        assert_eq!(walk.host, r.join("usr/lib64/ld.so"));
        assert_eq!(
            walk.entries,
            [
                FsEntry::Symlink {
                    path: p("/lib64"),
                    target: p("/usr/lib64")
                },
                FsEntry::Dir { path: p("/usr") },
                FsEntry::Dir {
                    path: p("/usr/lib64")
                },
                FsEntry::File {
                    path: p("/usr/lib64/ld.so"),
                    source: r.join("usr/lib64/ld.so")
                },
            ]
        );
        let up = super::walk(r, Path::new("/usr/lib64/up")).unwrap().unwrap();
        assert_eq!(up.host, r.join("usr/lib64/ld.so"));
    }

    #[test]
    fn missing_paths_loops_and_files_used_as_directories_lead_nowhere() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs_err::write(r.join("file"), "x").unwrap();
        symlink("loop", r.join("loop")).unwrap();
        for path in ["/missing", "/file/child", "/loop"] {
            assert!(super::walk(r, Path::new(path)).unwrap().is_none(), "{path}");
        }
    }
}
