//! The generated Dockerfiles against the real Docker engine: the image builds, prints what the
//! real source says, runs as uid 65532, and a one-line edit rebuilds no dependency.

use std::path::Path;

use crate::support::docker::{Build, Docker, docker};
use crate::support::*;

/// A program that proves it ran from the real sources, with its dependencies, as which user.
fn program(greeting: &str, extra: &str) -> String {
    format!(
        r#"fn uid() -> String {{
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    line.split_whitespace().next().unwrap().to_owned()
}}

fn main() {{
    let mut n = itoa::Buffer::new();
    println!("{greeting} {{}} {{}} uid={{}}", n.format(7), {extra}, uid());
}}
"#
    )
}

/// Build, run, edit one line, rebuild, run again. Returns the rebuild's log.
struct Case<'a> {
    fx: &'a Fixture,
    /// The workspace root (where `cargo gantry dockerfile` runs), relative to the fixture.
    root: &'a str,
    /// The build context, relative to the fixture.
    context: &'a str,
    args: &'a [&'a str],
    tag: &'a str,
    /// (file, old text, new text) for the one-line edit.
    edit: (&'a str, &'a str, &'a str),
    before: &'a str,
    after: &'a str,
}

impl Case<'_> {
    fn run(&self, d: &Docker) -> (Build, Build) {
        // A cargo config comment that is new on every run: it changes the recipe and the
        // context, so no layer of an earlier test run can stand in for this one's builds.
        let config = format!("{}/.cargo/config.toml", self.root);
        let old = std::fs::read_to_string(self.fx.path(&config)).unwrap_or_default();
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        self.fx.file(&config, &format!("# e2e run {nonce}\n{old}"));
        let mut args = vec!["dockerfile"];
        args.extend_from_slice(self.args);
        ok(
            gantry(&self.fx.path(self.root), &args),
            "cargo gantry dockerfile",
        );
        let dockerfile = self.fx.path(self.root).join("Dockerfile");
        let context = self.fx.path(self.context);

        let first = d.build(&context, &dockerfile, self.tag);
        let said = d.run(self.tag);
        assert!(said.contains(self.before), "the image said: {said}");
        assert!(said.contains("uid=65532"), "not running as 65532: {said}");
        assert_eq!(d.user(self.tag), "65532:65532");

        let (file, old, new) = self.edit;
        let text = self.fx.read(file);
        assert!(text.contains(old), "{file} has no `{old}`");
        self.fx.file(file, &text.replacen(old, new, 1));
        let second = d.build(&context, &dockerfile, self.tag);
        let said = d.run(self.tag);
        assert!(
            said.contains(self.after),
            "after the edit the image said: {said}"
        );
        d.remove(self.tag);
        (first, second)
    }
}

fn assert_only_locals_compiled(build: &Build, locals: &[&str]) {
    let compiled = build.compiled();
    let deps: Vec<_> = compiled
        .iter()
        .filter(|c| !locals.iter().any(|l| c.starts_with(&format!("{l} "))))
        .collect();
    assert!(
        deps.is_empty(),
        "dependencies compiled on rebuild: {deps:?}\n{}",
        build.log
    );
    assert!(
        !compiled.is_empty(),
        "nothing compiled on rebuild:\n{}",
        build.log
    );
}

