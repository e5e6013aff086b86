//! DockerPlan → Dockerfile and .dockerignore text. Every stage says what it does and why.

use super::text::Text;
use super::{Choice, DockerPlan, Strategy, TRIPLE_FILE, marker, runtime, strategy};
use crate::platforms;

/// The generated files, each already carrying gantry's marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub dockerfile: String,
    pub dockerignore: String,
}

/// Where the build happens inside the builder; the build context is copied to `/src`.
pub(super) const SRC: &str = "/src";
/// gantry's own files in the builder (recipe, cooked target dir, the finished binary).
pub(super) const GANTRY: &str = "/gantry";

pub fn render(plan: &DockerPlan) -> Rendered {
    let mut t = Text::default();
    header(&mut t, plan);
    if plan.strategy != Strategy::Mounts || plan.healthcheck.is_some() {
        gantry_stages(&mut t, plan);
    }
    base(&mut t, plan);
    match plan.strategy {
        Strategy::Chef | Strategy::Vendor => strategy::chef(&mut t, plan),
        Strategy::Mounts => strategy::mounts(&mut t, plan),
    }
    if plan.healthcheck.is_some() {
        probe_stage(&mut t, plan);
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

/// Where the probe stage leaves `gantry-probe`.
pub(super) const PROBE_OUT: &str = "/gantry/gantry-probe";

/// `gantry-probe` for the platform being built. A stage of its own: it depends on the toolchain
/// and gantry only, so BuildKit builds it beside the builder and keeps it across source edits.
fn probe_stage(t: &mut Text, plan: &DockerPlan) {
    t.stage(
        "probe: `gantry-probe`, the healthcheck program (setting `healthcheck`). The runtime \
         has no shell, curl or wget; the probe is a static executable of a few KiB without \
         libc, compiled here from the source in gantry with the builder's rustc (it needs \
         only `core` for the target).",
    );
    t.line("FROM base AS probe");
    if plan.strategy == Strategy::Mounts {
        t.line("COPY --from=gantry /usr/local/bin/cargo-gantry /usr/local/bin/");
    }
    let target = match (&plan.build.target, plan.target_from_platform) {
        (Some(t), _) => format!(" --target {}", super::text::sh(t)),
        (None, true) => format!(" --target \"$(cat {TRIPLE_FILE})\""),
        (None, false) => String::new(),
    };
    t.run(&[], &[format!("cargo gantry probe{target} -o {PROBE_OUT}")]);
}

pub(super) fn out_bin(plan: &DockerPlan) -> String {
    format!("{GANTRY}/bin/{}", plan.bin)
}

/// `FROM` for a build stage: on the builder's own platform when cross-compiling.
pub(super) fn from_build(plan: &DockerPlan, image: &str, name: &str) -> String {
    match plan.cross.is_empty() {
        true => format!("FROM {image} AS {name}"),
        false => format!("FROM --platform=$BUILDPLATFORM {image} AS {name}"),
    }
}

fn header(t: &mut Text, plan: &DockerPlan) {
    if !plan.cross.is_empty() {
        let platforms: Vec<&str> = plan.cross.iter().map(|r| r.platform).collect();
        let context = if plan.context_rel.is_empty() {
            ".".to_owned()
        } else {
            format!("-f Dockerfile {}", plan.context_rel)
        };
        t.comment(&format!(
            "Image for binary `{}` of package `{}`. Strategy `{}`, runtime `{}`.\n\nBuild every \
             platform from the workspace root (buildx, or `docker build --platform P` for one):\n    \
             docker buildx build --platform {} -t {} {context}\n\nNo emulated compile: the build \
             stages run on the builder's own platform ($BUILDPLATFORM) and cross-compile for the \
             platform being built ($TARGETPLATFORM), whose runtime stage only receives the binary.\n",
            plan.bin,
            plan.package,
            plan.strategy.name(),
            plan.runtime.name(),
            platforms.join(","),
            plan.bin,
        ));
        return header_notes(t, plan);
    }
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
    header_notes(t, plan);
}

fn header_notes(t: &mut Text, plan: &DockerPlan) {
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
    let runs = if plan.strategy == Strategy::Mounts {
        "it compiles the healthcheck probe"
    } else {
        "it runs `prepare` and `cook`"
    };
    t.stage(&format!(
        "cargo-gantry inside the build ({runs}). `GANTRY_FROM=crates-io` \
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
    t.line(&from_build(
        plan,
        &plan.builder.gantry_image,
        "gantry-crates-io",
    ));
    t.run(
        &[],
        &[format!(
            "cargo install cargo-gantry --locked --version {v} --root /usr/local"
        )],
    );
    t.blank();
    t.line(&from_build(plan, "${GANTRY_IMAGE}", "gantry-image"));
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
    t.line(&from_build(plan, &b.image, "base"));
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
    if !plan.native.is_empty() {
        let why: Vec<String> = plan.native.iter().map(|n| format!("{}.", n.why)).collect();
        t.comment(&format!("Native crates in Cargo.lock: {}", why.join(" ")));
    }
    if let Some(why) = &plan.linker_why {
        t.comment(&format!(
            "The project's cargo config links with tools the builder image lacks: {why}."
        ));
    }
    if !plan.builder_packages.is_empty() {
        t.comment("Build-time packages (Cargo.lock's native crates, the cargo config's linker and `native-packages`).");
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
    if !plan.cross.is_empty() {
        cross_target(t, plan);
    } else if plan.target_from_platform {
        platform_target(t, plan);
    }
    if plan.sqlx_offline {
        t.comment(
            "sqlx checks its queries at compile time against `.sqlx/` (from `cargo sqlx prepare`), \
             not against a live database, which the build cannot reach.",
        );
        t.line("ENV SQLX_OFFLINE=true");
    }
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

/// The Rust target of the platform being built, from BuildKit's TARGETARCH/TARGETVARIANT, set
/// as cargo's `build.target` so cook and build agree without naming this machine's triple.
fn platform_target(t: &mut Text, plan: &DockerPlan) {
    select_target(
        t,
        plan,
        "The Rust target of the platform being built (BuildKit sets TARGETARCH), written to \
         cargo's config so that cook and build both use it.",
        false,
        Vec::new(),
    );
}

/// `platform_target` for a builder on another platform: the Rust target, and when the builder's
/// architecture differs, Debian's cross gcc, the target's C library and the `:ARCH` builds of
/// the `-dev` packages, and cargo's config naming the linker and the C compiler (`CC_<target>`,
/// read by the cc crate) and pointing pkg-config at the target's multiarch directory.
fn cross_target(t: &mut Text, plan: &DockerPlan) {
    let dev: Vec<String> = plan
        .builder_packages
        .iter()
        .filter(|p| p.starts_with("lib") && p.ends_with("-dev"))
        .map(|p| format!("{p}:$d"))
        .collect();
    let dev = if dev.is_empty() {
        String::new()
    } else {
        format!(" {}", dev.join(" "))
    };
    let cross = [
        // a builder image that already carries the cross toolchain installs nothing
        "if [ \"$(dpkg --print-architecture)\" != \"$d\" ]; then { command -v \"$g-gcc\" >/dev/null || { dpkg --add-architecture \"$d\"".to_owned(),
        "apt-get update".to_owned(),
        format!(
            "apt-get install -y --no-install-recommends \"gcc-$(echo \"$g\" | tr _ -)\" \"libc6-dev-$d-cross\"{dev}"
        ),
        "rm -rf /var/lib/apt/lists/*; }; }".to_owned(),
        "u=$(echo \"$t\" | tr - _)".to_owned(),
        format!(
            "printf '[target.%s]\\nlinker = \"%s-gcc\"\\n[env]\\nCC_%s = \"%s-gcc\"\\nAR_%s = \"%s-ar\"\\nPKG_CONFIG_ALLOW_CROSS = \"1\"\\nPKG_CONFIG_LIBDIR_%s = \"/usr/lib/%s/pkgconfig:/usr/share/pkgconfig\"\\n' \"$t\" \"$g\" \"$u\" \"$g\" \"$u\" \"$g\" \"$u\" \"$g\" >> {CARGO_CONFIG}; fi"
        ),
    ]
    .join(" && ");
    select_target(
        t,
        plan,
        "The platform being built (BuildKit sets TARGETARCH) → its Rust target, written to \
         cargo's config so that cook and build both use it. On a builder of another \
         architecture: the cross gcc and the target's libraries from Debian (multiarch), the \
         linker and C compiler in cargo's config, pkg-config pointed at the target's libraries.",
        true,
        vec![cross],
    );
}

/// The cargo config the build stages append to (the official images' CARGO_HOME).
const CARGO_CONFIG: &str = "/usr/local/cargo/config.toml";

/// TARGETARCH/TARGETVARIANT → `t`, the Rust target (with `cross`, also `g`, the GNU triplet,
/// and `d`, the Debian architecture), recorded in TRIPLE_FILE, its std added when the
/// toolchain lacks it, and set as cargo's `build.target`; then the `more` commands.
fn select_target(t: &mut Text, plan: &DockerPlan, why: &str, cross: bool, more: Vec<String>) {
    let mut arms: Vec<String> = platforms::TABLE
        .iter()
        .map(|r| {
            let triple = if plan.musl { r.musl } else { r.gnu };
            let (arch, variant) = (r.docker_arch(), r.docker_variant());
            match cross {
                true => format!(
                    "{arch}{variant}) t={triple} g={} d={} ;;",
                    r.gnu_triplet, r.debian_arch
                ),
                false => format!("{arch}{variant}) t={triple} ;;"),
            }
        })
        .collect();
    arms.push(
        "*) echo \"no Rust target for platform $TARGETARCH$TARGETVARIANT\" >&2; exit 1 ;;"
            .to_owned(),
    );
    t.comment(why);
    t.line("ARG TARGETARCH");
    t.line("ARG TARGETVARIANT");
    let mut lines = vec![
        format!("case \"$TARGETARCH$TARGETVARIANT\" in {} esac", arms.join(" ")),
        format!("mkdir -p {}", super::render::GANTRY),
        format!("echo \"$t\" > {TRIPLE_FILE}"),
        "if [ ! -d \"$(rustc --print target-libdir --target \"$t\")\" ]; then rustup target add \"$t\"; fi".to_owned(),
        format!("printf '[build]\\ntarget = \"%s\"\\n' \"$t\" >> {CARGO_CONFIG}"),
    ];
    lines.extend(more);
    t.run(&[], &lines);
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
        // printf's format string: a literal `%` in the URL must be doubled.
        m.index.replace('%', "%%")
    );
    t.run(
        &[],
        &[format!("printf '{config}' >> /usr/local/cargo/config.toml")],
    );
}
