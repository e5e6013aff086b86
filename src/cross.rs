//! A cross toolchain for a foreign Rust target, found rather than configured: the target's
//! standard library in the active toolchain, a linker (the project's cargo config, else a cross
//! gcc on PATH, else zig), and the environment that makes `cc`-crate C code and `-sys` crates
//! (pkg-config) build and link against the target's libraries instead of the host's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cargo::{self, Toolchain};
use crate::error::{Error, Result};
use crate::platforms::Row;
use crate::project::ProjectFile;
use crate::settings::env;

/// How a build for one foreign target links, and the variables that say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cross {
    pub triple: String,
    pub linker: Linker,
    /// `CARGO_TARGET_<TRIPLE>_LINKER`, `CC_<triple>`, `AR_<triple>`, pkg-config's variables.
    pub env: Vec<(String, String)>,
}

/// Where the linker came from, for the line gantry prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linker {
    /// `CARGO_TARGET_<TRIPLE>_LINKER` was already set.
    Environment(String),
    /// `target.<triple>.linker` in a cargo config file (cargo applies it itself).
    CargoConfig { linker: String, file: String },
    /// A cross gcc found on PATH.
    Gcc(PathBuf),
    /// `zig cc -target …`, through a small wrapper script gantry writes.
    Zig { zig: PathBuf, wrapper: PathBuf },
}

impl std::fmt::Display for Linker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Linker::Environment(l) => write!(f, "`{l}` (from the environment)"),
            Linker::CargoConfig { linker, file } => write!(f, "`{linker}` (from `{file}`)"),
            Linker::Gcc(path) => write!(f, "`{}` (found on PATH)", path.display()),
            Linker::Zig { zig, .. } => write!(f, "`{} cc` (found on PATH)", zig.display()),
        }
    }
}

/// What [`find`] looks at, so tests can describe a machine without being on it.
pub struct Machine<'a> {
    /// Environment lookup (the process environment in production).
    pub get: &'a dyn Fn(&str) -> Option<OsString>,
    /// `/` in production: where multiarch and sysroot directories are looked for.
    pub root: &'a Path,
    /// Where a zig wrapper script may be written.
    pub scratch: &'a Path,
}

/// Check that the toolchain a build in `dir` uses has `triple`'s standard library.
pub fn check_std(dir: &Path, triple: &str) -> Result<()> {
    match cargo::target_libdir(dir, Toolchain::Inherited, triple)? {
        Some(_) => Ok(()),
        None => Err(Error::user(format!(
            "the active Rust toolchain has no standard library for `{triple}`"
        ))
        .with_hint(format!("run `rustup target add {triple}`"))),
    }
}

/// The linker and environment of a build for `triple` (a row of the platform table).
pub fn find(
    machine: &Machine<'_>,
    configs: &[ProjectFile],
    row: &Row,
    triple: &str,
) -> Result<Cross> {
    let upper = triple.to_uppercase().replace('-', "_");
    let lower = triple.replace('-', "_");
    let linker_var = format!("CARGO_TARGET_{upper}_LINKER");
    let linker = if let Some(l) = (machine.get)(&linker_var) {
        Linker::Environment(l.to_string_lossy().into_owned())
    } else if let Some((linker, file)) = configured_linker(configs, triple) {
        Linker::CargoConfig { linker, file }
    } else if let Some(gcc) = gcc_candidates(row, triple)
        .iter()
        .find_map(|name| on_path(machine, name))
    {
        Linker::Gcc(gcc)
    } else if let Some(zig) = on_path(machine, "zig") {
        let wrapper = zig_wrapper(machine.scratch, &zig, row, triple)?;
        Linker::Zig { zig, wrapper }
    } else {
        return Err(no_linker(row, triple));
    };

    let mut vars = Vec::new();
    let mut set = |k: String, v: String| {
        if (machine.get)(&k).is_none() {
            vars.push((k, v));
        }
    };
    match &linker {
        Linker::Environment(_) => {}
        Linker::CargoConfig { linker, .. } => set(format!("CC_{lower}"), linker.clone()),
        Linker::Gcc(gcc) => {
            set(linker_var.clone(), gcc.display().to_string());
            set(format!("CC_{lower}"), gcc.display().to_string());
            let gxx = gcc.with_file_name(gcc_sibling(gcc, "g++"));
            if gxx.is_file() {
                set(format!("CXX_{lower}"), gxx.display().to_string());
            }
            let ar = gcc.with_file_name(gcc_sibling(gcc, "ar"));
            if ar.is_file() {
                set(format!("AR_{lower}"), ar.display().to_string());
            }
        }
        Linker::Zig { wrapper, .. } => {
            set(linker_var.clone(), wrapper.display().to_string());
            set(format!("CC_{lower}"), wrapper.display().to_string());
        }
    }
    // pkg-config's target-specific names: the host's own build scripts keep the host's
    // libraries, the target's `-sys` crates get the target's
    set(format!("PKG_CONFIG_ALLOW_CROSS_{lower}"), "1".into());
    let multiarch = format!("usr/lib/{}/pkgconfig", row.gnu_triplet);
    if machine.root.join(&multiarch).is_dir() {
        set(
            format!("PKG_CONFIG_LIBDIR_{lower}"),
            format!("/{multiarch}:/usr/share/pkgconfig"),
        );
    } else if let Some(sysroot) = sysroots(machine.root, row).into_iter().next() {
        let shown = Path::new("/").join(&sysroot);
        set(
            format!("PKG_CONFIG_SYSROOT_DIR_{lower}"),
            shown.display().to_string(),
        );
        set(
            format!("PKG_CONFIG_LIBDIR_{lower}"),
            format!(
                "{0}/usr/lib/pkgconfig:{0}/lib/pkgconfig:{0}/usr/share/pkgconfig",
                shown.display()
            ),
        );
    }
    Ok(Cross {
        triple: triple.to_owned(),
        linker,
        env: vars,
    })
}

