//! What `cargo gantry dockerfile` writes for a range of projects, as insta snapshots: every
//! line a user reads is reviewed when it changes.

use crate::support::*;

/// A Cargo.lock naming `crates` (name, dependencies): enough for the native-package table;
/// `cargo metadata --no-deps` does not resolve, so nothing is fetched.
fn lockfile(locals: &[&str], crates: &[(&str, &[&str])]) -> String {
    let mut s = String::from("version = 4\n");
    for l in locals {
        s.push_str(&format!(
            "\n[[package]]\nname = \"{l}\"\nversion = \"0.1.0\"\n"
        ));
    }
    for (name, deps) in crates {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        s.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\ndependencies = [{}]\n",
            deps.join(", ")
        ));
    }
    s
}

/// The Dockerfile printed by `dockerfile -o - <args>` in `fx/<dir>`.
fn dockerfile(fx: &Fixture, dir: &str, args: &[&str]) -> String {
    let mut all = vec!["dockerfile", "-o", "-"];
    all.extend_from_slice(args);
    stdout(&ok(gantry(&fx.path(dir), &all), "cargo gantry dockerfile"))
}

fn single_crate(fx: &Fixture) {
    fx.file(
        "app/Cargo.toml",
        "[package]\nname = \"hello\"\nversion = \"1.2.3\"\nedition = \"2021\"\n\
         description = \"Says hello\"\nlicense = \"MIT OR Apache-2.0\"\n\
         repository = \"https://example.com/hello\"\n\n[dependencies]\nitoa = \"1\"\n",
    )
    .file("app/src/main.rs", "fn main() {}\n")
    .file("app/Cargo.lock", &lockfile(&["hello"], &[("itoa", &[])]));
}

#[test]
fn single_crate_chef_distroless() {
    let fx = Fixture::new();
    single_crate(&fx);
    insta::assert_snapshot!(dockerfile(&fx, "app", &[]));
}

#[test]
fn dockerignore_keeps_outputs_vcs_secrets_and_editor_files_out() {
    let fx = Fixture::new();
    single_crate(&fx);
    ok(gantry(&fx.path("app"), &["dockerfile"]), "dockerfile");
    insta::assert_snapshot!(fx.read("app/.dockerignore"));
}

#[test]
fn workspace_with_several_bins_ships_the_chosen_one() {
    let fx = Fixture::new();
    fx.file("ws/Cargo.toml", "[workspace]\nmembers = [\"api\", \"worker\"]\nresolver = \"2\"\n\n[workspace.metadata.gantry]\nexpose = [8080]\nenv = { RUST_LOG = \"info\" }\n")
        .bin_package("ws/api", "api", "", "api")
        .file("ws/api/src/bin/migrate.rs", "fn main() {}\n")
        .bin_package("ws/worker", "worker", "", "worker")
        .file("ws/Cargo.lock", &lockfile(&["api", "worker"], &[]));
    insta::assert_snapshot!(dockerfile(&fx, "ws", &["--bin", "api"]));
}

#[test]
fn build_script_crate_on_scratch_is_static() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi")
        .file("app/build.rs", "fn main() {}\n")
        .file("app/Cargo.lock", &lockfile(&["app"], &[]));
    insta::assert_snapshot!(dockerfile(&fx, "app", &["--runtime", "scratch"]));
}

#[test]
fn path_dependency_outside_the_root_widens_the_context_vendor() {
    let fx = Fixture::new();
    fx.bin_package("repo/app", "app", "lib = { path = \"../libs/lib\" }", "hi")
        .file("repo/libs/lib/Cargo.toml", &manifest("lib", ""))
        .file("repo/libs/lib/src/lib.rs", "")
        .file("repo/app/Cargo.lock", &lockfile(&["app", "lib"], &[]));
    insta::assert_snapshot!(dockerfile(&fx, "repo/app", &["--strategy", "vendor"]));
}

