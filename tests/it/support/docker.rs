//! The real Docker engine for end-to-end tests: Debian's client at /usr/bin/docker with
//! BuildKit, local base images only (nothing is pulled), and a local `cargo-gantry:<version>`
//! image holding the binary under test.
//!
//! Missing Docker fails the test with a reason; `GANTRY_E2E=skip` turns that into a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The Debian client; another `docker` may come first on PATH (a wrapper without BuildKit).
const DOCKER: &str = "/usr/bin/docker";
pub const GANTRY_IMAGE: &str = concat!("cargo-gantry:", env!("CARGO_PKG_VERSION"));

pub struct Docker {
    /// Builds run one at a time: the machine has two cores, and timings must not interfere.
    _turn: MutexGuard<'static, ()>,
}

/// The engine, ready for tests; `None` (with a note on stderr) only under `GANTRY_E2E=skip`.
pub fn docker() -> Option<Docker> {
    static TURN: Mutex<()> = Mutex::new(());
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(prepare);
    if let Err(why) = ready {
        if std::env::var("GANTRY_E2E").as_deref() == Ok("skip") {
            eprintln!("note: skipping an end-to-end test (GANTRY_E2E=skip): {why}");
            return None;
        }
        panic!(
            "{why}\nhint: run scripts/test-env.sh, or set GANTRY_E2E=skip to skip the end-to-end tests"
        );
    }
    Some(Docker {
        _turn: TURN.lock().unwrap_or_else(|e| e.into_inner()),
    })
}

fn prepare() -> Result<(), String> {
    if !Path::new(DOCKER).exists() {
        return Err(format!("`{DOCKER}` does not exist"));
    }
    let info = Command::new(DOCKER)
        .arg("info")
        .output()
        .map_err(|e| e.to_string())?;
    if !info.status.success() {
        return Err(format!(
            "the Docker daemon does not answer: {}",
            String::from_utf8_lossy(&info.stderr).trim()
        ));
    }
    // Local stand-ins for the public base images; idempotent and quick when up to date.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/test-env.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    gantry_image()
}

/// `cargo-gantry:<version>` holding the binary under test: how a build without network or
/// registry gets gantry (`--build-arg GANTRY_FROM=image`). Made by gantry's own daemonless image
/// builder and loaded into the engine.
fn gantry_image() -> Result<(), String> {
    use cargo_gantry::engine::Engine;
    use cargo_gantry::image::{self, Base, Inputs};
    use cargo_gantry::publish::{DockerLoad, Publisher};
    use cargo_gantry::settings::{ImageSettings, Layer};

    let settings = ImageSettings::from_layer(&Layer::default());
    let (image, _) = image::build(&Inputs {
        binary: Path::new(env!("CARGO_BIN_EXE_cargo-gantry")),
        bin: "cargo-gantry",
        settings: &settings,
        labels: &Default::default(),
        base: &Base::Auto,
        created: 0,
        extra_files: &[],
        probe: None,
        cache: None,
    })
    .map_err(|e| e.render())?;
    DockerLoad::with_engine(GANTRY_IMAGE, Engine::at(DOCKER))
        .publish(&image)
        .map_err(|e| e.render())?;
    Ok(())
}

fn cmd() -> Command {
    let mut c = Command::new(DOCKER);
    c.env("DOCKER_BUILDKIT", "1");
    c
}

/// A finished `docker build`: BuildKit's plain progress output.
pub struct Build {
    pub log: String,
}

impl Build {
    /// The log lines of the step whose instruction contains `needle`, by BuildKit step number.
    pub fn step(&self, needle: &str) -> Vec<&str> {
        let Some(head) = self
            .log
            .lines()
            .find(|l| l.starts_with('#') && l.contains(" [") && l.contains(needle))
        else {
            panic!("no step `{needle}` in the build log:\n{}", self.log);
        };
        let num = head.split(' ').next().unwrap().to_owned();
        self.log
            .lines()
            .filter(|l| l.split(' ').next() == Some(num.as_str()))
            .collect()
    }

    /// Crates that cargo compiled in the step whose instruction contains `needle`.
    pub fn compiled_in(&self, needle: &str) -> Vec<String> {
        self.step(needle)
            .iter()
            .filter_map(|l| {
                l.split_once(" Compiling ")
                    .map(|(_, c)| c.trim().to_owned())
            })
            .collect()
    }

