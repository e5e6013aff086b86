//! Lexical path helpers. Recipes store paths relative to the workspace root with `/` separators
//! so that they do not depend on where the checkout lives.

use std::path::{Component, Path, PathBuf};

/// Resolve `.` and `..` without touching the filesystem (symlinked checkouts keep their names).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `to` relative to the directory `from`, `/`-separated, `""` when equal.
pub fn relative_path(from: &Path, to: &Path) -> String {
    let from = normalize(from);
    let to = normalize(to);
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// `base/rel` for `/`-separated relative paths, normalizing `..`.
pub fn join_rel(base: &str, rel: &str) -> String {
    let joined = if base.is_empty() {
        rel.to_owned()
    } else {
        format!("{base}/{rel}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// `start`, its parent, … up to and including `stop` (which must be an ancestor of `start`).
pub fn ancestors_within(start: &Path, stop: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in start.ancestors() {
        out.push(dir.to_path_buf());
        if dir == stop {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_go_up_and_down() {
        assert_eq!(relative_path(Path::new("/w/app"), Path::new("/w/app")), "");
        assert_eq!(
            relative_path(Path::new("/w/app"), Path::new("/w/app/crates/a")),
            "crates/a"
        );
        assert_eq!(
            relative_path(Path::new("/w/app"), Path::new("/w/shared/lib")),
            "../shared/lib"
        );
    }

    #[test]
    fn join_rel_normalizes_parents() {
        assert_eq!(join_rel("crates/a", "../b"), "crates/b");
        assert_eq!(join_rel("", "../shared"), "../shared");
        assert_eq!(join_rel("../x", "../../y"), "../../y");
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }
}
