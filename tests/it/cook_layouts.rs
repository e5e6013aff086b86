//! Every layout: cook into an empty directory, copy the real sources over with old mtimes, run the
//! plain `cargo build` with the same flags. No dependency may compile again, and every binary must
//! be built from the real sources.

use crate::support::*;

#[test]
fn single_package_release_build_uses_cooked_deps_and_real_sources() {
    let fx = Fixture::new();
    fx.file("app/Cargo.toml", &manifest("app", "itoa = \"1\""))
        .file(
            "app/src/main.rs",
            "fn main() { let mut b = itoa::Buffer::new(); println!(\"real {}\", b.format(42)); }\n",
        )
        .lock("app");
    let out = cook_then_build(&fx, "app", &[], &["--release"]);
    out.assert_no_dependency_compiled();
    out.assert_locals_rebuilt();
    assert_eq!(out.run("app"), "real 42\n");
}

/// lib + bins with a custom lib path, auto-discovered and declared bins, required-features,
/// renamed and target-specific deps, a build script with build-dependencies that generates code
/// into OUT_DIR, declared and auto-discovered examples/tests/benches (`benches/<name>/main.rs`),
/// `missing_docs = "deny"` and `RUSTFLAGS=-Dwarnings`.
fn rich_package(fx: &Fixture) {
    fx.file(
        "tool/Cargo.toml",
        r#"[package]
name = "tool"
version = "0.2.0"
edition = "2021"
description = "a tool"

[lib]
path = "src/core/lib.rs"

[[bin]]
name = "tool-cli"
path = "src/cli.rs"

[[bin]]
name = "extra"
required-features = ["extra"]

[[example]]
name = "demo"

[features]
extra = []

[dependencies]
itoa = "1"
fmtnum = { package = "ryu", version = "1" }

[target.'cfg(unix)'.dependencies]
either = "1"

[build-dependencies]
itoa = "1"

[dev-dependencies]
either = "1"

[lints.rust]
missing_docs = "deny"
"#,
    )
    .file(
        "tool/build.rs",
        r#"//! Generates code into OUT_DIR with a build-dependency.
fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    let mut b = itoa::Buffer::new();
    let code = format!("/// generated\npub const GENERATED: &str = \"generated-{}\";\n", b.format(7));
    std::fs::write(std::path::Path::new(&out).join("gen.rs"), code).unwrap();
}
"#,
    )
    .file(
        "tool/src/core/lib.rs",
        r#"//! The tool's library.
include!(concat!(env!("OUT_DIR"), "/gen.rs"));

/// The value the binaries print.
pub fn value() -> String {
    let e: either::Either<u8, u8> = either::Either::Left(1);
    format!("{} {} {}", GENERATED, fmtnum::Buffer::new().format(1.5), e.left().unwrap())
}
"#,
    )
    .file("tool/src/cli.rs", "//! cli\nfn main() { println!(\"cli {}\", tool::value()); }\n")
    .file("tool/src/bin/extra.rs", "//! extra\nfn main() { println!(\"extra\"); }\n")
    .file("tool/src/bin/auto.rs", "//! auto\nfn main() { println!(\"auto {}\", tool::value()); }\n")
    .file("tool/examples/demo.rs", "//! demo\nfn main() { println!(\"demo\"); }\n")
    .file("tool/examples/other.rs", "//! other\nfn main() {}\n")
    .file("tool/tests/it.rs", "//! it\n#[test]\nfn t() { assert_eq!(either::Either::<u8, u8>::Left(1).left(), Some(1)); }\n")
    .file("tool/benches/speed/main.rs", "//! bench\nfn main() {}\n")
    .lock("tool");
}

#[test]
fn lib_bins_build_script_and_all_targets_with_deny_warnings() {
    let fx = Fixture::new();
    rich_package(&fx);
    let env = [("RUSTFLAGS", "-Dwarnings")];
    let out = cook_then_build_with(&fx, "tool", &[], &["--all-targets"], &env, gantry_cmd);
    out.assert_no_dependency_compiled();
    out.assert_locals_rebuilt();
    assert_eq!(out.run("tool-cli"), "cli generated-7 1.5 1\n");
    assert_eq!(out.run("auto"), "auto generated-7 1.5 1\n");
    assert_eq!(out.run("demo"), "demo\n");
}