#[test]
fn chef_workspace_image_runs_nonroot_and_edit_rebuild_keeps_cook_cached() {
    let Some(d) = docker() else { return };
    let fx = Fixture::new();
    fx.file(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n",
    )
    .file(
        "ws/crates/server/Cargo.toml",
        &manifest(
            "e2e-chef-server",
            "itoa = \"1\"\ncommon = { path = \"../common\" }",
        ),
    )
    .file(
        "ws/crates/server/build.rs",
        "fn main() { println!(\"cargo:rustc-env=BUILT_BY=build-script\"); }\n",
    )
    .file(
        "ws/crates/server/src/main.rs",
        &program("chef hello", "format!(\"{} {}\", common::NAME, env!(\"BUILT_BY\"))"),
    )
    .file("ws/crates/common/Cargo.toml", &manifest("common", "either = \"1\""))
    .file(
        "ws/crates/common/src/lib.rs",
        "pub const NAME: &str = \"common\";\npub fn pick() -> either::Either<u8, u8> { either::Either::Left(1) }\n",
    )
    .bin_package("ws/crates/tool", "e2e-chef-tool", "ryu = \"1\"", "tool")
    .lock("ws");
    let case = Case {
        fx: &fx,
        root: "ws",
        context: "ws",
        args: &["--bin", "e2e-chef-server"],
        tag: "gantry-e2e-chef",
        edit: ("ws/crates/server/src/main.rs", "chef hello", "chef goodbye"),
        before: "chef hello 7 common build-script",
        after: "chef goodbye 7 common build-script",
    };
    let (first, second) = case.run(&d);
    assert!(
        first.compiled().iter().any(|c| c.starts_with("itoa ")),
        "the cook compiled no dependency: the test proves nothing\n{}",
        first.log
    );
    assert!(
        second.step_cached("cargo gantry cook"),
        "cook ran again:\n{}",
        second.log
    );
    // The planner sees only manifests, lockfile and config: a source edit reuses it.
    assert!(
        second.step_cached("cargo gantry prepare --recipe-path /gantry/recipe.json"),
        "the planner ran again on a source edit:\n{}",
        second.log
    );
    assert_only_locals_compiled(&second, &["e2e-chef-server"]);

    // A target the Dockerfile does not list (a library next to the server's main): the
    // planner's recipe lacks it, and the builder notices.
    fx.file("ws/crates/server/src/lib.rs", "pub fn unused() {}\n");
    let stale = d.build_failing(&fx.path("ws"), &fx.path("ws/Dockerfile"), "gantry-e2e-chef");
    assert!(
        stale.log.contains("run `cargo gantry dockerfile` again"),
        "{}",
        stale.log
    );
}

#[test]
fn vendor_image_builds_offline_with_a_path_dependency_outside_the_root() {
    let Some(d) = docker() else { return };
    let fx = Fixture::new();
    fx.file(
        "repo/app/Cargo.toml",
        &manifest(
            "e2e-vendor-app",
            "itoa = \"1\"\ngreet = { path = \"../shared/greet\" }",
        ),
    )
    .file(
        "repo/app/src/main.rs",
        &program("vendor hello", "greet::WORD"),
    )
    .file("repo/shared/greet/Cargo.toml", &manifest("greet", ""))
    .file(
        "repo/shared/greet/src/lib.rs",
        "pub const WORD: &str = \"shared\";\n",
    )
    .lock("repo/app");
    let out = cargo(&fx.path("repo/app"))
        .args(["vendor", "--locked", "vendor"])
        .output()
        .unwrap();
    ok(out, "cargo vendor");
    let case = Case {
        fx: &fx,
        root: "repo/app",
        context: "repo",
        args: &["--strategy", "vendor"],
        tag: "gantry-e2e-vendor",
        edit: ("repo/shared/greet/src/lib.rs", "shared", "edited"),
        before: "vendor hello 7 shared",
        after: "vendor hello 7 edited",
    };
    // The context is the parent of the workspace root, so the ignore file sits next to the
    // Dockerfile under BuildKit's `<Dockerfile>.dockerignore` name.
    let (_, second) = case.run(&d);
    assert!(Path::new(&fx.path("repo/app/Dockerfile.dockerignore")).exists());
    assert!(
        second.step_cached("cargo gantry cook"),
        "cook ran again:\n{}",
        second.log
    );
    assert_only_locals_compiled(&second, &["e2e-vendor-app", "greet"]);
}

#[test]
fn mounts_image_reads_cargo_config_and_extra_files_and_rebuilds_only_the_crate() {
    let Some(d) = docker() else { return };
    let fx = Fixture::new();
    fx.file(
        "app/Cargo.toml",
        &manifest("e2e-mounts-app", "itoa = \"1\"\nryu = \"1\""),
    )
    .file("app/.cargo/config.toml", "[env]\nGREETING_SOURCE = \"cargo-config\"\n\n# the stages move and mount target/: gantry pins it over this\n[build]\ntarget-dir = \"elsewhere\"\n")
    .file("app/data/word.txt", "data-file")
    .file(
        "app/src/main.rs",
        &program(
            "mounts hello",
            "format!(\"{} {} {}\", env!(\"GREETING_SOURCE\"), include_str!(\"../data/word.txt\"), ryu::Buffer::new().format(1.5))",
        ),
    )
    .lock("app");
    let case = Case {
        fx: &fx,
        root: "app",
        context: "app",
        args: &["--strategy", "mounts"],
        tag: "gantry-e2e-mounts",
        edit: ("app/src/main.rs", "mounts hello", "mounts goodbye"),
        before: "mounts hello 7 cargo-config data-file 1.5",
        after: "mounts goodbye 7 cargo-config data-file 1.5",
    };
    let (_, second) = case.run(&d);
    assert_only_locals_compiled(&second, &["e2e-mounts-app"]);
}
