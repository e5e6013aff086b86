//! `cargo gantry build --load` finds the container engine the way the user's shell does:
//! `GANTRY_ENGINE`, else `docker` on PATH, else `podman`. Stub engines record what they got.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// A shell script `dir/name` that records its arguments and stdin next to itself.
fn stub(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\nhere=$(dirname \"$0\")\nprintf '%s\\n' \"$@\" > \"$here/{name}.args\"\n\
         cat > \"$here/{name}.stdin\"\necho \"Loaded image: stub\"\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `build --load` of a tiny app with `stubs` first on PATH and `GANTRY_ENGINE` as given.
fn build_load(fx: &Fixture, stubs: &Path, engine: Option<&str>) -> std::process::Output {
    fx.bin_package("app", "app", "", "hi");
    let path = std::env::join_paths(
        std::iter::once(stubs.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut cmd: Command = gantry_cmd(&fx.path("app"));
    cmd.args(["build", "--load"]).env("PATH", path);
    match engine {
        Some(engine) => cmd.env("GANTRY_ENGINE", engine),
        None => cmd.env_remove("GANTRY_ENGINE"),
    };
    cmd.output().unwrap()
}

#[test]
fn build_load_uses_the_docker_first_on_path_and_names_it() {
    let fx = Fixture::new();
    let stubs = fx.path("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let docker = stub(&stubs, "docker");
    stub(&stubs, "podman");
    let out = ok(build_load(&fx, &stubs, None), "build --load");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Loading `app:0.1.0` with `docker` ({}, from PATH)",
            docker.display()
        )),
        "{err}"
    );
    assert_eq!(fx.read("stubs/docker.args"), "load\n");
    assert!(!stubs.join("podman.args").exists());
    // what the stub read is a docker archive of the image, under its tag
    let path = stubs.join("docker.stdin");
    let loaded = cargo_gantry::oci::archive::read(&path, Some("app:0.1.0")).unwrap();
    assert!(!loaded.layers().is_empty());
}

#[test]
fn build_load_with_gantry_engine_podman_skips_docker() {
    let fx = Fixture::new();
    let stubs = fx.path("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    stub(&stubs, "docker");
    let podman = stub(&stubs, "podman");
    let out = ok(build_load(&fx, &stubs, Some("podman")), "build --load");
    assert!(
        stderr(&out).contains(&format!(
            "with `podman` ({}, from GANTRY_ENGINE)",
            podman.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(fx.read("stubs/podman.args"), "load\n");
    assert!(!stubs.join("docker.args").exists());
}

#[test]
fn build_load_with_a_gantry_engine_that_does_not_exist_is_a_user_error() {
    let fx = Fixture::new();
    let stubs = fx.path("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let out = build_load(&fx, &stubs, Some("/no/such/docker"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: `GANTRY_ENGINE=/no/such/docker` is not an executable file"),
        "{err}"
    );
    assert_eq!(err.matches("hint:").count(), 1, "{err}");
}
