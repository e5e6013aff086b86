//! Compile the planned binary on the host with the project's own cargo cache.
//!
//! Reproducibility: the checkout's location and CARGO_HOME are remapped out of the binary
//! (`--remap-path-prefix`, added through `--config` so the project's own rustflags still apply),
//! and gantry builds into its own `target/gantry` directory so that these flags never thrash the
//! user's ordinary `cargo build` artifacts.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::process;
use crate::project::Project;

/// Where in the binary the project's paths appear instead of the host's.
const REMAPPED_SOURCE: &str = "/gantry/src";
const REMAPPED_CARGO_HOME: &str = "/gantry/cargo";

pub struct Built {
    pub executable: PathBuf,
    pub command: String,
}

pub fn compile(project: &Project, plan: &Plan) -> Result<Built> {
    let mut cargo = plan.cargo.clone();
    if cargo.target_dir.is_none() {
        cargo.target_dir = Some(project.target_directory.join("gantry"));
    }
    let context = crate::project::join_rel("", &project.context_rel());
    let context_abs = crate::project::normalize(&project.root.join(context));
    let mut flags = vec![format!(
        "--remap-path-prefix={}={REMAPPED_SOURCE}",
        context_abs.display()
    )];
    if let Some(home) = cargo_home() {
        flags.push(format!(
            "--remap-path-prefix={}={REMAPPED_CARGO_HOME}",
            home.display()
        ));
    }
    let rustflags = flags
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");

    let mut cmd = process::command("cargo", &project.root);
    cmd.arg("build")
        .args(cargo.args())
        .arg("--config")
        .arg(format!("build.rustflags = [{rustflags}]"))
        .arg("--message-format=json-render-diagnostics");
    let command = process::command_line(&cmd);
    eprintln!("   Compiling `{}` with: {command}", plan.bin);
    let stdout = process::run_stdout_captured(&mut cmd).map_err(|e| {
        e.with_hint("fix the build error above; `cargo build` with the same flags shows it too")
    })?;
    let executable = find_executable(&stdout, &plan.bin).ok_or_else(|| {
        Error::failure(format!("cargo built nothing for the binary `{}`", plan.bin))
            .with_hint("check the binary's required-features; pass them with --features")
    })?;
    Ok(Built {
        executable,
        command,
    })
}

/// The `executable` of the compiler-artifact message for bin target `bin`.
fn find_executable(stdout: &[u8], bin: &str) -> Option<PathBuf> {
    String::from_utf8_lossy(stdout)
        .lines()
        .rev()
        .find_map(|line| {
            let msg: serde_json::Value = serde_json::from_str(line).ok()?;
            let is_bin = msg["reason"] == "compiler-artifact"
                && msg["target"]["name"] == bin
                && msg["target"]["kind"].as_array()?.iter().any(|k| k == "bin");
            is_bin
                .then(|| msg["executable"].as_str().map(PathBuf::from))
                .flatten()
        })
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bin_executable_not_a_lib_or_test() {
        let out = br#"{"reason":"compiler-artifact","target":{"name":"app","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"app","kind":["bin"]},"executable":"/t/release/app"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            find_executable(out, "app"),
            Some(PathBuf::from("/t/release/app"))
        );
        assert_eq!(find_executable(out, "other"), None);
    }
}