#[test]
fn required_features_bin_is_built_from_real_source() {
    let fx = Fixture::new();
    rich_package(&fx);
    let out = cook_then_build(&fx, "tool", &[], &["--features", "extra", "--bin", "extra"]);
    out.assert_no_dependency_compiled();
    assert_eq!(out.run("extra"), "extra\n");
}

/// A virtual workspace with glob members and `exclude`, `default-members`, workspace
/// inheritance, edition 2024 / resolver 3, a proc-macro, a cdylib, a path dependency outside the
/// root, `[patch.crates-io]` to a local path, and a local crate named like a crates.io crate in
/// the graph.
pub fn workspace(fx: &Fixture) {
    fx.file(
        "ws/Cargo.toml",
        r#"[workspace]
resolver = "3"
members = ["crates/*", "apps/server"]
exclude = ["crates/excluded"]
default-members = ["apps/server"]

[workspace.package]
version = "1.2.3"
edition = "2024"
license = "MIT"
authors = ["someone"]

[workspace.dependencies]
itoa = "1"
util = { path = "crates/util", version = "1.2.3" }

[patch.crates-io]
cfg-if = { path = "../patched-cfg-if" }
"#,
    )
    .file(
        "ws/crates/util/Cargo.toml",
        "[package]\nname = \"util\"\nversion.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\nitoa.workspace = true\n",
    )
    .file("ws/crates/util/src/lib.rs", "pub fn value() -> String { itoa::Buffer::new().format(7).to_string() + \"-util\" }\n")
    .file(
        "ws/crates/macros/Cargo.toml",
        "[package]\nname = \"macros\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\nproc-macro = true\n",
    )
    .file(
        "ws/crates/macros/src/lib.rs",
        "use proc_macro::TokenStream;\n#[proc_macro]\npub fn greeting(_: TokenStream) -> TokenStream { \"\\\"from-macro\\\"\".parse().unwrap() }\n",
    )
    .file(
        "ws/crates/ffi/Cargo.toml",
        "[package]\nname = \"ffi\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n[dependencies]\nitoa = \"1\"\n",
    )
    .file("ws/crates/ffi/src/lib.rs", "#[unsafe(no_mangle)]\npub extern \"C\" fn answer() -> u32 { 42 }\n")
    .file(
        "ws/crates/ryu/Cargo.toml",
        "[package]\nname = \"ryu\"\nversion = \"0.5.0\"\nedition = \"2024\"\n",
    )
    .file("ws/crates/ryu/src/lib.rs", "pub fn marker() -> &'static str { \"local-ryu\" }\n")
    .file("ws/crates/excluded/Cargo.toml", "this is not even toml [[[")
    .file(
        "ws/apps/server/Cargo.toml",
        r#"[package]
name = "server"
version.workspace = true
edition.workspace = true

[dependencies]
util.workspace = true
macros = { path = "../../crates/macros" }
shared-lib = { path = "../../../shared-lib" }
cfg-if = "1"
ryu = { path = "../../crates/ryu" }
realryu = { package = "ryu", version = "1" }
"#,
    )
    .file(
        "ws/apps/server/src/main.rs",
        r#"fn main() {
    println!(
        "server {} {} {} {} {} {}",
        util::value(),
        macros::greeting!(),
        shared_lib::name(),
        cfg_if::patched(),
        ryu::marker(),
        realryu::Buffer::new().format(2.5)
    );
}
"#,
    )
    .file("shared-lib/Cargo.toml", &manifest("shared-lib", "itoa = \"1\""))
    .file("shared-lib/src/lib.rs", "pub fn name() -> String { format!(\"shared{}\", itoa::Buffer::new().format(1)) }\n")
    .file(
        "patched-cfg-if/Cargo.toml",
        "[package]\nname = \"cfg-if\"\nversion = \"1.0.99\"\nedition = \"2021\"\n",
    )
    .file("patched-cfg-if/src/lib.rs", "pub fn patched() -> &'static str { \"patched\" }\n")
    .lock("ws");
}

#[test]
fn virtual_workspace_with_outside_path_dep_patch_proc_macro_and_shared_name() {
    let fx = Fixture::new();
    workspace(&fx);
    let out = cook_then_build(&fx, "ws", &[], &["--release", "--workspace", "--locked"]);
    out.assert_no_dependency_compiled();
    out.assert_locals_rebuilt();
    assert_eq!(
        out.run("server"),
        "server 7-util from-macro shared1 patched local-ryu 2.5\n"
    );
    let cdylib = out.project.join("target/release/libffi.so");
    assert!(cdylib.exists(), "the cdylib member was not built");
}

