//! Outside tools the tests drive (skopeo, umoci, docker): found or the test fails with a reason,
//! unless `GANTRY_E2E=skip` asks for a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `GANTRY_E2E=skip` turns "tool missing" from a failure into a skip.
const E2E_ENV: &str = "GANTRY_E2E";

/// The tool at `path`, or `None` when it is missing and skipping was asked for.
pub fn tool(path: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    if std::env::var(E2E_ENV).as_deref() == Ok("skip") {
        eprintln!("skipping: `{path}` is missing and {E2E_ENV}=skip");
        return None;
    }
    panic!(
        "`{path}` is missing: run `scripts/test-env.sh` to install the test tools, or set {E2E_ENV}=skip"
    );
}

/// A tool found on PATH (pip's and cargo's install directories are not fixed paths), with the
/// same fail-or-skip rule as [`tool`].
pub fn tool_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(found) = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
    {
        return Some(found);
    }
    tool(name)
}

/// Docker needs a running daemon too, with the same fail-or-skip rule.
pub fn docker() -> Option<PathBuf> {
    let docker = tool("/usr/bin/docker")?;
    let info = Command::new(&docker)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .unwrap();
    if info.status.success() {
        return Some(docker);
    }
    if std::env::var(E2E_ENV).as_deref() == Ok("skip") {
        eprintln!("skipping: the Docker daemon is not reachable and {E2E_ENV}=skip");
        return None;
    }
    panic!(
        "the Docker daemon is not reachable (start dockerd, see `scripts/test-env.sh`, or set {E2E_ENV}=skip): {}",
        String::from_utf8_lossy(&info.stderr)
    );
}

/// Run and return stdout; any failure panics with the command and its stderr.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}
