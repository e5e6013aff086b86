//! The one adapter for running cargo: `cargo metadata` and `cargo build` through the
//! `cargo_metadata` crate (never hand-parsed JSON), the toolchain environment of every cargo
//! gantry starts, and adding rustflags without displacing the project's own.
//!
//! Everything cargo decides itself (where `build.build-dir` and `build.target-dir` point, with
//! their templates, config files and `CARGO_*` variables) is asked of cargo, not recomputed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_metadata::{Artifact, Message, Metadata, MetadataCommand, PackageId, TargetKind};

use crate::error::{Error, Result};
use crate::process;
use crate::project::ProjectFile;
use crate::settings::{CargoBuild, env};

/// Which toolchain a cargo that gantry starts runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// The one rustup picks for the directory, as it did for gantry.
    Inherited,
    /// The directory's toolchain file, which gantry wrote after rustup had picked gantry's own
    /// toolchain (cook): a default choice is dropped so that the file applies.
    FromFile,
}

impl Toolchain {
    /// The variables to remove from a cargo's environment.
    fn removed_env(self) -> &'static [&'static str] {
        // rustup exports the toolchain it picked for `cargo gantry` to its children. When it
        // picked it by default (not `+toolchain`, not an explicit RUSTUP_TOOLCHAIN), that choice
        // was made before the toolchain file existed: dropping it lets the file apply.
        let source = std::env::var(env::RUSTUP_TOOLCHAIN_SOURCE).unwrap_or_default();
        match self {
            Toolchain::FromFile if source != "cli" && source != "env" => {
                &[env::RUSTUP_TOOLCHAIN, env::RUSTUP_TOOLCHAIN_SOURCE]
            }
            _ => &[],
        }
    }
}

/// A `cargo` command in `dir`. The cargo on PATH (the rustup proxy) honours the project's
/// toolchain file; `$CARGO` would be the toolchain that happened to run `cargo gantry`.
pub fn command(dir: &Path, toolchain: Toolchain) -> Command {
    let mut cmd = process::command("cargo", dir);
    for var in toolchain.removed_env() {
        cmd.env_remove(var);
    }
    cmd
}

/// `cargo metadata --no-deps` for the manifest at `manifest_path`, or the one cargo finds from
/// `cwd`. Resolves nothing, so it needs no network.
pub fn metadata(
    cwd: &Path,
    manifest_path: Option<&Path>,
    toolchain: Toolchain,
) -> Result<Metadata> {
    let mut mc = MetadataCommand::new();
    mc.no_deps().current_dir(cwd).cargo_path("cargo");
    if let Some(m) = manifest_path {
        mc.manifest_path(m);
    }
    for var in toolchain.removed_env() {
        mc.env_remove(*var);
    }
    run_metadata(&mc)
}

/// Full `cargo metadata` (the resolve graph) as `build` would resolve it: the same features,
/// lock mode and manifest, dependencies filtered to the platform `triple`. Needs no build, so
/// it can run before the compile (the auditable data has to exist before the final link).
pub fn resolve_graph(
    dir: &Path,
    toolchain: Toolchain,
    build: &CargoBuild,
    triple: &str,
) -> Result<Metadata> {
    let mut mc = MetadataCommand::new();
    mc.current_dir(dir).cargo_path("cargo");
    if !build.features.is_empty() {
        mc.features(cargo_metadata::CargoOpt::SomeFeatures(
            build.features.clone(),
        ));
    }
    if build.all_features {
        mc.features(cargo_metadata::CargoOpt::AllFeatures);
    }
    if build.no_default_features {
        mc.features(cargo_metadata::CargoOpt::NoDefaultFeatures);
    }
    let mut options = vec!["--filter-platform".to_owned(), triple.to_owned()];
    match (build.lock.locked, build.lock.offline) {
        (true, true) => options.push("--frozen".to_owned()),
        (true, false) => options.push("--locked".to_owned()),
        (false, true) => options.push("--offline".to_owned()),
        (false, false) => {}
    }
    mc.other_options(options);
    for var in toolchain.removed_env() {
        mc.env_remove(*var);
    }
    run_metadata(&mc)
}