#[test]
fn default_members_build_only_what_they_need() {
    let fx = Fixture::new();
    workspace(&fx);
    let out = cook_then_build(&fx, "ws", &[], &[]);
    out.assert_no_dependency_compiled();
    assert!(
        !out.artifacts.iter().any(|(_, n, _)| n == "ffi"),
        "{:?}",
        out.artifacts
    );
    assert!(out.run("server").starts_with("server 7-util"));
}

#[test]
fn prepare_for_one_bin_keeps_only_its_closure_and_stays_locked() {
    let fx = Fixture::new();
    fx.file(
        "w/Cargo.toml",
        "[workspace]\nmembers = [\"a\", \"b\", \"common\"]\nresolver = \"2\"\n",
    )
    .bin_package(
        "w/a",
        "a",
        "common = { path = \"../common\" }\nitoa = \"1\"",
        "a",
    )
    .bin_package("w/b", "b", "either = \"1\"", "b")
    .file("w/common/Cargo.toml", &manifest("common", "ryu = \"1\""))
    .file("w/common/src/lib.rs", "pub fn f() {}\n")
    .lock("w");
    let recipe = prepare(&fx, "w", &["--bin", "a"]);
    assert!(recipe.contains("common/Cargo.toml"));
    assert!(!recipe.contains("b/Cargo.toml"), "{recipe}");
    assert!(!recipe.contains("either"), "{recipe}");
    let out = cook_then_build(&fx, "w", &["--bin", "a"], &["--bin", "a", "--locked"]);
    out.assert_no_dependency_compiled();
    assert_eq!(out.run("a"), "a\n");
}

#[test]
fn git_dependency_from_a_local_repository() {
    let fx = Fixture::new();
    fx.file("gitdep/Cargo.toml", &manifest("gitdep", "")).file(
        "gitdep/src/lib.rs",
        "pub fn from_git() -> &'static str { \"from-git\" }\n",
    );
    fx.git_commit("gitdep");
    let url = format!("file://{}", fx.path("gitdep").display());
    fx.file(
        "app/Cargo.toml",
        &manifest(
            "app",
            &format!("gitdep = {{ git = \"{url}\" }}\nitoa = \"1\""),
        ),
    )
    .file(
        "app/src/main.rs",
        "fn main() { println!(\"{}\", gitdep::from_git()); }\n",
    )
    .lock("app");
    let out = cook_then_build(&fx, "app", &[], &["--locked"]);
    out.assert_no_dependency_compiled();
    assert_eq!(out.run("app"), "from-git\n");
}

#[test]
fn toolchain_file_is_used_by_the_first_cook() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "itoa = \"1\"", "pinned")
        .file(
            "app/rust-toolchain.toml",
            "[toolchain]\nchannel = \"nightly\"\n",
        )
        .lock("app");
    // Through `cargo gantry`: rustup hands gantry RUSTUP_TOOLCHAIN=stable (chosen before the
    // toolchain file existed in the empty cook directory), which must not win over the file.
    let out = cook_then_build_with(&fx, "app", &[], &[], &[], cargo_gantry_cmd);
    // The real build runs with the pinned nightly; had the cook used the default stable
    // toolchain, every dependency would compile again.
    out.assert_no_dependency_compiled();
    assert_eq!(out.run("app"), "pinned\n");
}

#[test]
fn cargo_config_target_rustflags_and_target_dir_apply_to_the_cook() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "itoa = \"1\"", "configured")
        .file(
            "app/.cargo/config.toml",
            &format!("[build]\ntarget = \"{}\"\nrustflags = [\"--cfg\", \"gantry_test\"]\ntarget-dir = \"out\"\n", host_target()),
        )
        .lock("app");
    let out = cook_then_build(&fx, "app", &[], &[]);
    out.assert_no_dependency_compiled();
    assert!(
        out.project
            .join(format!("out/{}/debug/app", host_target()))
            .exists()
    );
    assert_eq!(out.run("app"), "configured\n");
}

