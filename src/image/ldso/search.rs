//! One library search: the directory list for a needing object, and the first candidate in it
//! that is a library for the right machine.

use std::path::{Path, PathBuf};

use super::rootfs::{Walk, host_path, walk};
use super::{FoundVia, Object, arch, conf};
use crate::error::{Error, Kind, Result};
use crate::image::elf::{Abi, ElfInfo};

/// A library file the search accepted.
pub(super) struct Found {
    pub path: PathBuf,
    pub walk: Walk,
    pub elf: ElfInfo,
    pub via: FoundVia,
}

/// What a search looked at, for the error when it finds nothing.
#[derive(Default)]
pub(super) struct Searched {
    dirs: Vec<PathBuf>,
    skipped: Vec<(PathBuf, String)>,
}

/// The search rules for one root and one machine.
pub(super) struct Loader<'a> {
    pub(super) root: &'a Path,
    pub(super) abi: Abi,
    lib_token: String,
    platform: &'static str,
    conf_dirs: Vec<PathBuf>,
    default_dirs: Vec<PathBuf>,
}

impl<'a> Loader<'a> {
    pub(super) fn new(root: &'a Path, abi: Abi) -> Result<Loader<'a>> {
        Ok(Loader {
            root,
            abi,
            lib_token: conf::lib_token(root, &abi),
            platform: abi.platform().unwrap_or(""),
            conf_dirs: conf::conf_dirs(root)?,
            default_dirs: conf::default_dirs(&abi),
        })
    }

    pub(super) fn walk(&self, path: &Path) -> Result<Option<Walk>> {
        walk(self.root, path).map_err(|e| Error::io("look up", &host_path(self.root, path), e))
    }

    /// ld.so.cache's directories, then the defaults: what every search ends with.
    pub(super) fn system_dirs(&self) -> impl Iterator<Item = (PathBuf, FoundVia)> + '_ {
        let conf = self
            .conf_dirs
            .iter()
            .map(|dir| (dir.clone(), FoundVia::LdSoConf));
        conf.chain(
            self.default_dirs
                .iter()
                .map(|dir| (dir.clone(), FoundVia::DefaultDir)),
        )
    }

    /// Where to look for a library needed by `objects[i]`, in order (see the module docs).
    pub(super) fn search_dirs(&self, objects: &[Object], i: usize) -> Vec<(PathBuf, FoundVia)> {
        let expand = |obj: &Object, list: &[String], via| {
            let origin = obj.path.parent().unwrap_or(Path::new("/"));
            let dirs = list
                .iter()
                .filter_map(|dir| conf::expand(dir, origin, &self.lib_token, self.platform));
            dirs.map(move |dir| (dir, via)).collect::<Vec<_>>()
        };
        let mut dirs = Vec::new();
        if objects[i].elf.runpath.is_empty() {
            let mut next = Some(i);
            while let Some(j) = next {
                if objects[j].elf.runpath.is_empty() {
                    dirs.extend(expand(&objects[j], &objects[j].elf.rpath, FoundVia::Rpath));
                }
                next = objects[j].loader;
            }
        }
        dirs.extend(expand(
            &objects[i],
            &objects[i].elf.runpath,
            FoundVia::Runpath,
        ));
        dirs.extend(self.system_dirs());
        dirs
    }

    /// The first `dir/name` among `dirs` that is a library for our machine.
    pub(super) fn find(
        &self,
        name: &str,
        dirs: impl IntoIterator<Item = (PathBuf, FoundVia)>,
        searched: &mut Searched,
    ) -> Result<Option<Found>> {
        for (dir, via) in dirs {
            if searched.dirs.contains(&dir) {
                continue;
            }
            let found = self.candidate(&dir.join(name), via, searched)?;
            searched.dirs.push(dir);
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    pub(super) fn candidate(
        &self,
        path: &Path,
        via: FoundVia,
        searched: &mut Searched,
    ) -> Result<Option<Found>> {
        let Some(walk) = self.walk(path)?.filter(|walk| !walk.is_dir) else {
            return Ok(None);
        };
        let elf = match ElfInfo::read(&walk.host) {
            Ok(elf) => elf,
            Err(e) if e.kind() == Kind::User => {
                searched
                    .skipped
                    .push((path.to_path_buf(), "not a valid ELF file".into()));
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if elf.abi != self.abi {
            let arch = elf.abi.oci_architecture().unwrap_or("another machine");
            searched.skipped.push((
                path.to_path_buf(),
                format!("built for {arch} ({:?})", elf.abi.class),
            ));
            return Ok(None);
        }
        Ok(Some(Found {
            path: path.to_path_buf(),
            walk,
            elf,
            via,
        }))
    }
}

/// " in `root`", or nothing for the host, whose root goes without saying.
fn in_root(root: &Path) -> String {
    match root == Path::new("/") {
        true => String::new(),
        false => format!(" in `{}`", root.display()),
    }
}

pub(super) fn missing_interpreter(root: &Path, binary: &Path, interp: &Path, abi: &Abi) -> Error {
    let is_musl = interp
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("ld-musl-"));
    let hint = if is_musl {
        "the binary is linked against musl: use a musl-based base image (`alpine`), or build a \
         static binary (`-C target-feature=+crt-static`)"
            .to_owned()
    } else {
        let arch = abi.oci_architecture().unwrap_or("this machine");
        let expected = match arch::loaders(abi) {
            [] => String::new(),
            loaders => format!(" (glibc on {arch} installs `{}`)", loaders.join("` or `")),
        };
        format!(
            "use a base image with the same C library as the build machine{expected}: `debian`, \
             `ubuntu`, `gcr.io/distroless/cc`; or build a static binary \
             (`-C target-feature=+crt-static`)"
        )
    };
    let (interp, binary) = (interp.display(), binary.display());
    Error::user(format!(
        "the interpreter `{interp}` of `{binary}` was not found{}",
        in_root(root)
    ))
    .with_hint(hint)
}

pub(super) fn missing_library(
    root: &Path,
    name: &str,
    needed_by: &Path,
    searched: &Searched,
    abi: &Abi,
) -> Error {
    let mut cause = String::from("searched:");
    for dir in &searched.dirs {
        cause.push_str(&format!("\n`{}`", dir.display()));
    }
    for (path, why) in &searched.skipped {
        cause.push_str(&format!("\nskipped `{}`: {why}", path.display()));
    }
    let message = format!(
        "library `{name}`, needed by `{}`, was not found{}",
        needed_by.display(),
        in_root(root)
    );
    if let Some(hint) = super::packages::foreign_hint(name, abi) {
        return Error::user(message).caused_by(cause).with_hint(hint);
    }
    Error::user(message).caused_by(cause).with_hint(format!(
        "install the package that ships `{name}` (on Debian, the runtime package that the `-dev` \
         package depends on; `apt-file search {name}` names it), or, for a library you build, \
         put it in one of these directories or give the binary a RUNPATH like `$ORIGIN/../lib`"
    ))
}
