//! Find a binary's shared libraries the way glibc's dynamic loader (ld.so) will at run time, in
//! a root filesystem: `/` for the host, or a base image unpacked into a directory.
//!
//! Breadth-first over `DT_NEEDED`, each name looked up once; a name already loaded (or the
//! soname of something loaded, such as ld.so itself) is reused. Otherwise, in order:
//!
//! 1. `DT_RPATH` of the needing object and of each object that led to it, up to the binary;
//!    only when the needing object has no `DT_RUNPATH`, and an object's own `DT_RUNPATH`
//!    voids its `DT_RPATH`;
//! 2. `LD_LIBRARY_PATH`: deliberately ignored. It describes the shell running `cargo gantry`,
//!    not the container; honouring it would copy whatever happens to be set on the build
//!    machine, and the result would only load if the image set the same variable;
//! 3. `DT_RUNPATH` of the needing object only (not of its dependants);
//! 4. the directories in `/etc/ld.so.conf` (what ld.so.cache indexes), then the defaults.
//!
//! A candidate built for another machine or class is skipped, as ld.so skips it. Not modelled:
//! `glibc-hwcaps/` subdirectories (picked by the CPU the container runs on; the plain directory
//! always holds the baseline build we copy), `DF_1_NODEFLIB`, and `/etc/ld.so.preload`.

mod arch;
mod conf;
mod glibc;
mod packages;
mod rootfs;
mod search;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

pub use glibc::{check_glibc, provided_glibc_versions};

/// glibc's loader paths (`PT_INTERP`) for `abi`'s machine; empty for a machine we have no row
/// for.
pub fn glibc_loaders(abi: &crate::image::elf::Abi) -> &'static [&'static str] {
    arch::loaders(abi)
}
pub use rootfs::FsEntry;

use crate::error::{Error, Result};
use crate::image::elf::ElfInfo;
use rootfs::Walk;
use search::{Loader, Searched, missing_interpreter, missing_library};

/// Which rule found a library; the image builder needs it because a minimal image has no
/// ld.so.cache, so libraries found through it must be reachable another way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundVia {
    /// The binary's `PT_INTERP`.
    Interpreter,
    /// A `DT_NEEDED` entry containing `/`, opened as a path.
    Path,
    Rpath,
    Runpath,
    /// A directory from `/etc/ld.so.conf`, i.e. found through ld.so.cache.
    LdSoConf,
    DefaultDir,
}

#[derive(Debug, Clone)]
pub struct Library {
    /// The name it was asked for (`DT_NEEDED`; the soname for the interpreter).
    pub soname: String,
    /// Where the loader opens it, absolute inside the root: the path the image must have.
    pub path: PathBuf,
    /// `path` with every symlink followed, inside the root.
    pub real_path: PathBuf,
    /// The object that first needed it: the binary's path, or another library's `path`.
    pub needed_by: PathBuf,
    pub found_via: FoundVia,
    pub elf: ElfInfo,
}

#[derive(Debug, Clone)]
pub struct Resolution {
    pub binary: ElfInfo,
    /// `None` for a static binary.
    pub interpreter: Option<Library>,
    /// In the loader's (breadth-first) order, each file once.
    pub libraries: Vec<Library>,
    entries: BTreeMap<PathBuf, FsEntry>,
}

impl Resolution {
    /// What to create in the image so that the interpreter and each library are found at the
    /// paths the loader opens: files at their real paths plus every directory and symlink on
    /// the way. Each path once, sorted, so a directory comes before what it contains. The
    /// binary itself is not included: where it goes in the image is the caller's choice.
    pub fn entries(&self) -> impl Iterator<Item = &FsEntry> {
        self.entries.values()
    }

