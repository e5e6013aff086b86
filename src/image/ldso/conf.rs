//! The directories ld.so searches after RPATH and RUNPATH, and the `$TOKEN`s it expands in them.
//!
//! ld.so itself reads `/etc/ld.so.cache`, a binary index that `ldconfig` builds from the
//! directories in `/etc/ld.so.conf`. We read the configuration instead of the cache: the cache
//! format changes between glibc versions, and an unpacked base image may not even have one.

use std::path::{Path, PathBuf};

use super::rootfs::{host_path, walk};
use crate::error::{Error, Result};
use crate::image::elf::{Abi, Class};

/// `include` nesting deeper than this is a loop (ldconfig would recurse until it crashes).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Directories named by `/etc/ld.so.conf` in `root`, in file order, `include`s expanded in place.
/// No configuration file means no directories, as for ldconfig.
pub(crate) fn conf_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    read_conf(root, Path::new("/etc/ld.so.conf"), 0, &mut dirs)?;
    Ok(dirs)
}

fn read_conf(root: &Path, file: &Path, depth: usize, dirs: &mut Vec<PathBuf>) -> Result<()> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(Error::user(format!("`{}` includes itself", file.display())));
    }
    let found = walk(root, file).map_err(|e| Error::io("read", &host_path(root, file), e))?;
    let Some(found) = found.filter(|f| !f.is_dir) else {
        return Ok(());
    };
    let text =
        std::fs::read_to_string(&found.host).map_err(|e| Error::io("read", &found.host, e))?;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        match line.split_once(char::is_whitespace) {
            Some(("include", patterns)) => {
                for pattern in patterns.split_whitespace() {
                    // relative patterns are relative to the including file, as in ldconfig
                    let pattern = found.real.parent().unwrap_or(Path::new("/")).join(pattern);
                    for included in glob(root, &pattern)? {
                        read_conf(root, &included, depth + 1, dirs)?;
                    }
                }
            }
            // `hwcap` lines configured a feature glibc 2.37 removed; ldconfig ignores them
            Some(("hwcap", _)) => {}
            _ if line.is_empty() => {}
            _ => {
                // a historical `dir=TYPE` suffix names a library type; the directory is before it
                let dir = line.split('=').next().unwrap_or(line).trim_end_matches('/');
                let dir = PathBuf::from(if dir.is_empty() { "/" } else { dir });
                if dir.is_absolute() && !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
    Ok(())
}

/// Files inside `root` matching `pattern` (absolute inside root), sorted like glob(3) sorts.
/// Wildcards are `*` and `?`, in any component; `[...]` classes are taken literally.
fn glob(root: &Path, pattern: &Path) -> Result<Vec<PathBuf>> {
    let mut matches = vec![PathBuf::from("/")];
    for part in pattern.iter().skip(1) {
        let part = part.to_string_lossy();
        if !part.contains(['*', '?']) {
            matches.iter_mut().for_each(|m| m.push(&*part));
            continue;
        }
        let mut next = Vec::new();
        for dir in &matches {
            let io_err = |e| Error::io("read directory", &host_path(root, dir), e);
            let Some(found) = walk(root, dir).map_err(io_err)?.filter(|f| f.is_dir) else {
                continue;
            };
            for entry in std::fs::read_dir(&found.host).map_err(io_err)? {
                let name = entry.map_err(io_err)?.file_name();
                let name = name.to_string_lossy();
                // like glob(3), a wildcard does not match a leading dot
                if !name.starts_with('.') && wildcard_match(part.as_bytes(), name.as_bytes()) {
                    next.push(dir.join(&*name));
                }
            }
        }
        next.sort();
        matches = next;
    }
    Ok(matches)
}

fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            wildcard_match(rest, name) || (!name.is_empty() && wildcard_match(pattern, &name[1..]))
        }
        (Some((b'?', rest)), Some((_, name_rest))) => wildcard_match(rest, name_rest),
        (Some((p, rest)), Some((n, name_rest))) => p == n && wildcard_match(rest, name_rest),
        _ => false,
    }
}