/// Cross sysroots of `row` under `root` (relative to it), most specific first: Fedora's
/// `/usr/<triplet>/sys-root`, Debian's `/usr/<triplet>` (libc6-<arch>-cross).
pub fn sysroots(root: &Path, row: &Row) -> Vec<PathBuf> {
    let base = PathBuf::from(format!("usr/{}", row.gnu_triplet));
    [base.join("sys-root"), base]
        .into_iter()
        .filter(|dir| {
            root.join(dir).join("lib").is_dir() || root.join(dir).join("usr/lib").is_dir()
        })
        .collect()
}

/// Cross gcc names, in the order they are tried: the distributions' GNU triplet
/// (`aarch64-linux-gnu-gcc` on Debian, Ubuntu and Fedora), then the Rust triple spelling.
pub fn gcc_candidates(row: &Row, triple: &str) -> Vec<String> {
    let mut names = Vec::new();
    if triple.contains("musl") {
        let arch = row.gnu_triplet.split('-').next().unwrap_or_default();
        names.push(format!("{arch}-linux-musl-gcc"));
    }
    names.push(format!("{}-gcc", row.gnu_triplet));
    names.push(format!("{triple}-gcc"));
    names
}

/// `aarch64-linux-gnu-gcc` → `aarch64-linux-gnu-ar`.
fn gcc_sibling(gcc: &Path, tool: &str) -> String {
    let name = gcc.file_name().unwrap_or_default().to_string_lossy();
    match name.strip_suffix("gcc") {
        Some(prefix) => format!("{prefix}{tool}"),
        None => tool.to_owned(),
    }
}

fn on_path(machine: &Machine<'_>, name: &str) -> Option<PathBuf> {
    let path = (machine.get)(env::PATH)?;
    crate::engine::on_path(name, &path)
}

/// `target.<triple>.linker` from the project's cargo config files (the last one that sets it,
/// as cargo's files closest to the project win over those further up).
fn configured_linker(configs: &[ProjectFile], triple: &str) -> Option<(String, String)> {
    configs.iter().rev().find_map(|file| {
        let table: toml::Table = file.contents.parse().ok()?;
        let linker = table.get("target")?.get(triple)?.get("linker")?.as_str()?;
        Some((linker.to_owned(), file.rel.clone()))
    })
}

