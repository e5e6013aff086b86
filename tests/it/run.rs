//! `cargo gantry run`: build, load, run removed-on-exit; the program's output and exit status
//! are gantry's.

use crate::support::docker::docker;
use crate::support::*;

const PROGRAM: &str = r#"fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args={args:?} greeting={}", std::env::var("GREETING").unwrap_or_default());
    std::process::exit(3 + args.len() as i32);
}
"#;

#[test]
fn run_prints_the_programs_output_and_passes_its_exit_status() {
    let Some(_docker) = docker() else { return };
    let fx = Fixture::new();
    fx.file("app/Cargo.toml", &manifest("runme", ""))
        .file("app/src/main.rs", PROGRAM);
    let out = gantry_cmd(&fx.path("app"))
        .args([
            "run",
            "--tag",
            "runme:test",
            "--env",
            "GREETING=hi",
            "--",
            "one",
            "two",
        ])
        .output()
        .unwrap();
    let stdout = stdout(&out);
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
    // stdout carries the program's output only.
    assert_eq!(stdout, "args=[\"one\", \"two\"] greeting=hi\n");
    // The run-time variable did not go into the image.
    let inspect = std::process::Command::new("/usr/bin/docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            "runme:test",
        ])
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&inspect.stdout).into_owned();
    assert!(
        inspect.status.success() && !env.contains("GREETING"),
        "{env}"
    );
    // Removed on exit: no container of that image is left.
    let ps = std::process::Command::new("/usr/bin/docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "ancestor=runme:test",
            "--format",
            "{{.ID}}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "");
    let _ = std::process::Command::new("/usr/bin/docker")
        .args(["rmi", "-f", "runme:test"])
        .output();
}

#[test]
fn a_bad_port_mapping_is_refused_before_building() {
    let fx = Fixture::new();
    fx.file("app/Cargo.toml", &manifest("runme", ""))
        .file("app/src/main.rs", PROGRAM);
    let out = gantry(&fx.path("app"), &["run", "--publish", "web:80"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`--publish web:80` is not a port mapping"),
        "{err}"
    );
    assert!(!err.contains("Compiling"), "built before refusing: {err}");
}