/// The directories glibc searches last, compiled into ld.so. Debian-style multiarch
/// directories come first; distributions without them simply do not have those paths.
pub(crate) fn default_dirs(abi: &Abi) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(triplet) = abi.multiarch_triplet() {
        dirs.push(PathBuf::from(format!("/lib/{triplet}")));
        dirs.push(PathBuf::from(format!("/usr/lib/{triplet}")));
    }
    if abi.class == Class::Elf64 {
        dirs.extend(["/lib64", "/usr/lib64"].map(PathBuf::from));
    }
    dirs.extend(["/lib", "/usr/lib"].map(PathBuf::from));
    dirs
}

/// What `$LIB` means to the glibc in `root`: it is fixed when glibc is built (its library
/// directory), so we recognise the layout: Debian's multiarch dir, else lib64 or lib.
pub(crate) fn lib_token(root: &Path, abi: &Abi) -> String {
    let is_dir = |dir: &str| {
        walk(root, Path::new(dir))
            .ok()
            .flatten()
            .is_some_and(|w| w.is_dir)
    };
    match abi.multiarch_triplet() {
        Some(triplet) if is_dir(&format!("/usr/lib/{triplet}")) => format!("lib/{triplet}"),
        _ if abi.class == Class::Elf64 && is_dir("/usr/lib64") => "lib64".into(),
        _ => "lib".into(),
    }
}

/// Expand `$ORIGIN`, `$LIB` and `$PLATFORM` (also as `${NAME}`) in one RPATH/RUNPATH element.
/// `None` when the result is relative: glibc would take it from the process's working
/// directory, which in a container is whatever the image says, not where we are now.
pub(crate) fn expand(dir: &str, origin: &Path, lib: &str, platform: &str) -> Option<PathBuf> {
    let mut out = String::new();
    let mut rest = dir;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let (name, after) = match rest.strip_prefix('{') {
            Some(braced) => match braced.split_once('}') {
                Some((name, after)) => (name, after),
                None => ("", rest),
            },
            None => {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
                rest.split_at(end.unwrap_or(rest.len()))
            }
        };
        match name {
            "ORIGIN" => out.push_str(&origin.to_string_lossy()),
            "LIB" => out.push_str(lib),
            "PLATFORM" => out.push_str(platform),
            // an unknown token stays as written, as in glibc
            _ => {
                out.push('$');
                continue;
            }
        }
        rest = after;
    }
    out.push_str(rest);
    let path = PathBuf::from(out);
    path.is_absolute().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand_with_and_without_braces_and_unknown_ones_stay() {
        let origin = Path::new("/app/bin");
        let expand = |dir| expand(dir, origin, "lib/x86_64-linux-gnu", "x86_64");
        assert_eq!(
            expand("$ORIGIN/../lib"),
            Some(PathBuf::from("/app/bin/../lib"))
        );
        assert_eq!(
            expand("${ORIGIN}/x/$LIB"),
            Some(PathBuf::from("/app/bin/x/lib/x86_64-linux-gnu"))
        );
        assert_eq!(
            expand("/opt/${PLATFORM}/$LIB"),
            Some(PathBuf::from("/opt/x86_64/lib/x86_64-linux-gnu"))
        );
        assert_eq!(
            expand("/opt/$ORIGINAL/$X"),
            Some(PathBuf::from("/opt/$ORIGINAL/$X"))
        );
        assert_eq!(expand("lib"), None);
    }

    #[test]
    fn wildcards_match_like_glob() {
        assert!(wildcard_match(b"*.conf", b"x86_64-linux-gnu.conf"));
        assert!(wildcard_match(b"lib?.conf", b"libc.conf"));
        assert!(!wildcard_match(b"*.conf", b"libc.conf.dpkg-old"));
        assert!(!wildcard_match(b"lib?.conf", b"lib.conf"));
    }

    #[test]
    fn host_configuration_lists_debian_multiarch_dirs_in_order() {
        let dirs = conf_dirs(Path::new("/")).unwrap();
        let multiarch = [
            "/usr/local/lib/x86_64-linux-gnu",
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
        ];
        let at = |d: &str| {
            dirs.iter()
                .position(|x| x == Path::new(d))
                .unwrap_or_else(|| panic!("{d} in {dirs:?}"))
        };
        assert!(at(multiarch[0]) < at(multiarch[1]) && at(multiarch[1]) < at(multiarch[2]));
    }
}
