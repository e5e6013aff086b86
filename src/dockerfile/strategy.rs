//! The build stages of each strategy: how dependencies are cached between builds.

use super::planner;
use super::render::{GANTRY, SRC, out_bin, workdir};
use super::text::{Text, sh};
use super::{Choice, DockerPlan, Strategy, TRIPLE_FILE};

/// The mounts and shell prefix that give cargo the registry token, when there is a mirror.
fn token(plan: &DockerPlan) -> (Vec<String>, String) {
    if plan.mirror.is_none() || plan.project_replaces_crates_io {
        return (Vec::new(), String::new());
    }
    let f = "/run/secrets/cargo-registry-token";
    (
        vec!["--mount=type=secret,id=cargo-registry-token".to_owned()],
        format!(
            "if [ -f {f} ]; then export CARGO_REGISTRIES_GANTRY_MIRROR_TOKEN=\"$(cat {f})\"; fi; "
        ),
    )
}

pub(super) fn chef(t: &mut Text, plan: &DockerPlan) {
    let args: Vec<String> = plan.build.args().iter().map(|a| sh(a)).collect();
    let args = args.join(" ");
    let bins = plan
        .build
        .bins
        .iter()
        .map(|b| format!(" --bin {}", sh(b)))
        .collect::<String>();
    let prepare = format!("cargo gantry prepare --recipe-path {GANTRY}/recipe.json{bins}");
    if plan.planner.whole_context {
        t.stage(
            "planner: reduce the project to a recipe (manifests, lockfile, toolchain and cargo \
             config, no sources). It reads the context in place (a bind mount, no copy) and \
             reruns on every change, but its output only changes when dependencies do.",
        );
        t.line("FROM base AS planner");
        t.run(&[bind_context()], &[prepare]);
    } else {
        t.stage(
            "planner: reduce the project to a recipe (manifests, lockfile, toolchain and cargo \
             config, no sources). Only the files the recipe is made of are mounted, and the \
             target files are created empty (cargo only needs them to exist), so an edit to a \
             source file reuses this step and everything up to the real build.",
        );
        t.line("FROM base AS planner");
        let (mounts, mut cmds) = planner::mounts_and_placeholders(&plan.planner);
        cmds.push(prepare);
        t.run(&mounts, &cmds);
    }

    t.stage(
        "builder: compile the dependencies from the recipe alone (\"cook\"), then the real \
         sources. The cook layer is rebuilt only when the recipe changes, and it is an image \
         layer, so it also survives a fresh builder that has nothing but a layer cache \
         (`--cache-from`). cook and the final build get the same flags from one definition, \
         so they can never drift apart.",
    );
    t.line("FROM base AS builder");
    if plan.strategy == Strategy::Vendor {
        vendor_source(t, plan);
    }
    t.line(&format!(
        "COPY --from=planner {GANTRY}/recipe.json {GANTRY}/recipe.json"
    ));
    let (mounts, prefix) = token(plan);
    t.comment(
        "The cooked target dir moves to /gantry/cooked: the build below mounts a cache over \
         target/ and seeds it from there.",
    );
    // The marker says what the cooked dir holds: the flags, the recipe, the platform it was
    // compiled on (rustc's host; the build stages of a Dockerfile without `--platform` run on
    // each platform being built, emulated or not) and, when the platform picks it, the target.
    // Every platform uses the same cache mount (Docker 20.10's frontend does not expand a
    // build arg in a mount id), so with flags and recipe alone an arm64 build would find an
    // amd64 build's equal marker and compile every dependency itself.
    let host = if plan.cross.is_empty() {
        " \"$(rustc -vV | sed -n 's/^host: //p')\"".to_owned()
    } else {
        String::new()
    };
    let triple = if plan.target_from_platform {
        format!(" \"$(cat {TRIPLE_FILE})\"")
    } else {
        String::new()
    };
    t.run(
        &mounts,
        &[
            format!("{prefix}cargo gantry cook --recipe-path {GANTRY}/recipe.json {args}"),
            format!(
                "echo {}{host}{triple} \"$(sha256sum < {GANTRY}/recipe.json)\" > target/.gantry-cooked",
                sh(&args)
            ),
            format!("mv target {GANTRY}/cooked"),
        ],
    );
    t.comment(
        "The real build. target/ is a BuildKit cache mount (locked: one build at a time uses \
         it), so a rebuild after an edit reuses the previous build's outputs like a local \
         `cargo build` does, and no compiled files are copied into a new layer. An empty or \
         stale mount (a fresh builder, a new recipe, or a last build for another platform: all \
         platforms share the mount) is first seeded from the cooked layer, so dependencies are \
         never compiled here. The binary leaves the mount in the same RUN.",
    );
    let mut mounts = mounts;
    t.comment(
        "The context is bind-mounted (writes are discarded), not copied into a layer that only \
         this step reads.",
    );
    mounts.insert(0, bind_context());
    mounts.push(target_mount(plan));
    let mut cmds = Vec::new();
    if !plan.planner.whole_context {
        t.comment(
            "The planner saw only the files listed when this Dockerfile was generated: the \
             recipe of the whole context must be the same, or a package or target was added \
             since.",
        );
        cmds.push(format!(
            "cargo gantry prepare --recipe-path -{bins} | cmp -s - {GANTRY}/recipe.json || {{ echo 'error: the project has packages or targets this Dockerfile does not list; hint: run `cargo gantry dockerfile` again' >&2; exit 1; }}"
        ));
    }
    cmds.extend([
        format!(
            "if ! cmp -s {GANTRY}/cooked/.gantry-cooked target/.gantry-cooked; then cp -a {GANTRY}/cooked/. target/; fi"
        ),
        format!("{prefix}cargo build {args}"),
        format!("install -D target/{} {}", plan.artifact(), out_bin(plan)),
    ]);
    t.run(&mounts, &cmds);
}

