//! Test support: fixture projects built in code, the real `cargo-gantry` binary, real cargo.

#![allow(dead_code)]

pub mod docker;
pub mod proxy;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use filetime::FileTime;

pub mod tools;

/// A directory tree of small real cargo projects.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&base).unwrap();
        Fixture {
            dir: tempfile::Builder::new()
                .prefix("fx-")
                .tempdir_in(base)
                .unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn file(&self, rel: &str, contents: &str) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.path(rel)).unwrap();
        self
    }

    /// A binary-only package that prints `says`.
    pub fn bin_package(&self, dir: &str, name: &str, deps: &str, says: &str) -> &Self {
        self.file(&format!("{dir}/Cargo.toml"), &manifest(name, deps))
            .file(
                &format!("{dir}/src/main.rs"),
                &format!("fn main() {{ println!(\"{says}\"); }}\n"),
            )
    }

    /// Make `dir` a git repository with everything in it committed; returns the commit.
    pub fn git_commit(&self, dir: &str) -> String {
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(self.path(dir))
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
            stdout(&out)
        };
        git(&["init", "-q"]);
        git(&["add", "."]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "fixture",
        ]);
        git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Run `cargo generate-lockfile` (resolves against the registry) in `dir`.
    pub fn lock(&self, dir: &str) -> &Self {
        let out = cargo(&self.path(dir))
            .arg("generate-lockfile")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "generate-lockfile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self
    }
}

pub fn manifest(name: &str, deps: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}\n"
    )
}

/// A command with the environment of a fresh shell: no toolchain or target dir chosen by the
/// `cargo test` that runs us.
fn clean(mut cmd: Command) -> Command {
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTUP_TOOLCHAIN_SOURCE",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO",
        "CARGO_MAKEFLAGS",
        "CARGO_MANIFEST_DIR",
        "CARGO_PKG_NAME",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

pub fn cargo(dir: &Path) -> Command {
    let mut cmd = clean(Command::new("cargo"));
    cmd.current_dir(dir);
    cmd
}

/// The engine every gantry under test loads into: the first `docker` on this machine's PATH
/// may be a client too new for the daemon (see `docker.rs`). A test of the lookup itself
/// removes `GANTRY_ENGINE` again.
pub const ENGINE: &str = "/usr/bin/docker";

pub fn gantry_cmd(dir: &Path) -> Command {
    let mut cmd = clean(Command::new(env!("CARGO_BIN_EXE_cargo-gantry")));
    cmd.current_dir(dir).env("GANTRY_ENGINE", ENGINE);
    cmd
}

/// `cargo gantry` through the rustup proxy, as users run it: rustup then exports the toolchain
/// it chose (RUSTUP_TOOLCHAIN) to gantry and everything gantry starts.
pub fn cargo_gantry_cmd(dir: &Path) -> Command {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_cargo-gantry"))
        .parent()
        .unwrap()
        .to_owned();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut cmd = cargo(dir);
    cmd.arg("gantry")
        .env("PATH", path)
        .env("GANTRY_ENGINE", ENGINE);
    cmd
}

/// This machine's target triple (`rustc -vV`'s `host:`), for tests that name a `--target`.
pub fn host_target() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let out = ok(
            clean(Command::new("rustc")).arg("-vV").output().unwrap(),
            "rustc -vV",
        );
        let text = stdout(&out);
        let host = text.lines().find_map(|l| l.strip_prefix("host: "));
        host.unwrap_or_else(|| panic!("no host in {text}"))
            .to_owned()
    })
}

/// Run the real binary; returns its output (whatever the exit status).
pub fn gantry(dir: &Path, args: &[&str]) -> Output {
    gantry_cmd(dir).args(args).output().unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Assert success, showing stderr otherwise.
pub fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        stderr(&out)
    );
    out
}

/// `prepare` in `fx/<project>` and return the recipe text.
pub fn prepare(fx: &Fixture, project: &str, args: &[&str]) -> String {
    let mut all = vec!["prepare", "--recipe-path", "-"];
    all.extend_from_slice(args);
    stdout(&ok(gantry(&fx.path(project), &all), "prepare"))
}

/// Set the mtime of every file under `dir` (but `target/`) to 2001-01-01: real sources copied
/// into an image are usually older than the cooked artifacts.
pub fn age_tree(dir: &Path) {
    let old = FileTime::from_unix_time(978_307_200, 0);
    for entry in walk(dir) {
        filetime::set_file_mtime(&entry, old).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_name() == "target" {
            continue;
        }
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Copy `from` over `to` like Docker's `COPY . .`: files keep their mtimes, nothing is deleted.
pub fn copy_over(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name == "target" || name == "recipe.json" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        let meta = std::fs::symlink_metadata(&src).unwrap();
        if meta.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_over(&src, &dst);
        } else if meta.is_file() {
            std::fs::copy(&src, &dst).unwrap();
            filetime::set_file_mtime(&dst, FileTime::from_last_modification_time(&meta)).unwrap();
        }
    }
}

/// What the real build after a cook did.
pub struct Outcome {
    /// The directory that holds the cooked and then real project; removed on drop.
    _dir: tempfile::TempDir,
    pub project: PathBuf,
    /// (package id, target name, fresh) for every compiler artifact of the real build.
    pub artifacts: Vec<(String, String, bool)>,
    /// Executables the real build produced, by target name.
    pub executables: Vec<(String, PathBuf)>,
    pub cook_stderr: String,
}