#[test]
fn vendored_sources_cook_offline_without_a_registry_cache() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "itoa = \"1\"\nryu = \"1\"", "vendored")
        .lock("app");
    let vendor = ok(
        cargo(&fx.path("app"))
            .args(["vendor", "--locked", "vendor"])
            .output()
            .unwrap(),
        "vendor",
    );
    fx.file("app/.cargo/config.toml", &stdout(&vendor));
    let recipe = prepare(&fx, "app", &[]);
    assert!(
        !recipe.contains("vendor/itoa"),
        "vendored sources do not belong in the recipe"
    );
    // An empty CARGO_HOME: nothing can come from a registry cache, only from vendor/.
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let cook_dir = root.path().join("app");
    copy_over(&fx.path("app/vendor"), &{
        let d = cook_dir.join("vendor");
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    std::fs::write(cook_dir.join("recipe.json"), recipe).unwrap();
    ok(
        gantry_cmd(&cook_dir)
            .args(["cook", "--frozen"])
            .env("CARGO_HOME", home)
            .output()
            .unwrap(),
        "cook",
    );
    std::fs::remove_file(cook_dir.join("recipe.json")).unwrap();
    age_tree(&fx.path("app"));
    copy_over(&fx.path("app"), &cook_dir);
    let build = ok(
        cargo(&cook_dir)
            .args(["build", "--frozen", "--message-format=json"])
            .env("CARGO_HOME", home)
            .output()
            .unwrap(),
        "real build",
    );
    let text = stdout(&build);
    assert!(text.contains("\"fresh\":true"), "{text}");
    for line in text.lines().filter(|l| l.contains("compiler-artifact")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let local = v["package_id"].as_str().unwrap().starts_with("path+");
        assert_eq!(v["fresh"].as_bool(), Some(!local), "{line}");
    }
}

#[test]
fn project_without_lockfile_cooks_with_a_warning_and_locked_is_refused() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "itoa = \"1\"", "unlocked");
    let recipe = prepare(&fx, "app", &[]);
    assert!(!recipe.contains("Cargo.lock"));
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("recipe.json"), &recipe).unwrap();
    let refused = gantry(dir.path(), &["cook", "--locked"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(
        err.contains("has no Cargo.lock") && err.contains("hint:"),
        "{err}"
    );
    assert!(
        !dir.path().join("Cargo.toml").exists(),
        "a refused cook wrote files"
    );
    let cooked = ok(gantry(dir.path(), &["cook"]), "cook");
    assert!(
        stderr(&cooked).contains("no Cargo.lock"),
        "{}",
        stderr(&cooked)
    );
    assert!(dir.path().join("Cargo.lock").exists());
}

/// The classic trap: the real sources are older than the cooked placeholders and the package
/// version is already the masked one, so nothing but the discarded fingerprints tells cargo that
/// the placeholder binary is stale.
#[test]
fn old_real_sources_are_never_taken_for_the_cooked_placeholders() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        &manifest("app", "itoa = \"1\"").replace("0.1.0", "0.0.0"),
    )
    .file(
        "app/src/main.rs",
        "fn main() { println!(\"the real one\"); }\n",
    )
    .file(
        "app/build.rs",
        "fn main() { println!(\"cargo:rustc-env=FROM_BUILD=real-build\"); }\n",
    )
    .file(
        "app/src/lib.rs",
        "pub fn from_build() -> &'static str { env!(\"FROM_BUILD\") }\n",
    )
    .lock("app");
    let out = cook_then_build(&fx, "app", &[], &[]);
    out.assert_locals_rebuilt();
    out.assert_no_dependency_compiled();
    assert_eq!(out.run("app"), "the real one\n");
}

