//! DockerPlan → Dockerfile and .dockerignore text. Every stage says what it does and why.

use super::runtime;
use super::text::{Text, sh};
use super::{DockerPlan, Strategy, marker};

/// The generated files, each already carrying gantry's marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub dockerfile: String,
    pub dockerignore: String,
}

/// Where the build happens inside the builder; the build context is copied to `/src`.
const SRC: &str = "/src";
/// gantry's own files in the builder (recipe, cooked target dir, the finished binary).
const GANTRY: &str = "/gantry";

pub fn render(plan: &DockerPlan) -> Rendered {
    let mut t = Text::default();
    header(&mut t, plan);
    if plan.strategy != Strategy::Mounts {
        gantry_stages(&mut t, plan);
    }
    base(&mut t, plan);
    match plan.strategy {
        Strategy::Chef | Strategy::Vendor => chef(&mut t, plan),
        Strategy::Mounts => mounts(&mut t, plan),
    }
    runtime::stage(&mut t, plan);
    let command = "cargo gantry dockerfile";
    Rendered {
        dockerfile: marker::stamp(&plan.gantry_version, command, &t.finish()),
        dockerignore: marker::stamp(&plan.gantry_version, command, &runtime::dockerignore(plan)),
    }
}

pub(super) fn workdir(plan: &DockerPlan) -> String {
    if plan.root_in_context.is_empty() {
        SRC.to_owned()
    } else {
        format!("{SRC}/{}", plan.root_in_context)
    }
}

pub(super) fn out_bin(plan: &DockerPlan) -> String {
    format!("{GANTRY}/bin/{}", plan.bin)
}

fn header(t: &mut Text, plan: &DockerPlan) {
    let build = if plan.context_rel.is_empty() {
        format!("DOCKER_BUILDKIT=1 docker build -t {} .", plan.bin)
    } else {
        format!(
            "DOCKER_BUILDKIT=1 docker build -t {} -f Dockerfile {}",
            plan.bin, plan.context_rel
        )
    };
    t.comment(&format!(
        "Image for binary `{}` of package `{}`. Strategy `{}`, runtime `{}`.\n\nBuild from the workspace root:\n    {build}\n",
        plan.bin,
        plan.package,
        plan.strategy.name(),
        plan.runtime.name()
    ));
    if !plan.context_rel.is_empty() {
        t.comment(&format!(
            "The build context is `{}`: path dependencies live outside the workspace root, and a \
             build can only read files inside its context. The workspace root is `{}` in it.\n",
            plan.context_rel, plan.root_in_context
        ));
    }
    if plan.strategy == Strategy::Vendor {
        t.comment(
            "Before building, vendor the dependencies into the context (again whenever Cargo.lock \
             changes):\n    cargo vendor --locked vendor\n",
        );
    }
    t.comment(
        "Needs BuildKit (cache mounts, secrets): the default from Docker 23, `DOCKER_BUILDKIT=1` \
         on Docker 20.10. No `# syntax=` line: the built-in frontend is enough, and nothing has \
         to be pulled to parse this file.",
    );
}

fn gantry_stages(t: &mut Text, plan: &DockerPlan) {
    let v = &plan.gantry_version;
    t.stage(&format!(
        "cargo-gantry inside the build (it runs `prepare` and `cook`). `GANTRY_FROM=crates-io` \
         (the default) installs the pinned version with `cargo install cargo-gantry --locked`. \
         Without network or registry, build a local image `cargo-gantry:{v}` that holds \
         /usr/local/bin/cargo-gantry and pass `--build-arg GANTRY_FROM=image`. BuildKit only \
         builds the stages the target needs, so the unused source is never fetched."
    ));
    if plan.musl {
        t.comment(
            "On this musl builder the gantry in that image must be a musl (static) build: a glibc \
             binary does not run here.",
        );
    }
    t.line("ARG GANTRY_FROM=crates-io");
    t.line(&format!("ARG GANTRY_IMAGE=cargo-gantry:{v}"));
    t.blank();
    t.line(&format!("FROM {} AS gantry-crates-io", plan.builder.image));
    t.run(
        &[],
        &[format!(
            "cargo install cargo-gantry --locked --version {v} --root /usr/local"
        )],
    );
    t.blank();
    t.line("FROM ${GANTRY_IMAGE} AS gantry-image");
    t.blank();
    t.line("FROM gantry-${GANTRY_FROM} AS gantry");
}