#[test]
fn nightly_toolchain_file_on_alpine_installs_components_and_targets() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi")
        .file(
            "app/rust-toolchain.toml",
            "[toolchain]\nchannel = \"nightly\"\ncomponents = [\"rust-src\"]\ntargets = [\"wasm32-unknown-unknown\"]\n",
        )
        .file("app/Cargo.lock", &lockfile(&["app"], &[]));
    insta::assert_snapshot!(dockerfile(&fx, "app", &["--runtime", "alpine"]));
}

#[test]
fn openssl_and_libpq_install_packages_and_leave_distroless() {
    let fx = Fixture::new();
    fx.bin_package(
        "app",
        "app",
        "openssl-sys = \"0.9\"\npq-sys = \"0.6\"",
        "hi",
    )
    .file(
        "app/Cargo.lock",
        &lockfile(
            &["app"],
            &[
                ("openssl-sys", &["cc", "libc", "pkg-config"]),
                ("pq-sys", &["pkg-config"]),
                // bundled: `cc` means it compiles SQLite itself, so no package is needed.
                ("libsqlite3-sys", &["cc", "pkg-config"]),
            ],
        ),
    );
    let out = gantry(&fx.path("app"), &["dockerfile", "-o", "-"]);
    assert!(stderr(&out).contains("warning: runtime `debian` instead of `distroless`"));
    insta::assert_snapshot!(stdout(&ok(out, "dockerfile")));
}

#[test]
fn registry_mirror_is_configured_without_baking_a_token_mounts() {
    let fx = Fixture::new();
    single_crate(&fx);
    insta::assert_snapshot!(dockerfile(
        &fx,
        "app",
        &[
            "--strategy",
            "mounts",
            "--registry-mirror",
            "https://mirror.example/index"
        ]
    ));
}

#[test]
fn pinned_toolchain_and_git_mirror_from_metadata() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\nrust-version = \"1.80\"\n\n\
         [package.metadata.gantry]\nruntime = \"debian\"\nregistry-mirror = \"git+https://git.example/index.git\"\n\
         runtime-packages = [\"tzdata\"]\nlabels = { \"org.example.team\" = \"infra\" }\n",
    )
    .file("app/src/main.rs", "fn main() {}\n")
    .file("app/rust-toolchain.toml", "[toolchain]\nchannel = \"1.95.0\"\n")
    .file("app/Cargo.lock", &lockfile(&["app"], &[]));
    insta::assert_snapshot!(dockerfile(&fx, "app", &[]));
}

/// The shape of the canonical chef-based service: sqlx with offline query data, a cargo config
/// that links with clang + lld, and a `configuration/` directory it reads at run time.
fn sqlx_service(fx: &Fixture, metadata: &str) {
    fx.file(
        "svc/Cargo.toml",
        &format!(
            "[package]\nname = \"svc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nsqlx = \"0.8\"\n{metadata}"
        ),
    )
    .file("svc/src/main.rs", "fn main() {}\n")
    .file(
        "svc/.cargo/config.toml",
        "[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\n\
         rustflags = [\"-C\", \"link-arg=-fuse-ld=lld\"]\n",
    )
    .file("svc/.sqlx/query-0123.json", "{}\n")
    .file("svc/configuration/base.yaml", "port: 8000\n")
    .file(
        "svc/Cargo.lock",
        &lockfile(
            &["svc"],
            &[("sqlx", &["sqlx-macros"]), ("sqlx-macros", &[])],
        ),
    );
}

#[test]
fn sqlx_offline_clang_lld_and_configuration_files() {
    let fx = Fixture::new();
    sqlx_service(
        &fx,
        "\n[package.metadata.gantry]\nextra-files = [\"configuration:/app/configuration\"]\n\
         workdir = \"/app\"\n",
    );
    let out = gantry(&fx.path("svc"), &["dockerfile", "-o", "-"]);
    let text = stdout(&ok(out, "dockerfile"));
    insta::assert_snapshot!(text);
}

