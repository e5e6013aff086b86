//! Compile the planned binary on the host with the project's own cargo cache.
//!
//! Reproducibility: the checkout's location and CARGO_HOME are remapped out of the binary
//! (`--remap-path-prefix`, added through `--config` so the project's own rustflags still apply),
//! and gantry builds into its own `target/gantry` directory so that these flags never thrash the
//! user's ordinary `cargo build` artifacts.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::process;
use crate::project::Project;
use crate::resolve::Target;
use crate::settings::env;

/// Where in the binary the project's paths appear instead of the host's.
const REMAPPED_SOURCE: &str = "/gantry/src";
const REMAPPED_CARGO_HOME: &str = "/gantry/cargo";

pub struct Built {
    pub executable: PathBuf,
    pub command: String,
}

pub fn compile(project: &Project, plan: &Target) -> Result<Built> {
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
    let mut cmd = process::command("cargo", &project.root);
    cmd.arg("build").args(cargo.args());
    add_rustflags(&mut cmd, project, &flags);
    cmd.arg("--message-format=json-render-diagnostics");
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

/// Add `flags` to the rustflags cargo would use anyway. Cargo takes rustflags from exactly one
/// place (RUSTFLAGS, else `target.<…>.rustflags`, else `build.rustflags`), and config arrays from
/// `--config` are appended to the same key's array from the files, so the flags go to the place
/// that is in force.
fn add_rustflags(cmd: &mut std::process::Command, project: &Project, flags: &[String]) {
    if let Ok(encoded) = std::env::var(env::CARGO_ENCODED_RUSTFLAGS) {
        let mut all: Vec<&str> = encoded.split('\x1f').filter(|f| !f.is_empty()).collect();
        all.extend(flags.iter().map(String::as_str));
        cmd.env(env::CARGO_ENCODED_RUSTFLAGS, all.join("\x1f"));
        return;
    }
    if let Ok(env) = std::env::var(env::RUSTFLAGS) {
        cmd.env(env::RUSTFLAGS, format!("{env} {}", flags.join(" ")).trim());
        return;
    }
    let array = flags
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let target_keys = target_rustflags_keys(project);
    if target_keys.is_empty() {
        cmd.arg("--config")
            .arg(format!("build.rustflags = [{array}]"));
    }
    for key in target_keys {
        cmd.arg("--config")
            .arg(format!("target.{key:?}.rustflags = [{array}]"));
    }
}

/// The `[target.<key>]` tables of the project's cargo config files that set rustflags.
fn target_rustflags_keys(project: &Project) -> Vec<String> {
    let mut keys: Vec<String> = project
        .cargo_configs
        .iter()
        .filter_map(|f| f.contents.parse::<toml::Table>().ok())
        .filter_map(|t| t.get("target").and_then(|t| t.as_table()).cloned())
        .flat_map(|targets| {
            targets
                .into_iter()
                .filter(|(_, v)| v.get("rustflags").is_some())
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
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
    std::env::var_os(env::CARGO_HOME)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| Path::new(&h).join(".cargo")))
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