fn base(t: &mut Text, plan: &DockerPlan) {
    let b = &plan.builder;
    let libc = if plan.musl {
        "musl; the runtime below is chosen to match".to_owned()
    } else {
        format!(
            "Debian {} \"{}\", glibc {}. Builder and runtime must agree on the libc and its \
             version: a binary linked against a newer glibc than the runtime's fails to start, so \
             the runtime below is built on the same Debian release",
            b.suite.number(),
            b.suite.name(),
            b.suite.glibc()
        )
    };
    t.stage(&format!(
        "base: the toolchain, native packages and settings every build stage shares. `{}`: {}. {libc}.",
        b.image, b.reason
    ));
    t.line(&format!("FROM {} AS base", b.image));
    if b.needs_rustup() {
        t.comment(
            "rustup downloads here: set these build args to use a rustup mirror instead of \
             static.rust-lang.org.",
        );
        t.line("ARG RUSTUP_DIST_SERVER");
        t.line("ARG RUSTUP_UPDATE_ROOT");
        let mut cmds = Vec::new();
        if let Some(file) = &plan.toolchain_file {
            // rustup reads the toolchain file from the directory it runs in, as cargo will.
            t.line(&format!("COPY {file} {SRC}/{file}"));
            cmds.push(format!("cd {}", workdir(plan)));
        }
        if b.install_toolchain {
            cmds.push("rustup toolchain install".to_owned());
        }
        if !b.components.is_empty() {
            cmds.push(format!("rustup component add {}", b.components.join(" ")));
        }
        if !b.targets.is_empty() {
            cmds.push(format!("rustup target add {}", b.targets.join(" ")));
        }
        t.run(&[], &cmds);
    }
    if !plan.builder_packages.is_empty() {
        let why: Vec<&str> = plan.native.iter().map(|n| n.why).collect();
        let mut note = String::from("Build-time packages");
        if !why.is_empty() {
            note.push_str(&format!(" (from Cargo.lock: {})", why.join("; ")));
        }
        t.comment(&format!("{note}."));
        let pkgs = plan.builder_packages.join(" ");
        if plan.musl && plan.runtime == super::Runtime::Alpine {
            t.run(&[], &[format!("apk add --no-cache {pkgs}")]);
        } else {
            t.run(
                &[],
                &[
                    "apt-get update".to_owned(),
                    format!("apt-get install -y --no-install-recommends {pkgs}"),
                    "rm -rf /var/lib/apt/lists/*".to_owned(),
                ],
            );
        }
    }
    mirror(t, plan);
    if let Some(flags) = &plan.rustflags {
        t.comment(
            "Static glibc binary for a runtime without libc. The explicit `--target` keeps build \
             scripts and proc-macros dynamic. Name resolution through NSS (e.g. LDAP users) \
             does not work in a static glibc binary; DNS does.",
        );
        t.line(&format!("ENV RUSTFLAGS={}", super::text::json(flags)));
    }
    if plan.musl {
        t.comment(&match &plan.allocator_feature {
            Some(f) => format!(
                "musl's malloc is several times slower than glibc's under concurrent load; \
                 feature `{f}` (setting `allocator-feature`) switches to a faster global allocator."
            ),
            None => "musl's malloc is several times slower than glibc's under concurrent load. \
                     Opt in to a faster allocator: add e.g. `mimalloc` as an optional dependency, \
                     a feature that sets it as `#[global_allocator]`, and name the feature in \
                     `allocator-feature` under [package.metadata.gantry]."
                .to_owned(),
        });
    }
    if plan.strategy != Strategy::Mounts {
        t.line("COPY --from=gantry /usr/local/bin/cargo-gantry /usr/local/bin/");
    }
    t.line(&format!("WORKDIR {}", workdir(plan)));
}

