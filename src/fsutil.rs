//! Filesystem helpers shared by every command that writes a user-visible file.

use std::path::Path;

use crate::error::{Error, Result};

/// Write through a temporary file in the same directory and rename, so a reader never sees a
/// half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(parent).map_err(|e| Error::io("write into", parent, e))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| Error::io("write", path, e))?;
    // Temp files are created 0600; the files we stand in for are ordinary 0644 sources.
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io("write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("write", path, e.error))?;
    Ok(())
}

/// Mark a cache entry as just used (for [`keep_newest`]); failures are ignored.
pub fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// Keep the `keep` most recently used `*.json` entries of the cache directory `dir`; the
/// others, and nothing else, are removed. Returns the removed ones. Failures are ignored (a
/// cache only saves time).
pub fn keep_newest(dir: &Path, keep: usize) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    let old: Vec<_> = found.into_iter().skip(keep).map(|(_, p)| p).collect();
    for path in &old {
        let _ = std::fs::remove_file(path);
    }
    old
}