/// A script cargo can use as a linker that runs `zig cc` for the target (a linker setting is
/// one program, without arguments).
fn zig_wrapper(scratch: &Path, zig: &Path, row: &Row, triple: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let arch = row.gnu_triplet.split('-').next().unwrap_or_default();
    let libc = if triple.contains("musl") {
        "musl"
    } else {
        "gnu"
    };
    let abi = if row.gnu_triplet.ends_with("eabihf") {
        format!("{libc}eabihf")
    } else {
        libc.to_owned()
    };
    let script = format!(
        "#!/bin/sh\nexec '{}' cc -target {arch}-linux-{abi} \"$@\"\n",
        zig.display()
    );
    std::fs::create_dir_all(scratch).map_err(|e| Error::io("create directory", scratch, e))?;
    let path = scratch.join(format!("{triple}-zig-cc"));
    std::fs::write(&path, script).map_err(|e| Error::io("write", &path, e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("make executable", &path, e))?;
    Ok(path)
}

fn no_linker(row: &Row, triple: &str) -> Error {
    let tried: Vec<String> = gcc_candidates(row, triple)
        .into_iter()
        .chain(["zig".to_owned()])
        .map(|n| format!("`{n}`"))
        .collect();
    let package = format!("gcc-{}", row.gnu_triplet);
    Error::user(format!(
        "no linker for `{triple}` found: none of {} is on PATH",
        tried.join(", ")
    ))
    .with_hint(format!(
        "install `{package}` (Debian/Ubuntu: `apt-get install {package}`, Fedora: `dnf install \
         {package}`) or zig, or set `target.{triple}.linker` in `.cargo/config.toml`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms;

    fn arm64() -> &'static Row {
        platforms::by_triple("aarch64-unknown-linux-gnu").unwrap()
    }

    fn exe(dir: &Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn find_with(path: &Path, root: &Path, configs: &[ProjectFile]) -> Result<Cross> {
        let path = path.as_os_str().to_owned();
        let get = move |k: &str| (k == "PATH").then(|| path.clone());
        let scratch = root.join("scratch");
        let machine = Machine {
            get: &get,
            root,
            scratch: &scratch,
        };
        find(&machine, configs, arm64(), "aarch64-unknown-linux-gnu")
    }

    fn var<'c>(cross: &'c Cross, key: &str) -> Option<&'c str> {
        cross
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_cross_gcc_on_path_links_and_compiles_c_and_multiarch_pkg_config_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        exe(&bin, "aarch64-linux-gnu-gcc");
        exe(&bin, "aarch64-linux-gnu-ar");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("usr/lib/aarch64-linux-gnu/pkgconfig")).unwrap();
        let cross = find_with(&bin, &root, &[]).unwrap();
        let gcc = bin.join("aarch64-linux-gnu-gcc").display().to_string();
        assert_eq!(cross.linker, Linker::Gcc(gcc.clone().into()));
        assert_eq!(
            var(&cross, "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"),
            Some(gcc.as_str())
        );
        assert_eq!(
            var(&cross, "CC_aarch64_unknown_linux_gnu"),
            Some(gcc.as_str())
        );
        assert!(
            var(&cross, "AR_aarch64_unknown_linux_gnu")
                .unwrap()
                .ends_with("-ar")
        );
        assert_eq!(
            var(&cross, "PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu"),
            Some("/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
        );
        assert_eq!(
            var(&cross, "PKG_CONFIG_ALLOW_CROSS_aarch64_unknown_linux_gnu"),
            Some("1")
        );
    }

    #[test]
    fn the_rust_triple_spelling_and_a_sysroot_are_found_too() {
        let tmp = tempfile::tempdir().unwrap();
        exe(tmp.path(), "aarch64-unknown-linux-gnu-gcc");
        std::fs::create_dir_all(tmp.path().join("usr/aarch64-linux-gnu/lib")).unwrap();
        let cross = find_with(tmp.path(), tmp.path(), &[]).unwrap();
        assert!(
            matches!(&cross.linker, Linker::Gcc(p) if p.ends_with("aarch64-unknown-linux-gnu-gcc"))
        );
        assert_eq!(
            var(&cross, "PKG_CONFIG_SYSROOT_DIR_aarch64_unknown_linux_gnu"),
            Some("/usr/aarch64-linux-gnu")
        );
    }

    #[test]
    fn the_projects_cargo_config_wins_over_path() {
        let tmp = tempfile::tempdir().unwrap();
        exe(tmp.path(), "aarch64-linux-gnu-gcc");
        let configs = [ProjectFile {
            rel: ".cargo/config.toml".into(),
            contents: "[target.aarch64-unknown-linux-gnu]\nlinker = \"my-cc\"\n".into(),
        }];
        let cross = find_with(tmp.path(), tmp.path(), &configs).unwrap();
        assert_eq!(
            cross.linker,
            Linker::CargoConfig {
                linker: "my-cc".into(),
                file: ".cargo/config.toml".into()
            }
        );
        // cargo reads the config itself; gantry does not override it
        assert_eq!(
            var(&cross, "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"),
            None
        );
        assert_eq!(var(&cross, "CC_aarch64_unknown_linux_gnu"), Some("my-cc"));
    }

    #[test]
    fn zig_is_the_fallback_through_a_wrapper() {
        let tmp = tempfile::tempdir().unwrap();
        exe(tmp.path(), "zig");
        let cross = find_with(tmp.path(), tmp.path(), &[]).unwrap();
        let Linker::Zig { wrapper, .. } = &cross.linker else {
            panic!("{:?}", cross.linker)
        };
        let script = std::fs::read_to_string(wrapper).unwrap();
        assert!(script.contains("cc -target aarch64-linux-gnu"), "{script}");
    }

    #[test]
    fn no_linker_names_the_packages_to_install() {
        let tmp = tempfile::tempdir().unwrap();
        let err = find_with(tmp.path(), tmp.path(), &[]).unwrap_err();
        assert!(
            err.message().contains("`aarch64-linux-gnu-gcc`"),
            "{}",
            err.render()
        );
        let hint = err.hint().unwrap();
        assert!(
            hint.contains("gcc-aarch64-linux-gnu") && hint.contains("zig"),
            "{hint}"
        );
    }
}
