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

/// What the host's real loader loads for `binary`: `ld.so --list`, the paths it prints.
pub fn loader_list(binary: &Path) -> BTreeSet<PathBuf> {
    let mut cmd = Command::new("/lib64/ld-linux-x86-64.so.2");
    cmd.arg("--list")
        .arg(binary)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LD_PRELOAD");
    let out = process::output(&mut cmd).unwrap_or_else(|e| panic!("{}", e.render()));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" or "/lib64/ld-linux… (0x…)"
            let line = line.trim();
            let path = line.split(" => ").nth(1).unwrap_or(line);
            let path = path.split(" (").next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}
