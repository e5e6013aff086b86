//! cook and prepare refuse bad input with one clear error, a non-zero exit and no panic, and
//! never touch files they did not create.

use crate::support::*;

fn recipe_in_empty_dir(fx: &Fixture) -> tempfile::TempDir {
    let recipe = prepare(fx, "app", &[]);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("recipe.json"), recipe).unwrap();
    dir
}

#[test]
fn cook_in_a_real_checkout_refuses_and_changes_nothing() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "itoa = \"1\"", "real")
        .lock("app");
    ok(gantry(&fx.path("app"), &["prepare"]), "prepare");
    let before = fx.read("app/Cargo.toml");
    let out = gantry(&fx.path("app"), &["cook"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cook would overwrite files") && err.contains("`Cargo.toml`"),
        "{err}"
    );
    assert!(
        err.contains("`src/main.rs`") && err.contains("hint:") && err.contains("--force"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    assert_eq!(fx.read("app/Cargo.toml"), before);
    assert_eq!(
        fx.read("app/src/main.rs"),
        "fn main() { println!(\"real\"); }\n"
    );
}

#[test]
fn failed_cargo_run_reports_command_and_status_without_panic() {
    let fx = Fixture::new();
    // prepare needs no registry, so an unresolvable dependency only fails at cook time.
    fx.bin_package("app", "app", "itoa = \"=0.0.999\"", "never");
    let dir = recipe_in_empty_dir(&fx);
    let out = gantry(dir.path(), &["cook", "--release"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "error: `cargo build --release --message-format=json-render-diagnostics` failed \
             (exit status 101)"
        ),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !dir.path().join("src/main.rs").exists(),
        "placeholder left behind after a failure"
    );
}

#[test]
fn recipe_from_another_format_is_refused_with_hint() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "x");
    let dir = recipe_in_empty_dir(&fx);
    let path = dir.path().join("recipe.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"gantry_recipe\": 2", "\"gantry_recipe\": 7");
    std::fs::write(&path, text).unwrap();
    let out = gantry(dir.path(), &["cook"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("recipe format 7") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn missing_recipe_names_the_path_and_how_to_make_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = gantry(dir.path(), &["cook", "--recipe-path", "nope.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nope.json") && err.contains("cargo gantry prepare"),
        "{err}"
    );
}

#[test]
fn cook_of_an_unknown_bin_is_refused_before_writing() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "x");
    let dir = recipe_in_empty_dir(&fx);
    let out = gantry(dir.path(), &["cook", "--bin", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no binary `nope`") && err.contains("`app`"),
        "{err}"
    );
    assert!(!dir.path().join("Cargo.toml").exists());
}

#[test]
fn prepare_outside_a_project_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = gantry(dir.path(), &["prepare"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cargo metadata") && err.contains("hint:"),
        "{err}"
    );
    assert!(!dir.path().join("recipe.json").exists());
}

#[test]
fn prepare_of_an_unknown_bin_lists_the_real_ones() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "x");
    let out = gantry(&fx.path("app"), &["prepare", "--bin", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the binaries are: `app`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_gantry_metadata_names_the_manifest_and_key() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "x");
    let text = fx.read("app/Cargo.toml") + "\n[package.metadata.gantry]\ncolour = \"blue\"\n";
    fx.file("app/Cargo.toml", &text);
    let out = gantry(&fx.path("app"), &["prepare"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("invalid `gantry` metadata") && err.contains("colour"),
        "{err}"
    );
}

#[test]
fn run_as_cargo_subcommand_and_directly() {
    let dir = tempfile::tempdir().unwrap();
    let direct = gantry(dir.path(), &["--version"]);
    let sub = gantry(dir.path(), &["gantry", "--version"]);
    assert!(direct.status.success() && sub.status.success());
    assert_eq!(stdout(&direct), stdout(&sub));
    assert!(stdout(&direct).starts_with("cargo-gantry "));
}

/// A registry-like dependency (a vendored directory source, so nothing is downloaded) whose build
/// needs an outside program, the way `prost-build` needs `protoc`: its build script runs
/// `$PROTOC` (or `protoc`) and fails without it.
pub(crate) fn needs_protoc(fx: &Fixture) {
    fx.bin_package("app", "app", "prost-build = \"0.13\"", "app")
        .file(
            "app/vendor/prost-build/Cargo.toml",
            "[package]\nname = \"prost-build\"\nversion = \"0.13.0\"\nedition = \"2021\"\n",
        )
        .file("app/vendor/prost-build/src/lib.rs", "")
        .file(
            "app/vendor/prost-build/build.rs",
            r#"fn main() {
    let protoc = std::env::var("PROTOC").unwrap_or_else(|_| "protoc".into());
    if let Err(e) = std::process::Command::new(&protoc).arg("--version").status() {
        panic!("failed to run `{protoc}`: {e}");
    }
}
"#,
        )
        .file("app/vendor/prost-build/.cargo-checksum.json", r#"{"files":{}}"#)
        .file(
            "app/.cargo/config.toml",
            "[source.crates-io]\nreplace-with = \"vendored\"\n\n[source.vendored]\ndirectory = \"vendor\"\n",
        )
        .lock("app");
}

#[test]
fn cook_failing_for_a_missing_build_tool_names_the_tool_and_the_crate() {
    let fx = Fixture::new();
    needs_protoc(&fx);
    let dir = recipe_in_empty_dir(&fx);
    copy_over(&fx.path("app/vendor"), &{
        let d = dir.path().join("vendor");
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    let out = gantry_cmd(dir.path())
        .args(["cook", "--offline"])
        .env("PROTOC", "/nonexistent/protoc")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked at src/"), "{err}");
    let hint = err.split("\nhint: ").nth(1).unwrap_or_default();
    assert!(
        hint.contains("`protoc`") && hint.contains("`prost-build`") && hint.contains("PROTOC"),
        "the hint names the missing tool, the crate that needs it and how to point at it:\n{err}"
    );
}
