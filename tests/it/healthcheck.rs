//! Healthchecks without a shell: `gantry-probe` in a scratch image makes Docker report the
//! container healthy, then unhealthy; the probe for aarch64 runs under qemu; every refusal.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::tools::{docker, run, tool};
use crate::support::*;

/// A std-only HTTP server on 0.0.0.0:8080: `/healthz` answers 200 until someone GETs `/fail`,
/// then 500. `server fail` is that someone (no shell or curl in the image: the binary itself).
const SERVER: &str = r#"use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    if std::env::args().nth(1).as_deref() == Some("fail") {
        let mut s = TcpStream::connect("127.0.0.1:8080").unwrap();
        s.write_all(b"GET /fail HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        return;
    }
    let mut healthy = true;
    let listener = TcpListener::bind("0.0.0.0:8080").unwrap();
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut buf = [0u8; 1024];
        let n = conn.read(&mut buf).unwrap_or(0);
        let request = String::from_utf8_lossy(&buf[..n]);
        if request.starts_with("GET /fail ") {
            healthy = false;
        }
        let status = match (request.starts_with("GET /healthz "), healthy) {
            (true, true) => "200 OK",
            (true, false) => "500 Internal Server Error",
            _ => "404 Not Found",
        };
        let _ = write!(conn, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    }
}
"#;

const HEALTHCHECK: &str = "healthcheck = { http = \"http://127.0.0.1:8080/healthz\", \
     interval = \"1s\", timeout = \"2s\", start-period = \"1s\", retries = 2 }";

/// The server as a package with `metadata` under [package.metadata.gantry].
fn server(fx: &Fixture, dir: &str, metadata: &str) {
    fx.file(
        &format!("{dir}/Cargo.toml"),
        &format!(
            "{}\n[package.metadata.gantry]\n{metadata}\n",
            manifest("server", "")
        ),
    )
    .file(&format!("{dir}/src/main.rs"), SERVER);
}

/// Removes the container when the test ends, however it ends.
struct Container<'a> {
    docker: &'a Path,
    id: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = Command::new(self.docker)
            .args(["rm", "-f", &self.id])
            .output();
    }
}