impl Outcome {
    /// Every non-local unit was fresh: the cook compiled all dependencies.
    pub fn assert_no_dependency_compiled(&self) {
        let rebuilt: Vec<_> = self
            .artifacts
            .iter()
            .filter(|(id, _, fresh)| !id.starts_with("path+") && !fresh)
            .collect();
        assert!(
            rebuilt.is_empty(),
            "dependencies compiled after cook: {rebuilt:?}\ncook: {}",
            self.cook_stderr
        );
        assert!(
            self.artifacts
                .iter()
                .any(|(id, _, _)| !id.starts_with("path+")),
            "the project has no dependencies: the test proves nothing"
        );
    }

    /// Every local unit was compiled by the real build (none was a placeholder left fresh).
    pub fn assert_locals_rebuilt(&self) {
        let stale: Vec<_> = self
            .artifacts
            .iter()
            .filter(|(id, _, fresh)| id.starts_with("path+") && *fresh)
            .collect();
        assert!(
            stale.is_empty(),
            "local units taken from the cook: {stale:?}"
        );
    }

    pub fn run(&self, bin: &str) -> String {
        let exe = &self
            .executables
            .iter()
            .find(|(n, _)| n == bin)
            .unwrap_or_else(|| panic!("no executable `{bin}` among {:?}", self.executables))
            .1;
        let out = Command::new(exe).output().unwrap();
        assert!(out.status.success(), "{bin} failed: {}", stderr(&out));
        stdout(&out)
    }
}

/// prepare in `fx/<project>`, cook into an empty directory with `flags`, copy the real sources
/// over with old mtimes, run the plain `cargo build <flags>` and report what it compiled.
pub fn cook_then_build(
    fx: &Fixture,
    project: &str,
    prepare_args: &[&str],
    flags: &[&str],
) -> Outcome {
    cook_then_build_with(fx, project, prepare_args, flags, &[], gantry_cmd)
}

/// The same with extra environment for cook and build, and the command that runs gantry.
pub fn cook_then_build_with(
    fx: &Fixture,
    project: &str,
    prepare_args: &[&str],
    flags: &[&str],
    env: &[(&str, &str)],
    gantry_cmd: fn(&Path) -> Command,
) -> Outcome {
    cook_then(
        fx,
        project,
        prepare_args,
        flags,
        env,
        gantry_cmd,
        RealBuild::SameFlags,
    )
}

/// prepare and cook with `flags`, then run the real build that cook's `note:` names (the flags
/// themselves when cook names none).
pub fn cook_then_build_as_told(
    fx: &Fixture,
    project: &str,
    prepare_args: &[&str],
    flags: &[&str],
) -> Outcome {
    cook_then(
        fx,
        project,
        prepare_args,
        flags,
        &[],
        gantry_cmd,
        RealBuild::AsTold,
    )
}

/// Which `cargo build` follows the cook.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RealBuild {
    SameFlags,
    AsTold,
}

/// The arguments after `cargo build` in cook's `note: … \`cargo build …\``, if it printed one.
pub fn told_build_args(cook_stderr: &str) -> Option<Vec<String>> {
    let line = cook_stderr
        .lines()
        .find(|l| l.starts_with("note:") && l.contains("`cargo build"))?;
    let command = line.split('`').nth(1)?.strip_prefix("cargo build")?;
    Some(command.split_whitespace().map(str::to_owned).collect())
}

fn cook_then(
    fx: &Fixture,
    project: &str,
    prepare_args: &[&str],
    flags: &[&str],
    env: &[(&str, &str)],
    gantry_cmd: fn(&Path) -> Command,
    real_build: RealBuild,
) -> Outcome {
    let recipe = prepare(fx, project, prepare_args);
    let dir = tempfile::Builder::new()
        .prefix("cook-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let root = dir.path().to_owned();
    let cook_dir = root.join(project);
    std::fs::create_dir_all(&cook_dir).unwrap();
    std::fs::write(cook_dir.join("recipe.json"), &recipe).unwrap();
    let mut cook = gantry_cmd(&cook_dir);
    cook.arg("cook").args(flags).envs(env.iter().copied());
    let cooked = ok(cook.output().unwrap(), "cook");
    std::fs::remove_file(cook_dir.join("recipe.json")).unwrap();

    age_tree(fx.root());
    copy_over(fx.root(), &root);
    let build_args = match real_build {
        RealBuild::AsTold => told_build_args(&stderr(&cooked)),
        RealBuild::SameFlags => None,
    }
    .unwrap_or_else(|| flags.iter().map(|f| f.to_string()).collect());
    let mut build = cargo(&cook_dir);
    build
        .arg("build")
        .args(&build_args)
        .arg("--message-format=json-render-diagnostics")
        .envs(env.iter().copied());
    let out = ok(build.output().unwrap(), "real build");
    let mut artifacts = Vec::new();
    let mut executables = Vec::new();
    for line in stdout(&out).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let name = msg["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        artifacts.push((
            msg["package_id"].as_str().unwrap_or_default().to_owned(),
            name.clone(),
            msg["fresh"].as_bool().unwrap_or(false),
        ));
        let is_test_harness = msg["profile"]["test"].as_bool().unwrap_or(false);
        if let (Some(exe), false) = (msg["executable"].as_str(), is_test_harness) {
            executables.push((name, PathBuf::from(exe)));
        }
    }
    Outcome {
        _dir: dir,
        project: cook_dir,
        artifacts,
        executables,
        cook_stderr: stderr(&cooked),
    }
}