#[test]
fn runtime_directories_not_shipped_get_a_hint() {
    let fx = Fixture::new();
    sqlx_service(&fx, "");
    let out = ok(
        gantry(&fx.path("svc"), &["dockerfile", "-o", "-"]),
        "dockerfile",
    );
    let err = stderr(&out);
    assert!(
        err.contains("package `svc` has `configuration/` beside its sources"),
        "{err}"
    );
    assert!(
        err.contains("extra-files = [\"configuration:/app/configuration\"]"),
        "{err}"
    );
    // Shipping it silences the note.
    let fx = Fixture::new();
    sqlx_service(
        &fx,
        "\n[package.metadata.gantry]\nextra-files = [\"configuration:/app/configuration\"]\n",
    );
    let out = ok(
        gantry(&fx.path("svc"), &["dockerfile", "-o", "-"]),
        "dockerfile",
    );
    assert!(
        !stderr(&out).contains("beside its sources"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_extra_file_is_refused_naming_it() {
    let fx = Fixture::new();
    sqlx_service(
        &fx,
        "\n[package.metadata.gantry]\nextra-files = [\"settings\"]\n",
    );
    let out = gantry(&fx.path("svc"), &["dockerfile", "-o", "-"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("extra file `settings` does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn healthcheck_on_scratch_with_mounts_builds_the_probe_for_the_platform() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        &format!(
            "{}\n[package.metadata.gantry]\nexpose = [8080]\nhealthcheck = {{ http = \"http://127.0.0.1:8080/healthz\", interval = \"30s\", timeout = \"3s\", start-period = \"5s\", retries = 3 }}\n",
            manifest("app", "")
        ),
    )
    .file("app/src/main.rs", "fn main() {}\n")
    .file("app/Cargo.lock", &lockfile(&["app"], &[]));
    insta::assert_snapshot!(dockerfile(
        &fx,
        "app",
        &["--strategy", "mounts", "--runtime", "scratch"]
    ));
}

/// `--platform`: build stages on `$BUILDPLATFORM` cross-compile (Rust target, cross gcc, the
/// `:ARCH` dev packages, linker and pkg-config in cargo's config); the runtime stage is the
/// target platform's and only receives the binary.
#[test]
fn platforms_cross_compile_on_the_build_platform_with_openssl() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "openssl-sys = \"0.9\"", "hi")
        .file(
            "app/Cargo.lock",
            &lockfile(&["app"], &[("openssl-sys", &["cc", "libc", "pkg-config"])]),
        );
    let text = dockerfile(&fx, "app", &["--platform", "linux/amd64,linux/arm64"]);
    let runtime = text
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .filter(|l| {
            !l.starts_with("FROM --platform=$BUILDPLATFORM")
                && !l.starts_with("FROM base")
                && !l.starts_with("FROM gantry-")
        })
        .collect::<Vec<_>>();
    assert_eq!(
        runtime.len(),
        1,
        "only the runtime runs on the target: {runtime:?}"
    );
    assert!(
        runtime[0].starts_with("FROM --platform=$TARGETPLATFORM"),
        "{runtime:?}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn one_platform_cross_compiles_too_and_alpine_is_refused() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi")
        .file("app/Cargo.lock", &lockfile(&["app"], &[]));
    let text = dockerfile(
        &fx,
        "app",
        &["--platform", "linux/arm64", "--runtime", "static"],
    );
    assert!(text.contains("FROM --platform=$BUILDPLATFORM"), "{text}");
    assert!(text.contains("target-feature=+crt-static"), "{text}");
    assert!(
        !text.contains("--target aarch64"),
        "TARGETARCH decides: {text}"
    );
    let out = gantry(
        &fx.path("app"),
        &[
            "dockerfile",
            "-o",
            "-",
            "--platform",
            "linux/arm64",
            "--runtime",
            "alpine",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("builds on Debian"),
        "{}",
        stderr(&out)
    );
}
