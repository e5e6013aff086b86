//! `cargo gantry dockerfile` as a command: it never clobbers a file it did not write, `--check`
//! tells CI whether the files are current, and bad input gets one clear error.

use crate::support::*;

fn app(fx: &Fixture) {
    fx.bin_package("app", "app", "", "hi").file(
        "app/Cargo.lock",
        "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n",
    );
}

fn dockerfile(fx: &Fixture, args: &[&str]) -> std::process::Output {
    let mut all = vec!["dockerfile"];
    all.extend_from_slice(args);
    gantry(&fx.path("app"), &all)
}

#[test]
fn regenerating_replaces_its_own_file_and_refuses_a_hand_edit_until_forced() {
    let fx = Fixture::new();
    app(&fx);
    ok(dockerfile(&fx, &[]), "first run");
    // An unchanged generated file may be regenerated with other settings.
    ok(dockerfile(&fx, &["--strategy", "mounts"]), "regenerate");
    assert!(
        fx.read("app/Dockerfile")
            .contains("type=cache,id=gantry-registry")
    );

    let edited = fx
        .read("app/Dockerfile")
        .replace("USER 65532:65532", "USER root");
    fx.file("app/Dockerfile", &edited);
    let out = dockerfile(&fx, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refusing to overwrite") && err.contains("(edited by hand)"),
        "{err}"
    );
    assert!(err.contains("hint:") && err.contains("--force"), "{err}");
    assert_eq!(
        fx.read("app/Dockerfile"),
        edited,
        "the edited file was touched"
    );

    ok(dockerfile(&fx, &["--force"]), "forced");
    assert!(fx.read("app/Dockerfile").contains("USER 65532:65532"));
}

#[test]
fn a_dockerfile_gantry_did_not_write_is_never_overwritten_silently() {
    let fx = Fixture::new();
    app(&fx);
    fx.file("app/.dockerignore", "target\n");
    let out = dockerfile(&fx, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("(not written by gantry)"),
        "{}",
        stderr(&out)
    );
    assert!(!fx.path("app/Dockerfile").exists(), "wrote one file of two");
    assert_eq!(fx.read("app/.dockerignore"), "target\n");
}

#[test]
fn check_fails_when_missing_or_stale_and_passes_when_current() {
    let fx = Fixture::new();
    app(&fx);
    let out = dockerfile(&fx, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("out of date or missing"),
        "{}",
        stderr(&out)
    );
    assert!(!fx.path("app/Dockerfile").exists(), "--check wrote a file");

    ok(dockerfile(&fx, &[]), "write");
    ok(dockerfile(&fx, &["--check"]), "check when current");

    // A settings change makes the files on disk stale.
    let manifest = fx.read("app/Cargo.toml") + "\n[package.metadata.gantry]\nexpose = [8080]\n";
    fx.file("app/Cargo.toml", &manifest);
    let out = dockerfile(&fx, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Dockerfile"), "{}", stderr(&out));
}

#[test]
fn several_binaries_without_a_choice_is_an_error_listing_them() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n",
    )
    .bin_package("app/a", "alpha", "", "a")
    .bin_package("app/b", "beta", "", "b")
    .file("app/b/src/bin/extra.rs", "fn main() {}\n");
    let out = dockerfile(&fx, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("this workspace has 3 binaries: "), "{err}");
    for bin in [
        "`alpha` (package `alpha`)",
        "`beta` (package `beta`)",
        "`extra` (package `beta`)",
    ] {
        assert!(err.contains(bin), "{bin} missing: {err}");
    }
    assert!(err.contains("hint: pass --bin NAME"), "{err}");

    let out = dockerfile(&fx, &["-p", "beta"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("2 binaries"), "{}", stderr(&out));
    ok(
        dockerfile(&fx, &["-p", "alpha", "-o", "-"]),
        "the only bin of -p",
    );
}

#[test]
fn settings_come_from_cli_then_env_then_package_metadata() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [package.metadata.gantry]\nruntime = \"debian\"\nstrategy = \"vendor\"\n",
    )
    .file("app/src/main.rs", "fn main() {}\n");
    let stdout_of = |out| stdout(&ok(out, "dockerfile"));
    let text = stdout_of(dockerfile(&fx, &["-o", "-"]));
    assert!(
        text.contains("Strategy `vendor`, runtime `debian`"),
        "{text}"
    );

    let out = gantry_cmd(&fx.path("app"))
        .args(["dockerfile", "-o", "-"])
        .env("GANTRY_STRATEGY", "mounts")
        .output()
        .unwrap();
    assert!(stdout_of(out).contains("Strategy `mounts`, runtime `debian`"));

    let out = gantry_cmd(&fx.path("app"))
        .args(["dockerfile", "-o", "-", "--strategy", "chef"])
        .env("GANTRY_STRATEGY", "mounts")
        .output()
        .unwrap();
    assert!(stdout_of(out).contains("Strategy `chef`, runtime `debian`"));
}