    pub fn step_cached(&self, needle: &str) -> bool {
        self.step(needle).iter().any(|l| l.ends_with(" CACHED"))
    }

    /// Crates that cargo compiled anywhere in the build.
    pub fn compiled(&self) -> Vec<String> {
        self.log
            .lines()
            .filter_map(|l| {
                l.split_once(" Compiling ")
                    .map(|(_, c)| c.trim().to_owned())
            })
            .collect()
    }
}

impl Docker {
    /// `docker build` of `context` with `dockerfile`, tagged `tag`, getting gantry from the
    /// local image.
    pub fn build(&self, context: &Path, dockerfile: &Path, tag: &str) -> Build {
        let (ok, build) = self.try_build(context, dockerfile, tag);
        assert!(ok, "docker build failed:\n{}", build.log);
        build
    }

    /// A `docker build` that must fail.
    pub fn build_failing(&self, context: &Path, dockerfile: &Path, tag: &str) -> Build {
        let (ok, build) = self.try_build(context, dockerfile, tag);
        assert!(!ok, "docker build succeeded:\n{}", build.log);
        build
    }

    /// `docker build --platform platform` (one platform: Docker 20.10 has no buildx here).
    pub fn build_for(&self, context: &Path, dockerfile: &Path, tag: &str, platform: &str) -> Build {
        let (ok, build) = self.try_build_with(context, dockerfile, tag, &["--platform", platform]);
        assert!(
            ok,
            "docker build --platform {platform} failed:\n{}",
            build.log
        );
        build
    }

    fn try_build(&self, context: &Path, dockerfile: &Path, tag: &str) -> (bool, Build) {
        self.try_build_with(context, dockerfile, tag, &[])
    }

    fn try_build_with(
        &self,
        context: &Path,
        dockerfile: &Path,
        tag: &str,
        extra: &[&str],
    ) -> (bool, Build) {
        let out = cmd()
            .args([
                "build",
                "--progress=plain",
                "--build-arg",
                "GANTRY_FROM=image",
            ])
            .args(extra)
            .arg("-f")
            .arg(dockerfile)
            .args(["-t", tag])
            .arg(context)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), Build { log })
    }

    /// `docker run --rm tag`: its stdout.
    pub fn run(&self, tag: &str) -> String {
        let out = ok(
            cmd().args(["run", "--rm", tag]).output().unwrap(),
            "docker run",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker run --rm --platform platform tag` (emulated when it is not this machine's): its
    /// stdout.
    pub fn run_on(&self, tag: &str, platform: &str) -> String {
        let out = ok(
            cmd()
                .args(["run", "--rm", "--platform", platform, tag])
                .output()
                .unwrap(),
            "docker run",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The image config's `architecture`.
    pub fn architecture(&self, tag: &str) -> String {
        let out = cmd()
            .args(["image", "inspect", "-f", "{{.Architecture}}", tag])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ok(out, "docker inspect").stdout)
            .trim()
            .to_owned()
    }

    /// The bytes of the file `path` in image `tag` (through a created, never started container).
    pub fn file(&self, tag: &str, path: &str, dir: &Path) -> Vec<u8> {
        let out = ok(
            cmd().args(["create", tag]).output().unwrap(),
            "docker create",
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let dest = dir.join("copied-out");
        let copied = cmd()
            .arg("cp")
            .arg(format!("{id}:{path}"))
            .arg(&dest)
            .output()
            .unwrap();
        let _ = cmd().args(["rm", &id]).output();
        ok(copied, "docker cp");
        let bytes = std::fs::read(&dest).unwrap();
        std::fs::remove_file(&dest).unwrap();
        bytes
    }

    /// `docker tag from to`.
    pub fn tag(&self, from: &str, to: &str) {
        ok(
            cmd().args(["tag", from, to]).output().unwrap(),
            "docker tag",
        );
    }

    /// The image's configured user.
    pub fn user(&self, tag: &str) -> String {
        let out = cmd()
            .args(["image", "inspect", "-f", "{{.Config.User}}", tag])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ok(out, "docker inspect").stdout)
            .trim()
            .to_owned()
    }

    pub fn remove(&self, tag: &str) {
        let _ = cmd().args(["image", "rm", "-f", tag]).output();
    }
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