/// `rustc -vV` of the toolchain cargo runs with in `dir`: version, commit, host, LLVM.
/// With the inherited toolchain it is asked once per directory and process (a build needs it
/// for the host triple and again for the provenance; each ask costs 20–60 ms through rustup,
/// most of it loading rustc's driver), and [`prefetch_rustc_version`] can ask it early.
pub fn rustc_version(dir: &Path, toolchain: Toolchain) -> Result<String> {
    if toolchain != Toolchain::Inherited {
        return ask_rustc_version(dir, toolchain);
    }
    // A failed ask is asked again here, so that its error is the one reported.
    match version_slot(dir).get_or_init(|| ask_rustc_version(dir, toolchain).ok()) {
        Some(text) => Ok(text.clone()),
        None => ask_rustc_version(dir, toolchain),
    }
}

/// Start asking `rustc -vV` in `dir` on another thread, so that it runs while the caller does
/// other work (such as `cargo metadata`); [`rustc_version`] then waits for it instead of
/// asking again.
pub fn prefetch_rustc_version(dir: &Path) {
    let slot = version_slot(dir);
    if slot.get().is_some() {
        return;
    }
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        slot.get_or_init(|| ask_rustc_version(&dir, Toolchain::Inherited).ok());
    });
}

type VersionSlot = std::sync::Arc<std::sync::OnceLock<Option<String>>>;

fn version_slot(dir: &Path) -> VersionSlot {
    static SLOTS: std::sync::Mutex<Vec<(PathBuf, VersionSlot)>> = std::sync::Mutex::new(Vec::new());
    let mut slots = SLOTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, slot)) = slots.iter().find(|(d, _)| d == dir) {
        return slot.clone();
    }
    let slot = VersionSlot::default();
    slots.push((dir.to_path_buf(), slot.clone()));
    slot
}

fn ask_rustc_version(dir: &Path, toolchain: Toolchain) -> Result<String> {
    let mut cmd = process::command("rustc", dir);
    cmd.arg("-vV");
    for var in toolchain.removed_env() {
        cmd.env_remove(var);
    }
    let out = process::output(&mut cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The host's target triple, as the toolchain cargo runs with reports it (`rustc -vV`).
pub fn host_triple(dir: &Path, toolchain: Toolchain) -> Result<String> {
    let text = rustc_version(dir, toolchain)?;
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
        .ok_or_else(|| {
            Error::failure(format!(
                "`rustc -vV` (in `{}`) printed no `host:` line",
                dir.display()
            ))
        })
}

fn run_metadata(mc: &MetadataCommand) -> Result<Metadata> {
    let mut cmd = mc.cargo_command();
    let out = process::output(&mut cmd)?;
    let text = String::from_utf8_lossy(&out.stdout);
    MetadataCommand::parse(text).map_err(|e| {
        Error::failure(format!(
            "`{}` printed output gantry cannot read",
            process::command_line(&cmd)
        ))
        .caused_by(e)
        .with_hint("update cargo (`rustup update`): gantry needs cargo 1.91 or newer")
    })
}

/// Where a cargo build puts its outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Final artifacts (`target_directory`).
    pub target: PathBuf,
    /// Intermediate artifacts and fingerprints (`build_directory`, `build.build-dir`): the
    /// target directory unless configured otherwise.
    pub build: PathBuf,
}

/// The directories a `cargo build` with `build`'s flags uses in `dir`, as cargo itself resolves
/// them (config files, `CARGO_TARGET_DIR`, `CARGO_BUILD_BUILD_DIR`, templates such as
/// `{workspace-root}`), with the same environment as the build.
pub fn dirs(dir: &Path, toolchain: Toolchain, build: &CargoBuild) -> Result<Dirs> {
    let mut mc = MetadataCommand::new();
    mc.no_deps().current_dir(dir).cargo_path("cargo");
    let mut options = vec!["--offline".to_owned()];
    if let Some(d) = &build.target_dir {
        // `--target-dir` on `cargo build` is `build.target-dir` with the highest priority, which
        // is what `--config` has; the build-dir defaults to it.
        let abs = dir.join(d).display().to_string();
        options.push("--config".to_owned());
        options.push(format!("build.target-dir = {}", toml::Value::String(abs)));
    }
    mc.other_options(options);
    for var in toolchain.removed_env() {
        mc.env_remove(*var);
    }
    let meta = run_metadata(&mc)?;
    let target = meta.target_directory.into_std_path_buf();
    Ok(Dirs {
        build: meta
            .build_directory
            .map(|b| b.into_std_path_buf())
            .unwrap_or_else(|| target.clone()),
        target,
    })
}

/// The directory holding the standard library of `triple` for the toolchain a build in `dir`
/// uses (`rustc --print target-libdir`), if that toolchain has it: rustc prints the path even
/// when the target was never installed, so the directory must exist and hold `libstd`.
pub fn target_libdir(dir: &Path, toolchain: Toolchain, triple: &str) -> Result<Option<PathBuf>> {
    let mut cmd = process::command("rustc", dir);
    for var in toolchain.removed_env() {
        cmd.env_remove(var);
    }
    cmd.args(["--print", "target-libdir", "--target", triple]);
    let out = match process::output(&mut cmd) {
        Ok(out) => out,
        // a rustc that does not know the triple at all
        Err(e) if e.kind() == crate::error::Kind::Failure => return Ok(None),
        Err(e) => return Err(e),
    };
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let has_std = std::fs::read_dir(&libdir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    });
    Ok(has_std.then_some(libdir))
}

