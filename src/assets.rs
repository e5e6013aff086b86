//! Files a program reads at run time from beside its sources (`configuration/`, `templates/`…):
//! the image holds only what `extra-files` names, so gantry checks those and points at the
//! usual directories it was not told about.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::resolve::Target;

/// Directories that programs commonly read at run time relative to their working directory.
const USUAL: &[&str] = &[
    "configuration",
    "config",
    "assets",
    "static",
    "templates",
    "public",
];

/// The `extra-files` of `target` on the host, checked to exist, with their paths in the image.
pub fn extra_files(root: &Path, target: &Target) -> Result<Vec<(PathBuf, String)>> {
    let package_dir = root.join(&target.package_dir);
    target
        .extra_files
        .iter()
        .map(|f| {
            let path = package_dir.join(&f.host);
            if path.symlink_metadata().is_err() {
                return Err(Error::user(format!(
                    "extra file `{}` does not exist in `{}`",
                    f.host,
                    package_dir.display()
                ))
                .with_hint("`extra-files` paths are relative to the package directory"));
            }
            Ok((path, f.image.clone()))
        })
        .collect()
}

/// A note about the usual run-time directories next to the package that are not shipped.
pub fn unshipped_note(root: &Path, target: &Target) -> Option<String> {
    let package_dir = root.join(&target.package_dir);
    let missing: Vec<&str> = USUAL
        .iter()
        .copied()
        .filter(|d| package_dir.join(d).is_dir())
        .filter(|d| !target.extra_files.iter().any(|f| f.host == *d))
        .collect();
    let first = missing.first()?;
    let dirs: Vec<String> = missing.iter().map(|d| format!("`{d}/`")).collect();
    Some(format!(
        "note: package `{}` has {} beside its sources, which the image does not hold\n\
         hint: if `{}` reads it at run time, ship it: add `extra-files = [\"{first}:/app/{first}\"]` \
         and `workdir = \"/app\"` to [package.metadata.gantry]",
        target.package,
        dirs.join(", "),
        target.bin
    ))
}
