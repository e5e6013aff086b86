//! `cargo gantry build`: real projects compiled on the host, images assembled without a daemon,
//! then checked by fsck, skopeo, umoci and finally `docker load` + `docker run`.

use std::path::Path;
use std::process::Command;

use crate::support::tools::{docker, run, tool};
use crate::support::*;

/// A program that prints `says` and the uid it runs as (from /proc, so no crate is needed).
fn uid_program(says: &str) -> String {
    format!(
        r#"fn main() {{
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().split_whitespace().nth(1).unwrap().to_owned();
    let mut b = itoa::Buffer::new();
    println!("{says} {{}} uid={{uid}}", b.format(7));
}}
"#
    )
}

/// `app` plus a path dependency outside the package whose `file!()` cargo passes as an absolute
/// path: only remapping keeps the checkout's location out of the binary. (Cargo also hashes that
/// absolute path into symbol names, hence `strip`; see the README.)
fn app_with_outside_dep(fx: &Fixture, dir: &str, says: &str) {
    let deps = "itoa = \"1\"\nhelper = { path = \"../helper\" }";
    let app_manifest = manifest("app", deps) + "\n[profile.release]\nstrip = \"symbols\"\n";
    fx.file(&format!("{dir}/Cargo.toml"), &app_manifest)
        .file(
            &format!("{dir}/src/main.rs"),
            &uid_program(says).replace(
                "fn main() {",
                "fn main() {\n    std::hint::black_box(helper::here());",
            ),
        )
        .file("helper/Cargo.toml", &manifest("helper", ""))
        .file(
            "helper/src/lib.rs",
            "pub fn here() -> &'static str { file!() }\n",
        );
}

fn app(fx: &Fixture, dir: &str, name: &str, says: &str) {
    fx.file(
        &format!("{dir}/Cargo.toml"),
        &manifest(name, "itoa = \"1\""),
    )
    .file(&format!("{dir}/src/main.rs"), &uid_program(says));
}