/// One `cargo build`, reporting what it compiled as `cargo_metadata` messages.
pub struct Build {
    cmd: Command,
}

impl Build {
    /// `cargo build <flags>` in `dir`.
    pub fn new(dir: &Path, toolchain: Toolchain, flags: &CargoBuild) -> Build {
        let mut cmd = command(dir, toolchain);
        cmd.arg("build").args(flags.args());
        // Diagnostics still reach the terminal rendered; stdout carries the messages.
        cmd.arg("--message-format=json-render-diagnostics");
        Build { cmd }
    }

    /// Add `flags` to the rustflags cargo would use anyway. Cargo takes rustflags from exactly
    /// one place (RUSTFLAGS, else `target.<…>.rustflags`, else `build.rustflags`), and config
    /// arrays from `--config` are appended to the same key's array from the files, so the flags
    /// go to the place that is in force. `configs` are the project's cargo config files.
    pub fn add_rustflags(&mut self, configs: &[ProjectFile], flags: &[String]) -> &mut Build {
        let cmd = &mut self.cmd;
        if let Ok(encoded) = std::env::var(env::CARGO_ENCODED_RUSTFLAGS) {
            let mut all: Vec<&str> = encoded.split('\x1f').filter(|f| !f.is_empty()).collect();
            all.extend(flags.iter().map(String::as_str));
            cmd.env(env::CARGO_ENCODED_RUSTFLAGS, all.join("\x1f"));
            return self;
        }
        if let Ok(env) = std::env::var(env::RUSTFLAGS) {
            cmd.env(env::RUSTFLAGS, format!("{env} {}", flags.join(" ")).trim());
            return self;
        }
        let array = flags
            .iter()
            .map(|f| toml::Value::String(f.clone()).to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let target_keys = target_rustflags_keys(configs);
        if target_keys.is_empty() {
            cmd.arg("--config")
                .arg(format!("build.rustflags = [{array}]"));
        }
        for key in target_keys {
            cmd.arg("--config").arg(format!(
                "target.{}.rustflags = [{array}]",
                toml::Value::String(key)
            ));
        }
        self
    }

    /// Set an environment variable for cargo and what it runs.
    pub fn env(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Build {
        self.cmd.env(key, value);
        self
    }

    /// Set environment variables of the build (a cross toolchain's linker and C compiler).
    pub fn envs(&mut self, vars: &[(String, String)]) -> &mut Build {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    /// The command line, as a user would type it.
    pub fn command_line(&self) -> String {
        process::command_line(&self.cmd)
    }

    /// Run it; cargo's progress and diagnostics go to stderr.
    pub fn run(mut self) -> Result<Compiled> {
        let stdout = process::run_stdout_captured(&mut self.cmd)?;
        Ok(Compiled::parse(&stdout))
    }
}

/// What a `cargo build` reported.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Every `compiler-artifact` message, in the order cargo printed them.
    pub artifacts: Vec<Artifact>,
}

impl Compiled {
    fn parse(stdout: &[u8]) -> Compiled {
        let artifacts = Message::parse_stream(stdout)
            .filter_map(|m| match m {
                Ok(Message::CompilerArtifact(a)) => Some(a),
                _ => None,
            })
            .collect();
        Compiled { artifacts }
    }

    /// The executable of bin target `bin` (the last one built, not a test harness).
    pub fn executable(&self, bin: &str) -> Option<PathBuf> {
        self.artifacts.iter().rev().find_map(|a| {
            let is_bin =
                a.target.name == bin && a.target.kind.contains(&TargetKind::Bin) && !a.profile.test;
            is_bin
                .then(|| a.executable.clone().map(|e| e.into_std_path_buf()))
                .flatten()
        })
    }

    /// How many units of each local (path) package cargo compiled or found fresh, by name.
    pub fn local_units(&self) -> BTreeMap<String, usize> {
        let mut units = BTreeMap::new();
        for a in &self.artifacts {
            if is_local(&a.package_id)
                && let Some(name) = package_name(&a.package_id)
            {
                *units.entry(name.to_owned()).or_default() += 1;
            }
        }
        units
    }
}

/// Whether the package comes from a path (the project's own sources), not a registry or git.
pub fn is_local(id: &PackageId) -> bool {
    id.repr.starts_with("path+") || id.repr.contains(" (path+")
}

/// The package name in a package id: `path+file:///p/dir#name@1.0.0`, `path+file:///p/name#1.0.0`
/// (cargo's package id spec) or `name 1.0.0 (path+file:///p)` (before cargo 1.77).
pub fn package_name(id: &PackageId) -> Option<&str> {
    let repr = id.repr.as_str();
    match repr.rsplit_once('#') {
        Some((url, fragment)) => match fragment.split_once('@') {
            Some((name, _)) => Some(name),
            None => url.split('?').next()?.rsplit('/').next(),
        },
        None => repr.split(' ').next(),
    }
    .filter(|n| !n.is_empty())
}

/// The `[target.<key>]` tables of the project's cargo config files that set rustflags.
fn target_rustflags_keys(configs: &[ProjectFile]) -> Vec<String> {
    let mut keys: Vec<String> = configs
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

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: &[u8] = br#"{"reason":"compiler-artifact","package_id":"path+file:///w/app#0.1.0","manifest_path":"/w/app/Cargo.toml","target":{"name":"app","kind":["lib"],"crate_types":["lib"],"src_path":"/w/app/src/lib.rs","edition":"2021","doctest":true,"test":true,"doc":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/libapp.rlib"],"executable":null,"fresh":false}
{"reason":"compiler-artifact","package_id":"path+file:///w/app#0.1.0","manifest_path":"/w/app/Cargo.toml","target":{"name":"app","kind":["bin"],"crate_types":["bin"],"src_path":"/w/app/src/main.rs","edition":"2021","doctest":false,"test":true,"doc":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/release/app"],"executable":"/t/release/app","fresh":false}
{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#itoa@1.0.19","manifest_path":"/r/itoa/Cargo.toml","target":{"name":"itoa","kind":["lib"],"crate_types":["lib"],"src_path":"/r/itoa/src/lib.rs","edition":"2021","doctest":true,"test":true,"doc":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/deps/libitoa.rlib"],"executable":null,"fresh":true}
not json
{"reason":"build-finished","success":true}"#;

    #[test]
    fn finds_the_bin_executable_not_a_lib() {
        let compiled = Compiled::parse(MESSAGES);
        assert_eq!(compiled.artifacts.len(), 3);
        assert_eq!(
            compiled.executable("app"),
            Some(PathBuf::from("/t/release/app"))
        );
        assert_eq!(compiled.executable("itoa"), None);
        assert_eq!(compiled.executable("other"), None);
    }

    #[test]
    fn counts_units_of_path_packages_only() {
        let units = Compiled::parse(MESSAGES).local_units();
        assert_eq!(units, [("app".to_owned(), 2)].into());
    }

    #[test]
    fn package_name_from_every_package_id_format() {
        let name = |repr: &str| package_name(&PackageId { repr: repr.into() }).map(str::to_owned);
        assert_eq!(
            name("path+file:///w/dir#util@1.2.3").as_deref(),
            Some("util")
        );
        assert_eq!(
            name("path+file:///w/shared-lib#0.1.0").as_deref(),
            Some("shared-lib")
        );
        assert_eq!(
            name("util 1.2.3 (path+file:///w/dir)").as_deref(),
            Some("util")
        );
        assert!(is_local(&PackageId {
            repr: "util 1.2.3 (path+file:///w/dir)".into()
        }));
        assert!(!is_local(&PackageId {
            repr: "git+file:///g?branch=x#dep@0.1.0".into()
        }));
    }

    #[test]
    fn rustflags_go_to_the_target_tables_that_set_them() {
        let configs = [ProjectFile {
            rel: ".cargo/config.toml".into(),
            contents: "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-Ctarget-cpu=native\"]\n[target.'cfg(unix)']\nlinker = \"cc\"\n".into(),
        }];
        assert_eq!(
            target_rustflags_keys(&configs),
            vec!["x86_64-unknown-linux-gnu".to_owned()]
        );
        assert!(target_rustflags_keys(&[]).is_empty());
    }
}