    /// Directories the image must put on `LD_LIBRARY_PATH`: those of libraries found only
    /// through ld.so.cache (outside the default directories), since the image has no cache.
    pub fn library_path(&self) -> Vec<PathBuf> {
        let defaults = conf::default_dirs(&self.binary.abi);
        let mut dirs = Vec::new();
        for lib in self
            .libraries
            .iter()
            .filter(|lib| lib.found_via == FoundVia::LdSoConf)
        {
            let dir = lib.path.parent().unwrap_or(Path::new("/")).to_path_buf();
            if !defaults.contains(&dir) && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    fn add(&mut self, walk: &Walk) {
        for entry in &walk.entries {
            self.entries
                .insert(entry.path().to_path_buf(), entry.clone());
        }
    }
}

/// Follow `path` (absolute inside `root`) the way the loader would: symlinks, absolute ones
/// included, stay inside `root`. `None` when it leads nowhere.
pub(crate) fn walk_in_root(root: &Path, path: &Path) -> Result<Option<Walk>> {
    rootfs::walk(root, path).map_err(|e| Error::io("look up", &rootfs::host_path(root, path), e))
}

/// Resolve the interpreter and libraries of `binary` (a path on the host) inside `root`.
///
/// `$ORIGIN` of the binary is its directory on the host, looked up inside `root`: right for
/// `root == /`; against another root, libraries bundled next to the binary are not found.
pub fn resolve(root: &Path, binary: &Path) -> Result<Resolution> {
    let elf = ElfInfo::read(binary)?;
    let mut resolution = Resolution {
        binary: elf.clone(),
        interpreter: None,
        libraries: vec![],
        entries: BTreeMap::new(),
    };
    let Some(interp) = elf.interpreter.clone() else {
        if elf.needed.is_empty() {
            return Ok(resolution);
        }
        return Err(Error::user(format!(
            "`{}` names shared libraries but has no interpreter",
            binary.display()
        ))
        .with_hint("this looks like a shared library; pass the executable that uses it"));
    };
    // the kernel gives ld.so the binary's real path (/proc/self/exe), hence canonicalize
    let path = std::fs::canonicalize(binary).map_err(|e| Error::io("resolve", binary, e))?;
    let loader = Loader::new(root, elf.abi)?;
    let (interpreter, walk) = load_interpreter(&loader, &path, interp)?;
    resolution.add(&walk);
    // ld.so is loaded under its PT_INTERP path and its soname, so libc's DT_NEEDED on
    // `ld-linux-x86-64.so.2` finds it without a search
    let mut loaded: HashSet<String> = interpreter.elf.soname.iter().cloned().collect();
    loaded.insert(interpreter.path.to_string_lossy().into_owned());
    let mut real_paths = HashSet::from([walk.real]);
    resolution.interpreter = Some(interpreter);

    let mut objects = vec![Object {
        path,
        elf,
        loader: None,
    }];
    let mut queue = VecDeque::from([0]);
    while let Some(i) = queue.pop_front() {
        for name in objects[i].elf.needed.clone() {
            if loaded.contains(&name) {
                continue;
            }
            let mut searched = Searched::default();
            let found = match name.contains('/') {
                true => loader.candidate(Path::new(&name), FoundVia::Path, &mut searched)?,
                false => loader.find(&name, loader.search_dirs(&objects, i), &mut searched)?,
            };
            let Some(found) = found else {
                return Err(missing_library(
                    root,
                    &name,
                    &objects[i].path,
                    &searched,
                    &loader.abi,
                ));
            };
            loaded.insert(name.clone());
            resolution.add(&found.walk);
            // the same file under another name: ld.so notices (same inode) and reuses it
            if !real_paths.insert(found.walk.real.clone()) {
                continue;
            }
            loaded.extend(found.elf.soname.clone());
            resolution.libraries.push(Library {
                soname: name,
                path: found.path.clone(),
                real_path: found.walk.real,
                needed_by: objects[i].path.clone(),
                found_via: found.via,
                elf: found.elf.clone(),
            });
            objects.push(Object {
                path: found.path,
                elf: found.elf,
                loader: Some(i),
            });
            queue.push_back(objects.len() - 1);
        }
    }
    Ok(resolution)
}

fn load_interpreter(loader: &Loader, binary: &Path, interp: PathBuf) -> Result<(Library, Walk)> {
    let found = loader.walk(&interp)?.filter(|walk| !walk.is_dir);
    let found =
        found.ok_or_else(|| missing_interpreter(loader.root, binary, &interp, &loader.abi))?;
    let elf = ElfInfo::read(&found.host)?;
    let file_name = || {
        interp
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into()
    };
    let library = Library {
        soname: elf.soname.clone().unwrap_or_else(file_name),
        path: interp.clone(),
        real_path: found.real.clone(),
        needed_by: binary.to_path_buf(),
        found_via: FoundVia::Interpreter,
        elf,
    };
    Ok((library, found))
}

/// A loaded object: where it was opened (for `$ORIGIN` and messages) and who loaded it.
struct Object {
    path: PathBuf,
    elf: ElfInfo,
    loader: Option<usize>,
}