/// Run `cargo gantry build` with `args`; returns the parsed `--message-format json` summary.
fn build_json(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = gantry_cmd(dir);
    cmd.arg("build")
        .args(args)
        .args(["--message-format", "json"])
        .envs(envs.iter().copied());
    let out = ok(cmd.output().unwrap(), "cargo gantry build");
    serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// Build `fx/<dir>` into a docker archive (tagged `tag`, or the default `BIN:VERSION`), then
/// `docker load` it; returns the `--message-format json` summary.
fn build_and_load(
    docker: &Path,
    fx: &Fixture,
    dir: &str,
    tag: Option<&str>,
    args: &[&str],
) -> serde_json::Value {
    let archive = fx.path(&format!("{}.tar", dir.replace('/', "-")));
    let mut all = args.to_vec();
    all.extend(["--docker-archive", archive.to_str().unwrap()]);
    if let Some(tag) = tag {
        all.extend(["--tag", tag]);
    }
    let summary = build_json(&fx.path(dir), &all, &[]);
    load(docker, &archive);
    summary
}

/// The sonames the summary says the image carries.
fn libraries(summary: &serde_json::Value) -> Vec<&str> {
    let libs = summary["libraries"].as_array().unwrap();
    libs.iter().map(|l| l.as_str().unwrap()).collect()
}

fn docker_run(docker: &Path, tag: &str) -> String {
    run(Command::new(docker).args(["run", "--rm", tag]))
}

fn load(docker: &Path, archive: &Path) {
    run(Command::new(docker).arg("load").arg("-i").arg(archive));
}

#[test]
fn dynamic_glibc_binary_runs_in_docker_as_nonroot_with_exactly_its_libraries() {
    let Some(docker) = docker() else { return };
    let fx = Fixture::new();
    app(&fx, "app", "app", "dynamic");
    let summary = build_and_load(&docker, &fx, "app", Some("gantry-test-dynamic:1"), &[]);
    assert_eq!(summary["linking"], "dynamic");
    let libs = libraries(&summary);
    assert!(libs.contains(&"libc.so.6"), "{libs:?}");
    assert!(
        !libs.iter().any(|l| l.starts_with("libssl")),
        "a library the binary does not link: {libs:?}"
    );
    assert_eq!(
        docker_run(&docker, "gantry-test-dynamic:1"),
        "dynamic 7 uid=65532\n"
    );
    let user = run(Command::new(&docker).args([
        "inspect",
        "-f",
        "{{.Config.User}}",
        "gantry-test-dynamic:1",
    ]));
    assert_eq!(user.trim(), "65532:65532");
}

#[test]
fn crt_static_binary_gets_runtime_files_but_no_libraries() {
    let Some(docker) = docker() else { return };
    let fx = Fixture::new();
    app_with_outside_dep(&fx, "app", "static");
    let host = host_target();
    fx.file(
        "app/.cargo/config.toml",
        &format!("[target.{host}]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n"),
    );
    let target = ["--target", host];
    let summary = build_and_load(&docker, &fx, "app", Some("gantry-test-static:1"), &target);
    assert_ne!(summary["linking"], "dynamic", "{summary}");
    // The project's own [target] rustflags are in force: the path remapping must join them,
    // so the same source elsewhere still gives the same image.
    let twin = Fixture::new();
    app_with_outside_dep(&twin, "app", "static");
    std::fs::copy(fx.path("app/.cargo/config.toml"), {
        std::fs::create_dir_all(twin.path("app/.cargo")).unwrap();
        twin.path("app/.cargo/config.toml")
    })
    .unwrap();
    std::fs::copy(fx.path("app/Cargo.lock"), twin.path("app/Cargo.lock")).unwrap();
    let again = build_json(&twin.path("app"), &target, &[]);
    assert_eq!(
        summary["digest"], again["digest"],
        "static build depends on the checkout path"
    );
    assert!(libraries(&summary).is_empty(), "{summary}");
    assert_eq!(
        docker_run(&docker, "gantry-test-static:1"),
        "static 7 uid=65532\n"
    );
}

#[test]
fn workspace_member_is_chosen_by_bin_and_several_bins_need_a_choice() {
    let Some(docker) = docker() else { return };
    let fx = Fixture::new();
    fx.file(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n",
    );
    app(&fx, "ws/a", "alpha", "alpha");
    app(&fx, "ws/b", "beta", "beta");
    let out = gantry(&fx.path("ws"), &["build"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("this workspace has 2 binaries: `alpha` (package `alpha`), `beta`")
            && err.contains("--bin"),
        "{err}"
    );
    build_and_load(&docker, &fx, "ws", None, &["--bin", "beta"]);
    assert_eq!(docker_run(&docker, "beta:0.1.0"), "beta 7 uid=65532\n");
}

#[test]
fn same_source_in_two_directories_gives_the_same_digest_and_a_valid_layout() {
    let (Some(skopeo), Some(umoci)) = (tool("/usr/bin/skopeo"), tool("/usr/bin/umoci")) else {
        return;
    };
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let (a, b) = (Fixture::new(), Fixture::new());
    app_with_outside_dep(&a, "app", "repro");
    app_with_outside_dep(&b, "app", "repro");
    a.lock("app");
    std::fs::copy(a.path("app/Cargo.lock"), b.path("app/Cargo.lock")).unwrap();
    let layout = a.path("layout");
    let sa = build_json(
        &a.path("app"),
        &["--oci-layout", layout.to_str().unwrap()],
        &epoch,
    );
    let sb = build_json(&b.path("app"), &[], &epoch);
    assert_eq!(
        sa["digest"], sb["digest"],
        "digest depends on the checkout directory"
    );
    let sc = build_json(&a.path("app"), &[], &[("SOURCE_DATE_EPOCH", "1700000001")]);
    assert_ne!(sa["digest"], sc["digest"], "SOURCE_DATE_EPOCH is not used");

    let report = cargo_gantry::oci::fsck::check(&layout).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let inspect = run(Command::new(&skopeo)
        .arg("inspect")
        .arg(format!("oci:{}:app:0.1.0", layout.display())));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Digest"], sa["digest"]);
    assert_eq!(inspect["Labels"]["org.opencontainers.image.title"], "app");
    assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z");
    let env = inspect["Env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e == "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{env:?}"
    );
    let bundle = a.path("bundle");
    run(Command::new(&umoci)
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:app:0.1.0", layout.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("usr/local/bin/app").is_file());
    // the host's bundle, wherever this distribution keeps it, at the path SSL_CERT_FILE names
    let ssl_cert_file = std::env::var_os("SSL_CERT_FILE");
    let host_ca =
        cargo_gantry::image::certs::host_bundle(Path::new("/"), ssl_cert_file.as_deref()).unwrap();
    assert_eq!(
        std::fs::read(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
        std::fs::read(host_ca).unwrap()
    );
    assert!(
        std::fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .contains("nonroot:x:65532:65532")
    );
}

#[test]
fn default_output_is_an_oci_layout_under_target_and_stdout_is_only_the_reference() {
    let fx = Fixture::new();
    app(&fx, "app", "app", "default");
    let out = ok(gantry(&fx.path("app"), &["build"]), "build");
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("app:0.1.0@sha256:"), "{text}");
    assert!(fx.path("app/target/gantry/oci/app/index.json").is_file());
    assert!(
        stderr(&out).contains("Next: skopeo copy oci:"),
        "{}",
        stderr(&out)
    );
}

/// A libc.so.6 (and the other libraries a Rust binary links) that define only old symbol
/// versions: a base image a binary built on this machine cannot run on. The loader is at the
/// path this machine's binaries name (`PT_INTERP`), the libraries in `/usr/lib`, which glibc
/// searches on every architecture.
fn old_glibc_base(fx: &Fixture) -> std::path::PathBuf {
    let gantry = Path::new(env!("CARGO_BIN_EXE_cargo-gantry"));
    let interp = cargo_gantry::image::elf::ElfInfo::read(gantry)
        .unwrap()
        .interpreter
        .expect("the binary under test is dynamically linked");
    let loader = interp.file_name().unwrap().to_str().unwrap().to_owned();
    let lib = fx.path("oldroot/usr/lib");
    std::fs::create_dir_all(&lib).unwrap();
    fx.file("fake.c", "int fake_symbol(void) { return 0; }\n");
    let fake = |soname: &str, version: &str| {
        let map = fx.path(&format!("{soname}.map"));
        std::fs::write(
            &map,
            format!("{version} {{ global: fake_symbol; local: *; }};\n"),
        )
        .unwrap();
        run(Command::new("cc")
            .args(["-shared", "-fPIC", "-nostdlib"])
            .arg(format!("-Wl,-soname,{soname}"))
            .arg(format!("-Wl,--version-script={}", map.display()))
            .arg(fx.path("fake.c"))
            .arg("-o")
            .arg(lib.join(soname)));
    };
    let names = ["libc.so.6", "libgcc_s.so.1", "libm.so.6", loader.as_str()];
    for (name, version) in names
        .iter()
        .zip(["GLIBC_2.17", "GCC_3.0", "GLIBC_2.17", "GLIBC_2.17"])
    {
        fake(name, version);
    }
    let mut layer = cargo_gantry::oci::LayerBuilder::new(0);
    for name in names {
        layer.file(&format!("/usr/lib/{name}"), 0o755, lib.join(name));
    }
    layer.symlink("/lib", "usr/lib");
    // `/lib/ld-linux-aarch64.so.1` is reached through `/lib`; `/lib64/…` needs its own link
    if interp.parent() != Some(Path::new("/lib")) {
        layer.symlink(&interp.to_string_lossy(), &format!("/usr/lib/{loader}"));
    }
    let mut image = cargo_gantry::oci::Image::new(&cargo_gantry::oci::Platform::linux_amd64());
    image.push_layer(layer.finish().unwrap(), "old glibc");
    let dir = fx.path("oldbase");
    cargo_gantry::oci::layout::write(&dir, &image, "old").unwrap();
    dir
}

#[test]
fn base_with_too_old_glibc_is_refused_with_the_versions() {
    let fx = Fixture::new();
    app(&fx, "app", "app", "x");
    let base = old_glibc_base(&fx);
    let out = gantry(
        &fx.path("app"),
        &["build", "--base", &format!("oci:{}:old", base.display())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("needs GLIBC_2.") && err.contains("at most GLIBC_2.17"),
        "{err}"
    );
    assert!(err.contains("hint:") && !err.contains("panicked"), "{err}");
}

#[test]
fn distroless_base_from_a_docker_archive_is_checked_and_used() {
    let Some(docker) = docker() else { return };
    let fx = Fixture::new();
    app(&fx, "app", "app", "on-distroless");
    let base = fx.path("base.tar");
    run(Command::new(&docker)
        .args(["save", "-o"])
        .arg(&base)
        .arg("gcr.io/distroless/cc-debian13:nonroot"));
    let base = format!("docker-archive:{}", base.display());
    let tag = Some("gantry-test-based:1");
    let summary = build_and_load(&docker, &fx, "app", tag, &["--base", &base]);
    assert!(
        summary["layers"].as_array().unwrap().len() >= 2,
        "{summary}"
    );
    assert_eq!(
        docker_run(&docker, "gantry-test-based:1"),
        "on-distroless 7 uid=65532\n"
    );
}

#[test]
fn binary_linking_libz_and_libssl_gets_those_libraries() {
    let Some(docker) = docker() else { return };
    let fx = Fixture::new();
    fx.file("app/Cargo.toml", &manifest("app", ""))
        .file(
            "app/build.rs",
            "fn main() { for l in [\"z\", \"ssl\", \"crypto\"] { println!(\"cargo:rustc-link-lib={l}\"); } }\n",
        )
        .file(
            "app/src/main.rs",
            r#"unsafe extern "C" {
    fn zlibVersion() -> *const std::ffi::c_char;
    fn OpenSSL_version_num() -> u64;
    fn OPENSSL_init_ssl(opts: u64, settings: *const std::ffi::c_void) -> i32;
}
fn main() {
    let z = unsafe { std::ffi::CStr::from_ptr(zlibVersion()) }.to_str().unwrap().to_owned();
    let ssl = unsafe { OpenSSL_version_num() } >> 28;
    let init = unsafe { OPENSSL_init_ssl(0, std::ptr::null()) };
    println!("zlib {} openssl {ssl} ssl-init {init}", z.split('.').next().unwrap());
}
"#,
        );
    let summary = build_and_load(&docker, &fx, "app", Some("gantry-test-native:1"), &[]);
    let libs = libraries(&summary);
    for want in ["libz.so.1", "libssl.so.3", "libcrypto.so.3"] {
        assert!(libs.contains(&want), "{want} missing from {libs:?}");
    }
    assert_eq!(
        docker_run(&docker, "gantry-test-native:1"),
        "zlib 1 openssl 3 ssl-init 1\n"
    );
}

#[test]
fn extras_from_metadata_and_flags_reach_the_image_config_and_layers() {
    let fx = Fixture::new();
    app(&fx, "app", "app", "extras");
    let manifest = fx.read("app/Cargo.toml")
        + "\n[package.metadata.gantry]\nexpose = [8080]\nenv = { RUST_LOG = \"info\" }\nextra-files = [\"assets\"]\nlabels = { team = \"core\" }\n";
    fx.file("app/Cargo.toml", &manifest)
        .file("app/assets/a.txt", "asset\n");
    let head = fx.git_commit("app");
    let layout = fx.path("layout");
    let args = [
        "--oci-layout",
        layout.to_str().unwrap(),
        "--env",
        "MODE=prod",
        "--tzdata",
        "--expose",
        "9090",
    ];
    build_json(&fx.path("app"), &args, &[]);

    let platform = cargo_gantry::oci::Platform::linux_amd64();
    let image = cargo_gantry::oci::layout::read(&layout, Some("app:0.1.0"), &platform).unwrap();
    let config = image.config();
    let rt = config.config().clone().unwrap();
    let env = rt.env().clone().unwrap();
    assert!(
        env.contains(&"MODE=prod".to_owned()) && env.contains(&"RUST_LOG=info".to_owned()),
        "{env:?}"
    );
    let ports = rt.exposed_ports().clone().unwrap();
    assert_eq!(
        ports,
        vec!["9090/tcp".to_owned()],
        "the flag overrides the metadata"
    );
    let labels = rt.labels().clone().unwrap();
    assert_eq!(labels["team"], "core");
    assert_eq!(labels["org.opencontainers.image.revision"], head.trim());
    assert_eq!(rt.entrypoint().clone().unwrap(), ["/usr/local/bin/app"]);
    assert!(
        config.history().as_ref().is_some_and(|h| h.len() == 2),
        "{:?}",
        config.history()
    );

    let root = fx.path("rootfs");
    cargo_gantry::oci::unpack::unpack(&image, &root).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("usr/share/app/assets/a.txt")).unwrap(),
        "asset\n"
    );
    assert!(root.join("usr/share/zoneinfo/UTC").exists());
}

#[test]
fn malformed_env_flag_is_a_user_error_with_hint() {
    let fx = Fixture::new();
    app(&fx, "app", "app", "x");
    let out = gantry(&fx.path("app"), &["build", "--env", "NOEQUALS"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`--env NOEQUALS` is not KEY=VALUE") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn push_prints_repo_at_digest_and_a_registry_base_is_pulled_checked_and_reused() {
    let Some(docker) = docker() else { return };
    let Some(skopeo) = tool("/usr/bin/skopeo") else {
        return;
    };
    let Some(registry) = crate::support::registry::TestRegistry::start() else {
        return;
    };
    let host = registry.host();
    // The distroless stand-in, put into the registry as a base.
    run(Command::new(&skopeo).args([
        "copy",
        "--dest-tls-verify=false",
        "docker-daemon:gcr.io/distroless/cc-debian13:nonroot",
        &format!("docker://{host}/distroless/cc:nonroot"),
    ]));
    let fx = Fixture::new();
    app(&fx, "app", "app", "pushed");
    let base = format!("{host}/distroless/cc:nonroot");
    let target = format!("{host}/team/app:1");
    let out = ok(
        gantry(
            &fx.path("app"),
            &["build", "--base", &base, "--push", &target],
        ),
        "build --push",
    );
    let printed = stdout(&out);
    let line = printed.trim();
    assert!(
        line.starts_with(&format!("{host}/team/app@sha256:")),
        "{printed}"
    );
    let inspect = registry.inspect("team/app:1", None);
    assert_eq!(
        Some(inspect["Digest"].as_str().unwrap()),
        line.split('@').nth(1)
    );
    run(Command::new(&docker).args(["pull", &target]));
    assert_eq!(docker_run(&docker, &target), "pushed 7 uid=65532\n");
}

#[test]
fn unreadable_base_fails_before_compiling_with_a_hint() {
    let fx = Fixture::new();
    app(&fx, "app", "app", "x");
    let out = gantry(
        &fx.path("app"),
        &["build", "--base", "oci:/nonexistent/layout"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("failed to read the base `oci:/nonexistent/layout`") && err.contains("hint:"),
        "{err}"
    );
    assert!(
        !err.contains("Compiling"),
        "compiled before checking the base: {err}"
    );
}

#[test]
fn host_build_failing_for_a_missing_build_tool_names_the_tool_and_the_crate() {
    let fx = Fixture::new();
    crate::cook_safety::needs_protoc(&fx);
    let layout = fx.path("layout");
    let out = gantry_cmd(&fx.path("app"))
        .args([
            "build",
            "--offline",
            "--oci-layout",
            layout.to_str().unwrap(),
        ])
        .env("PROTOC", "/nonexistent/protoc")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let hint = err.split("\nhint: ").nth(1).unwrap_or_default();
    assert!(
        hint.contains("`protoc`") && hint.contains("`prost-build`"),
        "{err}"
    );
}
