//! `gantry-probe`, the healthcheck program of images without a shell: compiled from the source
//! gantry carries ([`SOURCE`]) with the host's `rustc` for the image's Rust target, and cached
//! by content hash, so that a rebuild costs nothing.
//!
//! The probe is `#![no_std]` and `#![no_main]` with raw Linux system calls: it needs only
//! `core` for the target (no libc, no C toolchain for it), is about 12 KiB (a static std build
//! is over 1 MiB), and runs on scratch. It links with the toolchain's own `rust-lld` when there
//! is one (every rustup toolchain), else with `cc` (host) or `<triplet>-gcc` (cross).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::image::elf::{ElfInfo, Linking};
use crate::platforms::{self, Row};
use crate::process;
use crate::settings::env;

/// The probe's source, compiled as a crate of its own (not a module of gantry).
pub const SOURCE: &str = include_str!("probe.rs");

/// What the probe may weigh; it is in every image that has a healthcheck.
pub const MAX_SIZE: u64 = 400 * 1024;

/// The file name of the probe in its cache directory.
pub const FILE_NAME: &str = "gantry-probe";

/// The same for every target: a small static executable that needs nothing but `core`.
const FLAGS: &[&str] = &[
    "--edition=2021",
    "--crate-type=bin",
    "--crate-name=gantry_probe",
    "-Cpanic=abort",
    "-Copt-level=s",
    "-Ccodegen-units=1",
    "-Cdebuginfo=0",
    "-Cstrip=symbols",
    // No loader, no self-relocation: there is no libc start-up code to do it.
    "-Crelocation-model=static",
    "-Ctarget-feature=+crt-static",
];

/// The compiler gantry builds with: `$RUSTC`, else `rustc` (rustup's proxy, which follows
/// `RUSTUP_TOOLCHAIN` and the project's toolchain file like cargo does).
struct Rustc {
    program: OsString,
    /// `rustc -vV`: the version and host, part of the cache key.
    version: String,
    host: String,
    sysroot: PathBuf,
}

impl Rustc {
    fn find(cwd: &Path) -> Result<Rustc> {
        let program = std::env::var_os(env::RUSTC)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "rustc".into());
        let text = |args: &[&str]| -> Result<String> {
            let mut cmd = process::command(&program, cwd);
            cmd.args(args);
            let out = process::output(&mut cmd)?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let version = text(&["-vV"])?;
        let host = version
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .ok_or_else(|| Error::failure(format!("`rustc -vV` names no host:\n{version}")))?
            .to_owned();
        let sysroot = PathBuf::from(text(&["--print", "sysroot"])?);
        Ok(Rustc {
            program,
            version,
            host,
            sysroot,
        })
    }

    fn command(&self, cwd: &Path) -> Command {
        process::command(&self.program, cwd)
    }

    /// Whether `core` is installed for `triple`.
    fn has_target(&self, triple: &str, cwd: &Path) -> Result<bool> {
        let mut cmd = self.command(cwd);
        cmd.args(["--print", "target-libdir", "--target", triple]);
        let out = process::output(&mut cmd)?;
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(false);
        };
        Ok(entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libcore-") && name.ends_with(".rlib")
        }))
    }
}

/// How the probe is linked for one target.
fn linker_flags(rustc: &Rustc, row: &Row, triple: &str) -> Result<Vec<String>> {
    let lld = rustc
        .sysroot
        .join("lib/rustlib")
        .join(&rustc.host)
        .join("bin/rust-lld");
    if lld.is_file() {
        return Ok(vec![
            format!("-Clinker={}", lld.display()),
            "-Clinker-flavor=ld.lld".to_owned(),
        ]);
    }
    let cc = if triple == rustc.host {
        PathBuf::from("cc")
    } else {
        let name = format!("{}-gcc", row.gnu_triplet);
        let path = std::env::var_os(env::PATH).unwrap_or_default();
        crate::engine::on_path(&name, &path).ok_or_else(|| {
            Error::user(format!(
                "no linker for `gantry-probe` on `{triple}`: this `rustc` has no `rust-lld`, \
                 and `{name}` is not on PATH"
            ))
            .with_hint(format!(
                "install the cross C compiler (Debian: `gcc-{}`), or use a rustup toolchain, \
                 which ships `rust-lld`",
                row.gnu_triplet
            ))
        })?
    };
    Ok(vec![
        format!("-Clinker={}", cc.display()),
        "-Clink-arg=-nostartfiles".to_owned(),
        "-Clink-arg=-nostdlib".to_owned(),
    ])
}

