//! Paths inside an image's root filesystem, unpacked into a host directory, resolved the way the
//! kernel would if that directory were `/` (a userspace chroot, like filepath-securejoin): an
//! absolute symlink target and `..` at the top stay inside the root. Everything that reads or
//! writes an unpacked image goes through here, because its symlinks come from an untrusted
//! image and a plain `root.join(path)` would follow them out onto the host.
//!
//! The guarantee holds as long as nothing else changes the tree during a walk: the root is a
//! scratch directory only gantry writes to, so there is no racing attacker to defend against.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Linux gives up with ELOOP after 40 symlinks in one lookup; so do we, which also bounds the
/// work a chain or loop of links in a hostile image can cause.
pub const MAX_SYMLINKS: usize = 40;

/// Whether a symlink in the last component is followed. A whiteout or a replaced entry acts on
/// the link itself, never on what it points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    Follow,
    NoFollow,
}

/// What to do at a component that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Stop there, as `open(2)` would: the path leads nowhere.
    Stop,
    /// Carry on lexically, as securejoin does: where an entry about to be created would go.
    Continue,
}

/// What a path leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// Anything else that is not a symlink: a regular file, or a special file.
    File,
    /// Only with `Last::NoFollow`.
    Symlink,
    Missing,
}

/// One directory, symlink or file met on the way, in order.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Dir(&'a Path),
    Symlink { path: &'a Path, target: &'a Path },
    File { path: &'a Path, host: &'a Path },
}

#[derive(Debug, Clone)]
pub struct Resolved {
    /// Absolute inside the root, free of symlinks (except the last component with
    /// `Last::NoFollow`), `.` and `..`.
    pub real: PathBuf,
    /// `real` on the host: always under the root directory.
    pub host: PathBuf,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum WalkError {
    /// More than `MAX_SYMLINKS` symlinks while resolving this path (absolute inside the root).
    TooManySymlinks(PathBuf),
    /// This path (absolute inside the root) is not a directory, but the path goes through it.
    NotADirectory(PathBuf),
    Io {
        host: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::TooManySymlinks(path) => write!(
                f,
                "more than {MAX_SYMLINKS} symlinks to follow in `{}`",
                path.display()
            ),
            WalkError::NotADirectory(path) => {
                write!(f, "`{}` is not a directory", path.display())
            }
            WalkError::Io { host, source } => write!(f, "`{}`: {source}", host.display()),
        }
    }
}

impl std::error::Error for WalkError {}

/// `root` joined with `path`, an absolute path inside it that is already resolved.
pub fn host_path(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Follow `path` (absolute inside `root`; a relative one is taken from `/`) without ever leaving
/// `root`, calling `seen` for every directory, symlink and file met on the way.
pub fn resolve(
    root: &Path,
    path: &Path,
    last: Last,
    missing: Missing,
    mut seen: impl FnMut(Step),
) -> Result<Resolved, WalkError> {
    let mut pending: VecDeque<OsString> = names(path).collect();
    let mut at = PathBuf::from("/");
    let mut kind = Kind::Dir;
    let mut symlinks = 0;
    while let Some(name) = pending.pop_front() {
        match kind {
            Kind::Dir => {}
            Kind::Missing if missing == Missing::Continue => {}
            Kind::Missing => break,
            Kind::File | Kind::Symlink => return Err(WalkError::NotADirectory(at)),
        }
        if name == ".." {
            // `at` never holds a symlink, so dropping its last name is what the kernel does
            at.pop();
            kind = Kind::Dir;
            continue;
        }
        let inside = at.join(&name);
        let host = host_path(root, &inside);
        if kind == Kind::Missing {
            at = inside;
            continue;
        }
        let meta = match std::fs::symlink_metadata(&host) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                at = inside;
                kind = Kind::Missing;
                continue;
            }
            Err(source) => return Err(WalkError::Io { host, source }),
        };
        if meta.is_symlink() {
            if pending.is_empty() && last == Last::NoFollow {
                at = inside;
                kind = Kind::Symlink;
                break;
            }
            symlinks += 1;
            if symlinks > MAX_SYMLINKS {
                return Err(WalkError::TooManySymlinks(path.to_owned()));
            }
            let target =
                std::fs::read_link(&host).map_err(|source| WalkError::Io { host, source })?;
            if target.is_absolute() {
                at = PathBuf::from("/");
            }
            for name in names(&target).rev() {
                pending.push_front(name);
            }
            seen(Step::Symlink {
                path: &inside,
                target: &target,
            });
        } else {
            if meta.is_dir() {
                kind = Kind::Dir;
                seen(Step::Dir(&inside));
            } else {
                kind = Kind::File;
                seen(Step::File {
                    path: &inside,
                    host: &host,
                });
            }
            at = inside;
        }
    }
    let host = host_path(root, &at);
    Ok(Resolved {
        real: at,
        host,
        kind,
    })
}

/// The names to follow in `path`; `.` and the root itself need no step.
fn names(path: &Path) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_owned()),
        Component::ParentDir => Some("..".into()),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn join(root: &Path, path: &str, last: Last) -> Result<Resolved, WalkError> {
        resolve(root, Path::new(path), last, Missing::Continue, |_| {})
    }

    #[test]
    fn symlinks_absolute_and_relative_resolve_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        symlink("/usr/lib", root.join("lib")).unwrap();
        symlink("../../../../../../..", root.join("usr/up")).unwrap();
        symlink(tmp.path().join("outside"), root.join("host")).unwrap();

        let r = join(&root, "/lib/x", Last::Follow).unwrap();
        assert_eq!(
            (r.real, r.kind),
            (PathBuf::from("/usr/lib/x"), Kind::Missing)
        );
        assert_eq!(r.host, root.join("usr/lib/x"));
        let r = join(&root, "usr/up/etc/passwd", Last::Follow).unwrap();
        assert_eq!(r.host, root.join("etc/passwd"));
        // an absolute link to a host directory lands on the same path inside the root
        let r = join(&root, "host/secret", Last::Follow).unwrap();
        let outside = tmp.path().join("outside/secret");
        assert_eq!(r.host, host_path(&root, &outside));
        // a missing component and `..` after it stay lexical, as in securejoin
        let r = join(&root, "nothing/../lib", Last::NoFollow).unwrap();
        assert_eq!((r.real, r.kind), (PathBuf::from("/lib"), Kind::Symlink));
    }

    #[test]
    fn loops_and_files_used_as_directories_are_errors() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::write(r.join("file"), "x").unwrap();
        symlink("b", r.join("a")).unwrap();
        symlink("a", r.join("b")).unwrap();
        assert!(matches!(
            join(r, "a/x", Last::Follow),
            Err(WalkError::TooManySymlinks(_))
        ));
        assert!(matches!(
            join(r, "file/x", Last::Follow),
            Err(WalkError::NotADirectory(p)) if p == Path::new("/file")
        ));
        // the last component itself is not followed when asked
        let link = join(r, "a", Last::NoFollow).unwrap();
        assert_eq!((link.host, link.kind), (r.join("a"), Kind::Symlink));
    }
}