fn vendor_source(t: &mut Text, plan: &DockerPlan) {
    let vendor = crate::project::join_rel(&plan.root_in_context, "vendor");
    t.comment(
        "vendor: the dependency sources come from `vendor/` in the context and crates.io is \
         replaced by that directory, so cook and build run offline (`--frozen`). This layer \
         changes only when the vendored sources do.",
    );
    t.line(&format!("COPY {vendor}/ {GANTRY}/vendor/"));
    if plan.project_replaces_crates_io {
        t.comment("The project's .cargo/config.toml already replaces crates.io; it is used as is.");
    } else {
        t.run(
            &[],
            &["printf '[source.crates-io]\\nreplace-with = \"gantry-vendored\"\\n[source.gantry-vendored]\\ndirectory = \"/gantry/vendor\"\\n' >> /usr/local/cargo/config.toml".to_owned()],
        );
    }
}

/// The whole build context at /src, writable for the RUN (cargo and build scripts may write
/// next to the sources), nothing of it kept.
fn bind_context() -> String {
    format!("--mount=type=bind,target={SRC},rw")
}

fn target_mount(plan: &DockerPlan) -> String {
    format!(
        "--mount=type=cache,id=gantry-target-{}-{}-{},target={}/target,sharing=locked",
        plan.package,
        plan.bin,
        plan.strategy.name(),
        workdir(plan)
    )
}

pub(super) fn mounts(t: &mut Text, plan: &DockerPlan) {
    let args: Vec<String> = plan.build.args().iter().map(|a| sh(a)).collect();
    t.stage(
        "builder: the whole build context, with BuildKit cache mounts for the crates.io \
         registry, git checkouts and the target dir. Any change reruns this step, but cargo \
         finds the previous outputs in the mounts and recompiles only what changed. The \
         mounts live in the builder's cache only: a fresh builder starts cold.",
    );
    t.line("FROM base AS builder");
    t.comment("The context is bind-mounted (writes are discarded), not copied into a layer.");
    let (mut mounts, prefix) = token(plan);
    mounts.insert(0, bind_context());
    mounts.push(
        "--mount=type=cache,id=gantry-registry,target=/usr/local/cargo/registry,sharing=locked"
            .to_owned(),
    );
    mounts.push(
        "--mount=type=cache,id=gantry-git,target=/usr/local/cargo/git,sharing=locked".to_owned(),
    );
    mounts.push(target_mount(plan));
    t.run(
        &mounts,
        &[
            format!("{prefix}cargo build {}", args.join(" ")),
            format!("install -D target/{} {}", plan.artifact(), out_bin(plan)),
        ],
    );
}
