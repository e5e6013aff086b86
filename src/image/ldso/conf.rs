//! The directories ld.so searches after RPATH and RUNPATH, and the `$TOKEN`s it expands in them.
//!
//! ld.so itself reads `/etc/ld.so.cache`, a binary index that `ldconfig` builds from the
//! directories in `/etc/ld.so.conf`. We read the configuration instead of the cache: the cache
//! format changes between glibc versions, and an unpacked base image may not even have one.

use std::path::{Path, PathBuf};

use super::arch;
use super::rootfs::{host_path, walk};
use crate::error::{Error, Result};
use crate::image::elf::Abi;

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

/// The directories glibc searches last, compiled into ld.so (see `arch`).
pub(crate) fn default_dirs(abi: &Abi) -> Vec<PathBuf> {
    arch::default_dirs(abi)
}

/// What `$LIB` means to the glibc in `root`: it is fixed when glibc is built (its library
/// directory), so we recognise the layout: Debian's multiarch dir, else the machine's own
/// glibc directory (`lib64`), else `lib`.
pub(crate) fn lib_token(root: &Path, abi: &Abi) -> String {
    let is_dir = |dir: &str| {
        walk(root, Path::new(dir))
            .ok()
            .flatten()
            .is_some_and(|w| w.is_dir)
    };
    if let Some(triplet) = abi.multiarch_triplet()
        && is_dir(&format!("/usr/lib/{triplet}"))
    {
        return format!("lib/{triplet}");
    }
    arch::lib_dirs(abi)
        .into_iter()
        .find(|dir| is_dir(&format!("/usr/{dir}")))
        .unwrap_or("lib")
        .to_owned()
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

    /// Debian's configuration, as a fixture root: ld.so.conf includes its `.d` directory,
    /// whose files are read in name order (`libc.conf` before `x86_64-linux-gnu.conf`).
    #[test]
    fn debian_configuration_lists_its_multiarch_dirs_in_order() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("etc/ld.so.conf.d");
        fs_err::create_dir_all(&d).unwrap();
        fs_err::write(
            root.path().join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n\n",
        )
        .unwrap();
        fs_err::write(d.join("libc.conf"), "# libc default\n/usr/local/lib\n").unwrap();
        fs_err::write(
            d.join("x86_64-linux-gnu.conf"),
            "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n\
             /usr/lib/x86_64-linux-gnu\n",
        )
        .unwrap();
        fs_err::write(
            d.join("fakeroot-x86_64-linux-gnu.conf"),
            "/usr/lib/x86_64-linux-gnu/libfakeroot\n",
        )
        .unwrap();
        let dirs = conf_dirs(root.path()).unwrap();
        let expected = [
            "/usr/lib/x86_64-linux-gnu/libfakeroot",
            "/usr/local/lib",
            "/usr/local/lib/x86_64-linux-gnu",
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
        ];
        assert_eq!(dirs, expected.map(PathBuf::from));
    }

    /// The host's own configuration, whatever the distribution: every directory ldconfig
    /// reads from it, in ldconfig's order, is one of ours, in the same order.
    #[test]
    fn host_configuration_agrees_with_ldconfig() {
        let ours = conf_dirs(Path::new("/")).unwrap();
        let Some(ldconfig) = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            panic!("no ldconfig on this glibc host");
        };
        // `-N -X`: only print, touch neither the cache nor the links
        let out = std::process::Command::new(ldconfig)
            .args(["-v", "-N", "-X"])
            .output()
            .unwrap();
        let listed: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("(from /etc/ld.so.conf"))
            .filter_map(|l| l.split(':').next())
            .map(PathBuf::from)
            .collect();
        let at: Vec<usize> = listed
            .iter()
            .map(|d| {
                ours.iter()
                    .position(|o| o == d)
                    .unwrap_or_else(|| panic!("{d:?} in {ours:?}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{listed:?} vs {ours:?}");
    }
}