impl Container<'_> {
    fn health(&self) -> String {
        let format = "{{if .State.Health}}{{.State.Health.Status}}{{end}}";
        run(Command::new(self.docker).args(["inspect", "--format", format, &self.id]))
            .trim()
            .to_owned()
    }

    fn wait_for(&self, status: &str) {
        let start = Instant::now();
        loop {
            let now = self.health();
            if now == status {
                return;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = run(Command::new(self.docker).args([
                    "inspect",
                    "--format",
                    "{{json .State.Health}}",
                    &self.id,
                ]));
                panic!("still `{now}`, not `{status}` after a minute: {log}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn scratch_image_with_a_healthcheck_becomes_healthy_then_unhealthy_in_docker() {
    let Some(docker) = docker() else { return };
    let fx = Fixture::new();
    server(&fx, "app", HEALTHCHECK);
    // Static, so that the image can be scratch: nothing but the server and the probe.
    let host = host_target();
    fx.file(
        "app/.cargo/config.toml",
        &format!("[target.{host}]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n"),
    );
    let tag = "gantry-test-healthcheck:1";
    let args = [
        "build", "--target", host, "--base", "scratch", "--load", "--tag", tag,
    ];
    let out = ok(gantry(&fx.path("app"), &args), "cargo gantry build --load");
    assert!(
        stderr(&out).contains("Compiling `gantry-probe`"),
        "{}",
        stderr(&out)
    );
    // Cached by content under the target dir: the next build compiles no probe.
    let cache = fx.path("app/target/gantry/probe");
    let entries: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        matches!(&entries[..], [one] if one.starts_with(&format!("{host}-"))),
        "{entries:?}"
    );
    assert!(cache.join(&entries[0]).join("gantry-probe").is_file());
    let again = ok(
        gantry(
            &fx.path("app"),
            &["build", "--target", host, "--base", "scratch"],
        ),
        "rebuild",
    );
    assert!(
        !stderr(&again).contains("gantry-probe"),
        "{}",
        stderr(&again)
    );

    let config = run(Command::new(&docker).args([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        tag,
    ]));
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        config,
        serde_json::json!({
            "Test": ["CMD", "/usr/local/bin/gantry-probe", "--timeout", "2s", "http://127.0.0.1:8080/healthz"],
            "Interval": 1_000_000_000u64,
            "Timeout": 2_000_000_000u64,
            "StartPeriod": 1_000_000_000u64,
            "Retries": 2
        })
    );

    let id = run(Command::new(&docker).args(["run", "-d", tag]))
        .trim()
        .to_owned();
    let container = Container {
        docker: &docker,
        id,
    };
    container.wait_for("healthy");
    run(Command::new(&docker).args(["exec", &container.id, "/usr/local/bin/server", "fail"]));
    container.wait_for("unhealthy");
    drop(container);
    let _ = Command::new(&docker)
        .args(["image", "rm", "-f", tag])
        .output();
}

#[test]
fn aarch64_probe_from_the_cross_toolchain_runs_under_qemu() {
    let Some(qemu) = tool("/usr/bin/qemu-aarch64-static") else {
        return;
    };
    let toolchains = run(Command::new("rustup").args(["toolchain", "list"]));
    assert!(
        toolchains.lines().any(|l| l.starts_with("cross-1.96")),
        "no `cross-1.96` toolchain (aarch64 std): run /work/shared/cross/setup-arm64.sh\n{toolchains}"
    );
    let fx = Fixture::new();
    let probe = fx.path("gantry-probe");
    let out = gantry_cmd(fx.root())
        .env("RUSTUP_TOOLCHAIN", "cross-1.96")
        .args(["probe", "--target", "aarch64-unknown-linux-gnu", "-o"])
        .arg(&probe)
        .output()
        .unwrap();
    ok(out, "cargo gantry probe --target aarch64-unknown-linux-gnu");
    let elf = cargo_gantry::image::elf::ElfInfo::read(&probe).unwrap();
    assert_eq!(elf.abi.oci_architecture(), Some("arm64"));
    assert_eq!(elf.linking, cargo_gantry::image::elf::Linking::Static);
    let size = std::fs::metadata(&probe).unwrap().len();
    assert!(size <= cargo_gantry::probe::MAX_SIZE, "{size} bytes");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let check = |addr: String| {
        Command::new(&qemu)
            .arg(&probe)
            .args(["tcp", &addr])
            .output()
            .unwrap()
    };
    let up = check(format!("127.0.0.1:{port}"));
    assert_eq!(up.status.code(), Some(0), "{}", stderr(&up));
    drop(listener);
    let down = check(format!("127.0.0.1:{port}"));
    assert_eq!(down.status.code(), Some(1), "{}", stderr(&down));
    assert!(
        stderr(&down).contains("connection refused"),
        "{}",
        stderr(&down)
    );
}

#[test]
fn a_target_without_core_is_refused_with_the_rustup_command() {
    let triple = "aarch64-unknown-linux-musl";
    let libdir = run(Command::new("rustc").args(["--print", "target-libdir", "--target", triple]));
    assert!(
        !Path::new(libdir.trim()).exists(),
        "`{triple}` is installed here: this test needs a target that is not"
    );
    let fx = Fixture::new();
    let out = gantry(fx.root(), &["probe", "--target", triple, "-o", "p"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the Rust target `{triple}` is not installed")),
        "{err}"
    );
    assert!(
        err.contains(&format!("hint: rustup target add {triple}")),
        "{err}"
    );
    assert!(!fx.path("p").exists());

    let out = gantry(
        fx.root(),
        &["probe", "--target", "s390x-unknown-linux-gnu", "-o", "p"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("x86_64 and aarch64"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kubernetes_liveness_probe_is_printed_on_stdout() {
    let fx = Fixture::new();
    server(&fx, "app", HEALTHCHECK);
    let out = ok(
        gantry(&fx.path("app"), &["healthcheck"]),
        "cargo gantry healthcheck",
    );
    insta::assert_snapshot!(stdout(&out));
    let out = gantry(
        &fx.path("app"),
        &["healthcheck", "--healthcheck", "tcp://127.0.0.1:5432"],
    );
    let yaml = stdout(&ok(out, "healthcheck --healthcheck"));
    // The flag replaces the check; the timings still come from the metadata.
    assert!(
        yaml.contains("  tcpSocket:\n    port: 5432\n  periodSeconds: 1\n  timeoutSeconds: 2\n"),
        "{yaml}"
    );
}

#[test]
fn healthcheck_refusals_exit_1_before_anything_is_built() {
    let fx = Fixture::new();
    server(&fx, "plain", "");
    let out = gantry(&fx.path("plain"), &["healthcheck"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("the image of `server` has no healthcheck"),
        "{err}"
    );
    assert!(err.contains("hint: set `healthcheck = "), "{err}");

    let out = gantry(
        &fx.path("plain"),
        &["build", "--healthcheck", "https://127.0.0.1/"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("--healthcheck `https://127.0.0.1/`"), "{err}");
    assert!(!err.contains("Compiling"), "{err}");

    server(
        &fx,
        "bad",
        "healthcheck = { http = \"http://127.0.0.1:8080/\", interval = \"often\" }",
    );
    let out = gantry(&fx.path("bad"), &["build"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`healthcheck.interval` `often` is not a duration"),
        "{err}"
    );
    assert!(!fx.path("bad/target").exists(), "{err}");
}

#[test]
fn generated_dockerfile_builds_the_probe_and_the_container_becomes_healthy() {
    let Some(d) = crate::support::docker::docker() else {
        return;
    };
    let fx = Fixture::new();
    server(&fx, "app", HEALTHCHECK);
    fx.lock("app");
    let args = ["dockerfile", "--strategy", "mounts", "--runtime", "scratch"];
    ok(gantry(&fx.path("app"), &args), "cargo gantry dockerfile");
    let tag = "gantry-test-healthcheck-dockerfile:1";
    let build = d.build(&fx.path("app"), &fx.path("app/Dockerfile"), tag);
    assert!(
        build
            .step("cargo gantry probe")
            .iter()
            .any(|l| l.contains("Compiling `gantry-probe`")),
        "{}",
        build.log
    );
    let docker = Path::new("/usr/bin/docker");
    let id = run(Command::new(docker).args(["run", "-d", tag]))
        .trim()
        .to_owned();
    let container = Container { docker, id };
    container.wait_for("healthy");
    run(Command::new(docker).args(["exec", &container.id, "/usr/local/bin/server", "fail"]));
    container.wait_for("unhealthy");
    drop(container);
    d.remove(tag);
}
