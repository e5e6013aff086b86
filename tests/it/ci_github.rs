//! `cargo gantry ci github`: the workflow users commit, as a snapshot; valid for GitHub's schema;
//! written under the same never-clobber and `--check` rules as the Dockerfile.

use std::process::Command;

use crate::support::*;

const WORKFLOW: &str = "repo/.github/workflows/image.yml";

/// A git repository holding a workspace in `service/`, with a pinned toolchain file: the
/// workflow goes to the repository root and runs in the workspace.
fn repo(fx: &Fixture) {
    fx.file(
        "repo/service/Cargo.toml",
        "[workspace]\nmembers = [\"api\", \"tool\"]\ndefault-members = [\"api\"]\nresolver = \"2\"\n",
    )
    .bin_package("repo/service/api", "api", "", "api")
    .bin_package("repo/service/tool", "tool", "", "tool")
    .file(
        "repo/service/rust-toolchain.toml",
        "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"clippy\"]\n",
    );
    // Without a `.git` here the repository root would be the checkout the tests run in.
    std::fs::create_dir_all(fx.path("repo/.git")).unwrap();
}

fn ci(fx: &Fixture, args: &[&str]) -> std::process::Output {
    let mut all = vec!["ci", "github"];
    all.extend_from_slice(args);
    gantry(&fx.path("repo/service"), &all)
}

#[test]
fn workflow_for_a_workspace_below_the_repository_root() {
    let fx = Fixture::new();
    repo(&fx);
    let out = ok(
        ci(&fx, &["--platform", "linux/amd64,linux/arm64", "-o", "-"]),
        "ci github -o -",
    );
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn written_workflow_is_valid_for_githubs_schema() {
    let Some(validator) = tools::on_path("check-jsonschema") else {
        return;
    };
    let fx = Fixture::new();
    repo(&fx);
    ok(ci(&fx, &[]), "ci github");
    let another = fx.path("repo/.github/workflows/other.yml");
    ok(
        ci(
            &fx,
            &[
                "--registry",
                "registry.example.com:5000/team",
                "--bin",
                "tool",
                "-o",
                another.to_str().unwrap(),
            ],
        ),
        "ci github --registry",
    );
    for file in [fx.path(WORKFLOW), another] {
        let out = Command::new(&validator)
            .args(["--builtin-schema", "vendor.github-workflows"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} is not a valid workflow:\n{}{}",
            file.display(),
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn a_hand_edited_workflow_is_refused_until_forced() {
    let fx = Fixture::new();
    repo(&fx);
    ok(ci(&fx, &[]), "first run");
    // Unchanged, it is regenerated with other settings.
    ok(ci(&fx, &["--platform", "linux/arm64"]), "regenerate");
    assert!(fx.read(WORKFLOW).contains("--platform linux/arm64"));

    let edited = fx
        .read(WORKFLOW)
        .replace("runs-on: ubuntu-latest", "runs-on: self-hosted");
    fx.file(WORKFLOW, &edited);
    let out = ci(&fx, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refusing to overwrite") && err.contains("image.yml` (edited by hand)"),
        "{err}"
    );
    assert!(
        err.contains("hint:") && err.contains("--force") && err.contains("the workflow"),
        "{err}"
    );
    assert_eq!(fx.read(WORKFLOW), edited, "the edited file was touched");

    ok(ci(&fx, &["--force"]), "forced");
    assert!(fx.read(WORKFLOW).contains("runs-on: ubuntu-latest"));
}

#[test]
fn a_workflow_gantry_did_not_write_is_never_overwritten_silently() {
    let fx = Fixture::new();
    repo(&fx);
    fx.file(WORKFLOW, "name: mine\non: push\n");
    let out = ci(&fx, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("(not written by gantry)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fx.read(WORKFLOW), "name: mine\non: push\n");
}

#[test]
fn check_fails_when_missing_or_stale_and_passes_when_current() {
    let fx = Fixture::new();
    repo(&fx);
    let out = ci(&fx, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("out of date or missing"), "{err}");
    assert!(err.contains("run `cargo gantry ci github`"), "{err}");
    assert!(!fx.path(WORKFLOW).exists(), "--check wrote a file");

    ok(ci(&fx, &[]), "write");
    ok(ci(&fx, &["--check"]), "check when current");

    // Another toolchain makes the workflow on disk stale.
    fx.file(
        "repo/service/rust-toolchain.toml",
        "[toolchain]\nchannel = \"stable\"\n",
    );
    let out = ci(&fx, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("image.yml"), "{}", stderr(&out));
}

#[test]
fn bad_registry_and_platform_are_user_errors() {
    let fx = Fixture::new();
    repo(&fx);
    let out = ci(&fx, &["--registry", "https://ghcr.io/acme"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a registry to push to"));
    let out = ci(&fx, &["--platform", "linux/mips"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hint: use one of `linux/amd64`"));
    assert!(!fx.path(WORKFLOW).exists());
}