/// A root package that is also the workspace root, a staticlib member, a declared
/// `benches/<name>/main.rs` bench, and `[patch.crates-io]` pointing at a workspace member.
#[test]
fn non_virtual_workspace_with_patch_to_a_member_staticlib_and_declared_bench() {
    let fx = Fixture::new();
    fx.file(
        "root/Cargo.toml",
        r#"[package]
name = "root-app"
version = "0.4.0"
edition = "2021"

[[bench]]
name = "speed"
harness = false

[dependencies]
either = "1"
clib = { path = "clib" }

[workspace]
members = ["clib", "either-fork"]

[patch.crates-io]
either = { path = "either-fork" }
"#,
    )
    .file("root/src/main.rs", "fn main() { println!(\"root {} {}\", either::forked(), clib::c()); }\n")
    .file("root/benches/speed/main.rs", "fn main() {}\n")
    .file(
        "root/clib/Cargo.toml",
        "[package]\nname = \"clib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"staticlib\", \"rlib\"]\n\n[dependencies]\nitoa = \"1\"\n",
    )
    .file("root/clib/src/lib.rs", "pub fn c() -> String { itoa::Buffer::new().format(3).to_owned() }\n")
    .file("root/either-fork/Cargo.toml", "[package]\nname = \"either\"\nversion = \"1.99.0\"\nedition = \"2021\"\n")
    .file("root/either-fork/src/lib.rs", "pub fn forked() -> &'static str { \"forked\" }\n")
    .lock("root");
    let out = cook_then_build(
        &fx,
        "root",
        &[],
        &["--workspace", "--all-targets", "--locked"],
    );
    out.assert_no_dependency_compiled();
    out.assert_locals_rebuilt();
    assert_eq!(out.run("root-app"), "root forked 3\n");
    assert!(
        out.project.join("target/debug/libclib.a").exists(),
        "staticlib not built"
    );
}

/// With `test = false` on the lib and no bin, only the (auto-discovered) integration test needs
/// the dev-dependencies: the skeleton must keep a test target for `--tests` to cook them.
#[test]
fn dev_dependencies_are_cooked_when_only_integration_tests_use_them() {
    let fx = Fixture::new();
    fx.file(
        "lib/Cargo.toml",
        &(manifest("lib", "itoa = \"1\"")
            + "\n[lib]\ntest = false\n\n[dev-dependencies]\neither = \"1\"\n"),
    )
    .file("lib/src/lib.rs", "pub fn f() -> u8 { 1 }\n")
    .file(
        "lib/tests/it.rs",
        "#[test]\nfn t() { assert_eq!(either::Either::<u8, u8>::Left(lib::f()).left(), Some(1)); }\n",
    )
    .lock("lib");
    let out = cook_then_build(&fx, "lib", &[], &["--tests"]);
    out.assert_no_dependency_compiled();
    assert!(
        out.artifacts.iter().any(|(id, _, _)| id.contains("either")),
        "{:?}",
        out.artifacts
    );
}

/// The host's target triple, as `--target` spells it.
fn host_triple() -> String {
    let out = ok(
        std::process::Command::new("rustc")
            .arg("-vV")
            .output()
            .unwrap(),
        "rustc -vV",
    );
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// cargo's `build.build-dir` (stable since 1.91) moves the fingerprints out of the target
/// directory; with templates only cargo knows where. A placeholder fingerprint left there makes
/// the real build ship the placeholder binary, which prints nothing.
#[test]
fn build_dir_from_cargo_config_with_templates_gets_its_placeholders_discarded() {
    let fx = Fixture::new();
    // Version 0.0.0 is the masked one: nothing but the fingerprints tells cargo that the
    // placeholder is stale.
    fx.bin_package("app", "app", "itoa = \"1\"", "real build-dir")
        .file(
            "app/Cargo.toml",
            &manifest("app", "itoa = \"1\"").replace("0.1.0", "0.0.0"),
        )
        .file(
            "app/.cargo/config.toml",
            "[build]\nbuild-dir = \"{workspace-root}/bd/{workspace-path-hash}\"\n",
        )
        .lock("app");
    let out = cook_then_build(&fx, "app", &[], &["--release"]);
    assert_eq!(out.run("app"), "real build-dir\n");
    assert!(
        out.project.join("bd").is_dir(),
        "cargo did not use the build-dir"
    );
    out.assert_no_dependency_compiled();
    out.assert_locals_rebuilt();
}

/// The build-dir from the environment, with `--target` (triple dirs), `--target-dir` and a
/// custom profile (its own profile dir).
#[test]
fn build_dir_from_env_with_target_triple_target_dir_and_custom_profile() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "itoa = \"1\"", "real env build-dir")
        .file(
            "app/Cargo.toml",
            &(manifest("app", "itoa = \"1\"").replace("0.1.0", "0.0.0")
                + "\n[profile.fast]\ninherits = \"release\"\n"),
        )
        .lock("app");
    let build_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let env = [("CARGO_BUILD_BUILD_DIR", build_dir.path().to_str().unwrap())];
    let host = host_triple();
    let flags = [
        "--profile",
        "fast",
        "--target",
        &host,
        "--target-dir",
        "out",
    ];
    let out = cook_then_build_with(&fx, "app", &[], &flags, &env, gantry_cmd);
    assert_eq!(out.run("app"), "real env build-dir\n");
    assert!(
        build_dir.path().join(&host).join("fast").is_dir(),
        "cargo did not use the build-dir"
    );
    out.assert_no_dependency_compiled();
    out.assert_locals_rebuilt();
    assert!(
        out.project
            .join("out")
            .join(&host)
            .join("fast/app")
            .exists()
    );
}