fn mirror(t: &mut Text, plan: &DockerPlan) {
    let Some(m) = &plan.mirror else { return };
    if plan.project_replaces_crates_io {
        t.comment(&format!(
            "Registry mirror `{}` not written: the project's own .cargo/config.toml already \
             replaces crates.io, and it wins.",
            m.index
        ));
        return;
    }
    t.comment(&format!(
        "crates.io is replaced by the registry mirror ({} index) in cargo's home config, so the \
         project's .cargo/config.toml still applies. A token never enters a layer: pass it as a \
         BuildKit secret (`--secret id=cargo-registry-token,src=FILE`); it is read only while \
         cargo runs.",
        if m.sparse { "sparse" } else { "git" }
    ));
    let config = format!(
        "[registries.gantry-mirror]\\nindex = \"{}\"\\n[source.crates-io]\\nreplace-with = \"gantry-mirror\"\\n",
        m.index
    );
    t.run(
        &[],
        &[format!("printf '{config}' >> /usr/local/cargo/config.toml")],
    );
}

/// The mounts and shell prefix that give cargo the registry token, when there is a mirror.
pub(super) fn token(plan: &DockerPlan) -> (Vec<String>, String) {
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

fn chef(t: &mut Text, plan: &DockerPlan) {
    let args: Vec<String> = plan.build.args().iter().map(|a| sh(a)).collect();
    let args = args.join(" ");
    let bins = plan
        .build
        .bins
        .iter()
        .map(|b| format!(" --bin {}", sh(b)))
        .collect::<String>();
    t.stage(
        "planner: reduce the project to a recipe (manifests, lockfile, toolchain and cargo \
         config, no sources). It sees the whole context and reruns on every change, but is \
         cheap, and its output only changes when dependencies do.",
    );
    t.line("FROM base AS planner");
    t.line(&format!("COPY . {SRC}/"));
    t.run(
        &[],
        &[format!(
            "cargo gantry prepare --recipe-path {GANTRY}/recipe.json{bins}"
        )],
    );

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
    t.run(
        &mounts,
        &[
            format!("{prefix}cargo gantry cook --recipe-path {GANTRY}/recipe.json {args}"),
            format!(
                "echo {} \"$(sha256sum < {GANTRY}/recipe.json)\" > target/.gantry-cooked",
                sh(&args)
            ),
            format!("mv target {GANTRY}/cooked"),
        ],
    );
    t.comment(
        "The real build. target/ is a BuildKit cache mount (locked: one build at a time uses \
         it), so a rebuild after an edit reuses the previous build's outputs like a local \
         `cargo build` does, and no compiled files are copied into a new layer. An empty or \
         stale mount (a fresh builder, or a new recipe) is first seeded from the cooked layer, \
         so dependencies are never compiled here. The binary leaves the mount in the same RUN.",
    );
    t.line(&format!("COPY . {SRC}/"));
    let mut mounts = mounts;
    mounts.push(target_mount(plan));
    t.run(
        &mounts,
        &[
            format!(
                "if ! cmp -s {GANTRY}/cooked/.gantry-cooked target/.gantry-cooked; then cp -a {GANTRY}/cooked/. target/; fi"
            ),
            format!("{prefix}cargo build {args}"),
            format!("install -D target/{} {}", plan.artifact(), out_bin(plan)),
        ],
    );
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

pub(super) fn target_mount(plan: &DockerPlan) -> String {
    format!(
        "--mount=type=cache,id=gantry-target-{}-{}-{},target={}/target,sharing=locked",
        plan.package,
        plan.bin,
        plan.strategy.name(),
        workdir(plan)
    )
}

fn mounts(t: &mut Text, plan: &DockerPlan) {
    let args: Vec<String> = plan.build.args().iter().map(|a| sh(a)).collect();
    t.stage(
        "builder: the whole build context, with BuildKit cache mounts for the crates.io \
         registry, git checkouts and the target dir. Any change reruns this step, but cargo \
         finds the previous outputs in the mounts and recompiles only what changed. The \
         mounts live in the builder's cache only: a fresh builder starts cold.",
    );
    t.line("FROM base AS builder");
    t.line(&format!("COPY . {SRC}/"));
    let (mut mounts, prefix) = token(plan);
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