/// The probe for `triple` (None: rustc's host), from `cache` (`target/gantry/probe`) or compiled
/// into it as `<triple>-<hash>/gantry-probe`. `cwd` decides rustup's toolchain, as for cargo.
pub fn build(triple: Option<&str>, cache: &Path, cwd: &Path) -> Result<PathBuf> {
    let rustc = Rustc::find(cwd)?;
    let triple = triple.unwrap_or(&rustc.host).to_owned();
    let supported = (triple.starts_with("x86_64-") || triple.starts_with("aarch64-"))
        && triple.contains("-linux");
    let row = platforms::by_triple(&triple).filter(|_| supported);
    let Some(row) = row else {
        return Err(Error::user(format!(
            "the healthcheck probe runs on x86_64 and aarch64 Linux, not on `{triple}`"
        ))
        .with_hint("build for one of those, or leave `healthcheck` unset for this target"));
    };
    if !rustc.has_target(&triple, cwd)? {
        return Err(Error::user(format!(
            "the Rust target `{triple}` is not installed for `{}`, and the healthcheck probe \
             is compiled for it",
            rustc.program.to_string_lossy()
        ))
        .with_hint(format!("rustup target add {triple}")));
    }
    let mut flags: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
    flags.push(format!("--target={triple}"));
    if triple.contains("-musl") {
        // The probe brings its own `_start`: none of musl's C runtime objects, which rustc
        // links by default (the option is refused on targets without them).
        flags.push("-Clink-self-contained=no".to_owned());
    }
    flags.extend(linker_flags(&rustc, row, &triple)?);

    let mut key = Sha256::new();
    for part in [SOURCE, &rustc.version, &flags.join("\n")] {
        key.update(part.len().to_le_bytes());
        key.update(part.as_bytes());
    }
    let hash = hex::encode(key.finalize());
    let dir = cache.join(format!("{triple}-{}", &hash[..16]));
    let probe = dir.join(FILE_NAME);
    if probe.is_file() {
        return Ok(probe);
    }

    eprintln!("   Compiling `gantry-probe` for `{triple}`");
    std::fs::create_dir_all(cache).map_err(|e| Error::io("create directory", cache, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(cache)
        .map_err(|e| Error::io("create a directory in", cache, e))?;
    let src = tmp.path().join("gantry-probe.rs");
    std::fs::write(&src, SOURCE).map_err(|e| Error::io("write", &src, e))?;
    let out = tmp.path().join(FILE_NAME);
    let mut cmd = rustc.command(cwd);
    cmd.arg(&src).args(&flags).arg("-o").arg(&out);
    process::output(&mut cmd)?;
    check(&out, row)?;
    // Whole directories are renamed into place: a probe in the cache is always complete.
    let tmp = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !probe.is_file() {
            return Err(Error::io("create", &dir, e));
        }
    }
    Ok(probe)
}

/// What the probe promises, checked on what the compiler made: static, for the right machine,
/// small.
fn check(probe: &Path, row: &Row) -> Result<()> {
    let elf = ElfInfo::read(probe)?;
    let size = std::fs::metadata(probe)
        .map_err(|e| Error::io("read", probe, e))?
        .len();
    let arch = elf.abi.oci_architecture();
    let want = row.oci().architecture.to_string();
    if elf.linking != Linking::Static || arch != Some(want.as_str()) || size > MAX_SIZE {
        return Err(Error::failure(format!(
            "`{}` is not a static {want} executable of at most {MAX_SIZE} bytes \
             ({:?}, {}, {size} bytes)",
            probe.display(),
            elf.linking,
            arch.unwrap_or("unknown machine"),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
