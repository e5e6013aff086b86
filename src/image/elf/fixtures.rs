//! Test fixtures: real ELF files compiled on the spot, so tests check what the toolchain and
//! the host's loader actually do instead of bytes we wrote by hand.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process;

pub const HELLO: &str = "int main(void) { return 0; }\n";

/// Compile `source` with the host C compiler into `dir/name`; `args` go after the source file
/// (libraries, `-Wl,` options). Panics with the compiler's output when it fails.
pub fn cc(dir: &Path, name: &str, source: &str, args: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    fs_err::write(&src, source).unwrap();
    let out = dir.join(name);
    let mut cmd = process::command("cc", dir);
    cmd.arg("-o").arg(&out).arg(&src).args(args);
    if let Err(e) = process::output(&mut cmd) {
        panic!(
            "these tests need a C compiler and zlib1g-dev/libssl-dev:\n{}",
            e.render()
        );
    }
    out
}

/// A shared library `dir/lib<name>.so` with soname `lib<name>.so`, defining `int <name>(void)`
/// that calls each of `calls` (so it needs the libraries that define them).
pub fn shared_lib(dir: &Path, name: &str, calls: &[&str], args: &[&str]) -> PathBuf {
    let decls: String = calls.iter().map(|c| format!("int {c}(void);\n")).collect();
    let body: String = calls.iter().map(|c| format!(" + {c}()")).collect();
    let source = format!("{decls}int {name}(void) {{ return 0{body}; }}\n");
    let file = format!("lib{name}.so");
    let soname = format!("-Wl,-soname,{file}");
    let mut all = vec!["-shared", "-fPIC", soname.as_str()];
    all.extend_from_slice(args);
    cc(dir, &file, &source, &all)
}

/// The host's loader, as every dynamic binary here names it: this test binary's `PT_INTERP`.
pub fn host_loader() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let elf = crate::image::elf::ElfInfo::read(&exe).unwrap();
    elf.interpreter
        .expect("the test binary is dynamically linked")
}

/// The host's glibc version as its symbol version, e.g. `GLIBC_2.36`, from `getconf` (which
/// asks the running libc, independently of our ELF reader).
pub fn host_glibc() -> String {
    let mut cmd = Command::new("getconf");
    cmd.arg("GNU_LIBC_VERSION");
    let out = process::output(&mut cmd).unwrap_or_else(|e| panic!("{}", e.render()));
    let text = String::from_utf8(out.stdout).unwrap();
    let version = text
        .trim()
        .strip_prefix("glibc ")
        .unwrap_or_else(|| panic!("{text}"));
    format!("GLIBC_{version}")
}

/// A stand-in `dir/<soname>` that defines exactly the symbol `versions` (e.g. a `libc.so.6`
/// of a glibc other than the host's), built for the host's machine.
pub fn versioned_lib(dir: &Path, soname: &str, versions: &[&str]) -> PathBuf {
    let map = dir.join(format!("{soname}.map"));
    let nodes: String = versions
        .iter()
        .map(|v| format!("{v} {{ global: fake_{}; }};\n", v.replace('.', "_")))
        .collect();
    fs_err::write(&map, nodes).unwrap();
    let source: String = versions
        .iter()
        .map(|v| format!("int fake_{}(void) {{ return 0; }}\n", v.replace('.', "_")))
        .collect();
    let soname_arg = format!("-Wl,-soname,{soname}");
    let script = format!("-Wl,--version-script={}", map.display());
    cc(
        dir,
        soname,
        &source,
        &["-shared", "-fPIC", "-nostdlib", &soname_arg, &script],
    )
}

/// What the host's real loader loads for `binary`: `ld.so --list`, the paths it prints.
pub fn loader_list(binary: &Path) -> BTreeSet<PathBuf> {
    let elf = crate::image::elf::ElfInfo::read(binary).unwrap();
    let mut cmd = Command::new(elf.interpreter.unwrap_or_else(host_loader));
    cmd.arg("--list")
        .arg(binary)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LD_PRELOAD");
    let out = process::output(&mut cmd).unwrap_or_else(|e| panic!("{}", e.render()));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            // "libz.so.1 => /lib/<dir>/libz.so.1 (0x…)" or "/lib64/ld-linux… (0x…)"
            let line = line.trim();
            let path = line.split(" => ").nth(1).unwrap_or(line);
            let path = path.split(" (").next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}