/// `prepare --bin a` keeps a's closure only, but a `cargo build --bin a` in the whole virtual
/// workspace selects every member, and b enables more features of the shared dependency: the
/// build cook prints must select the same packages as the cook did.
#[test]
fn bin_of_a_virtual_workspace_cooks_the_features_of_the_build_it_prints() {
    let fx = Fixture::new();
    fx.file(
        "w/Cargo.toml",
        "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n",
    )
    .file(
        "w/a/Cargo.toml",
        &manifest(
            "a",
            "memchr = { version = \"2\", default-features = false }",
        ),
    )
    .file(
        "w/a/src/main.rs",
        "fn main() { println!(\"a {:?}\", memchr::memchr(b'x', b\"axb\")); }\n",
    )
    .bin_package("w/b", "b", "memchr = \"2\"", "b")
    .lock("w");
    let out = cook_then_build_as_told(&fx, "w", &["--bin", "a"], &["--release", "--bin", "a"]);
    out.assert_no_dependency_compiled();
    assert_eq!(out.run("a"), "a Some(1)\n");
    assert_eq!(
        told_build_args(&out.cook_stderr),
        Some(
            ["--release", "-p", "a", "--bin", "a"]
                .map(String::from)
                .to_vec()
        ),
        "{}",
        out.cook_stderr
    );
}

/// Nightly cargo's new build-dir layout keeps each unit's fingerprint in
/// `<profile>/build/<package>/<hash>/fingerprint`.
#[test]
fn new_build_dir_layout_of_nightly_cargo_gets_its_placeholders_discarded() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "itoa = \"1\"", "real new layout")
        .file(
            "app/Cargo.toml",
            &manifest("app", "itoa = \"1\"").replace("0.1.0", "0.0.0"),
        )
        .file(
            "app/rust-toolchain.toml",
            "[toolchain]\nchannel = \"nightly\"\n",
        )
        .lock("app");
    let env = [("CARGO_UNSTABLE_BUILD_DIR_NEW_LAYOUT", "true")];
    let out = cook_then_build_with(&fx, "app", &[], &[], &env, gantry_cmd);
    assert_eq!(out.run("app"), "real new layout\n");
    assert!(
        out.project.join("target/debug/build/app").is_dir(),
        "cargo did not use the new layout"
    );
    out.assert_no_dependency_compiled();
    out.assert_locals_rebuilt();
}

/// sqlx-offline in the corpus: `[patch.crates-io]` puts a local `itoa` in place of the registry
/// one for the whole graph, so registry crates (serde_json) compile against it during the cook.
/// A placeholder would break them; the patch must be cooked from its real sources.
#[test]
fn patch_used_by_registry_crates_is_cooked_from_its_real_sources() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nserde_json = \"1\"\n\n[patch.crates-io]\nitoa = { path = \"patches/itoa\" }\n",
    )
    .file(
        "app/src/main.rs",
        "fn main() { println!(\"{}\", serde_json::to_string(&[7_u8]).unwrap()); }\n",
    )
    .file(
        "app/patches/itoa/Cargo.toml",
        "[package]\nname = \"itoa\"\nversion = \"1.0.99\"\nedition = \"2021\"\n",
    )
    .file(
        "app/patches/itoa/src/lib.rs",
        r#"//! The `itoa::Buffer` API serde_json uses, through `core::fmt`.
pub struct Buffer(String);
impl Default for Buffer {
    fn default() -> Self {
        Buffer::new()
    }
}
impl Buffer {
    pub fn new() -> Buffer {
        Buffer(String::new())
    }
    pub fn format<I: std::fmt::Display>(&mut self, i: I) -> &str {
        self.0 = format!("{i}");
        &self.0
    }
}
"#,
    )
    .lock("app");
    let out = cook_then_build(&fx, "app", &[], &[]);
    out.assert_no_dependency_compiled();
    assert_eq!(out.run("app"), "[7]\n");
}