#[test]
fn unknown_strategy_is_a_user_error_with_the_choices() {
    let fx = Fixture::new();
    app(&fx);
    let out = dockerfile(&fx, &["--strategy", "magic"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("invalid value 'magic'"), "{err}");
    assert!(err.contains("chef, vendor, mounts"), "{err}");
    // The same choices, by the same rule, from the environment and from metadata.
    let out = gantry_cmd(&fx.path("app"))
        .args(["dockerfile", "-o", "-"])
        .env("GANTRY_STRATEGY", "magic")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`GANTRY_STRATEGY` names an unknown strategy `magic`"),
        "{err}"
    );
    assert!(
        err.contains("hint: choose one of `chef`, `vendor`, `mounts`"),
        "{err}"
    );
    let manifest = fx.read("app/Cargo.toml");
    fx.file(
        "app/Cargo.toml",
        &format!("{manifest}\n[package.metadata.gantry]\nruntime = \"alpin\"\n"),
    );
    let err = stderr(&dockerfile(&fx, &[]));
    assert!(err.contains("unknown variant `alpin`"), "{err}");
    assert!(err.contains("`alpine`"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn default_members_choose_the_binary_as_they_do_for_build() {
    let fx = Fixture::new();
    fx.file(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"api\", \"tool\"]\ndefault-members = [\"api\"]\nresolver = \"2\"\n",
    )
    .bin_package("ws/api", "api", "", "api")
    .bin_package("ws/tool", "tool", "", "tool");
    let out = gantry(&fx.path("ws"), &["dockerfile", "-o", "-"]);
    let text = stdout(&ok(out, "dockerfile in a workspace with default-members"));
    assert!(
        text.contains("cargo build --release -p api --bin api"),
        "{text}"
    );
}

#[test]
fn labels_are_the_same_for_the_dockerfile_and_the_image() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         authors = [\"A <a@example.com>\"]\ndescription = \"two\\n  lines\"\n",
    )
    .file("app/src/main.rs", "fn main() {}\n");
    let text = stdout(&ok(
        gantry(&fx.path("app"), &["dockerfile", "-o", "-"]),
        "dockerfile",
    ));
    assert!(
        text.contains("LABEL org.opencontainers.image.authors=\"A <a@example.com>\""),
        "{text}"
    );
    assert!(
        text.contains("LABEL org.opencontainers.image.description=\"two lines\""),
        "{text}"
    );
}

#[test]
fn vendor_strategy_vendors_when_vendor_is_missing_and_keeps_an_existing_one() {
    let fx = Fixture::new();
    app(&fx);
    ok(
        gantry(&fx.path("app"), &["dockerfile", "--strategy", "vendor"]),
        "dockerfile --strategy vendor",
    );
    assert!(fx.path("app/vendor").is_dir(), "cargo vendor did not run");
    fx.file("app/vendor/mine.txt", "keep me\n");
    ok(
        gantry(
            &fx.path("app"),
            &["dockerfile", "--strategy", "vendor", "--force"],
        ),
        "again",
    );
    assert_eq!(fx.read("app/vendor/mine.txt"), "keep me\n");
}

#[test]
fn static_and_scratch_dockerfiles_compile_for_the_platform_being_built_not_this_host() {
    let fx = Fixture::new();
    app(&fx);
    for runtime in ["static", "scratch"] {
        let out = dockerfile(&fx, &["--runtime", runtime, "-o", "-"]);
        let text = stdout(&ok(out, runtime));
        let host = format!("--target {}", std::env::consts::ARCH);
        assert!(
            !text.contains(&host),
            "{runtime}: a host triple is hard-coded:\n{text}"
        );
        assert!(text.contains("ARG TARGETARCH"), "{runtime}:\n{text}");
        assert!(
            text.contains("cargo build --release -p app --bin app"),
            "{runtime}:\n{text}"
        );
    }
}

/// jaq in the corpus: `rust-version = "1.70"` and a version-4 Cargo.lock, which cargo reads from
/// 1.78 on. A builder at the MSRV cannot even parse the lockfile.
#[test]
fn builder_is_never_older_than_the_cargo_that_reads_the_lockfile() {
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\nrust-version = \"1.70\"\n",
    )
    .file("app/src/main.rs", "fn main() {}\n")
    .file(
        "app/Cargo.lock",
        "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n",
    );
    let out = ok(
        gantry(&fx.path("app"), &["dockerfile", "-o", "-"]),
        "dockerfile",
    );
    let text = stdout(&out);
    assert!(
        text.contains("FROM rust:1.78-slim-bookworm AS base"),
        "the builder reads a version-4 lockfile:\n{text}"
    );
    assert!(text.contains("Cargo.lock"), "{text}");
    assert!(
        text.contains("FROM rust:1.91-slim-bookworm AS gantry-crates-io"),
        "`cargo install cargo-gantry` needs a Rust that compiles gantry, on the same suite:\n{text}"
    );
}

/// sozu in the corpus: a crate compiles its test certificates in with `include_str!`, and the
/// `.dockerignore` hid `**/*.pem`, so the Docker build failed to compile it.
#[test]
fn files_the_sources_include_are_never_hidden_by_the_dockerignore() {
    let fx = Fixture::new();
    fx.file("app/Cargo.toml", &manifest("app", ""))
        .file(
            "app/src/main.rs",
            "const CERT: &str = include_str!(\"../assets/cert.pem\");\nfn main() { print!(\"{CERT}\"); }\n",
        )
        .file("app/assets/cert.pem", "-----BEGIN CERTIFICATE-----\n")
        .file("app/assets/private.pem", "secret\n");
    ok(gantry(&fx.path("app"), &["dockerfile"]), "dockerfile");
    let ignore = fx.read("app/.dockerignore");
    let hide = ignore
        .find("**/*.pem")
        .expect("pem files are hidden in general");
    let keep = ignore
        .find("!assets/cert.pem")
        .expect("the included file is kept");
    assert!(
        keep > hide,
        "the exception must come after the rule:\n{ignore}"
    );
    assert!(!ignore.contains("private.pem"), "{ignore}");
}
