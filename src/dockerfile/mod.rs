//! `cargo gantry dockerfile`: Project + settings → [`DockerPlan`] → Dockerfile text. Pure: no
//! I/O, so every decision is snapshot-tested from fixture projects.
//!
//! [`plan`] decides (which binary, which builder and runtime, which native packages, which
//! cargo flags); [`render`] only writes the decisions down, with comments saying why.

mod includes;
pub mod marker;
pub mod native;
mod options;
mod planner;
mod render;
mod runtime;
mod strategy;
mod text;
pub mod toolchain;

use std::collections::BTreeMap;

use crate::error::Result;
use crate::healthcheck::Healthcheck;
use crate::project::{Project, relative_path};
use crate::resolve::{ExtraFile, Target};
use crate::settings::CargoBuild;
pub use crate::settings::{Choice, Runtime, Strategy};
pub use options::Mirror;
pub use planner::PlannerInputs;
pub use render::{Rendered, render};
use toolchain::Builder;

/// What the planner needs to know of the checkout beyond the [`Project`] (read by
/// [`Facts::read`]; given directly in tests).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `.sqlx/` (sqlx's offline query data) exists at the workspace or package root.
    pub sqlx_offline_data: bool,
    /// Files the local sources `include_str!`/`include_bytes!`, relative to the workspace root.
    pub included_files: Vec<String>,
}

impl Facts {
    pub fn read(project: &Project, target: &Target) -> Facts {
        let root = &project.root;
        Facts {
            sqlx_offline_data: root.join(".sqlx").is_dir()
                || root.join(&target.package_dir).join(".sqlx").is_dir(),
            included_files: includes::included_files(project),
        }
    }
}

/// Every decision the Dockerfile writes down.
#[derive(Debug, Clone)]
pub struct DockerPlan {
    pub gantry_version: String,
    pub strategy: Strategy,
    pub runtime: Runtime,
    /// Why the runtime differs from the one asked for (a library distroless lacks).
    pub runtime_switch: Option<String>,
    pub builder: Builder,
    pub musl: bool,
    /// The one set of cargo flags for cook and the real build.
    pub build: CargoBuild,
    /// Extra RUSTFLAGS for cook and build alike (a static glibc build).
    pub rustflags: Option<String>,
    /// The Rust target is the platform being built (`TARGETARCH`), set in cargo's config in
    /// the builder rather than as `--target`.
    pub target_from_platform: bool,
    /// `--platform`: the build stages run on the builder's own platform (`$BUILDPLATFORM`)
    /// and cross-compile for the platform being built; empty: everything runs on the target
    /// platform.
    pub cross: Vec<&'static crate::platforms::Row>,
    pub bin: String,
    pub package: String,
    /// The package directory relative to the workspace root.
    pub package_dir: String,
    /// The workspace root inside the build context (`""` when they are the same).
    pub root_in_context: String,
    /// The toolchain file, relative to the build context.
    pub toolchain_file: Option<String>,
    /// The build context relative to the workspace root (`""` or `..`-style).
    pub context_rel: String,
    pub native: Vec<&'static native::NativeDep>,
    pub builder_packages: Vec<String>,
    /// Why the project's cargo config needs the linker packages among `builder_packages`.
    pub linker_why: Option<String>,
    pub runtime_packages: Vec<String>,
    pub mirror: Option<Mirror>,
    /// The project's own cargo config already replaces crates.io: gantry adds no mirror.
    pub project_replaces_crates_io: bool,
    /// sqlx checks its queries against `.sqlx/` instead of a live database.
    pub sqlx_offline: bool,
    /// Files the compiler reads (`include_str!`), relative to the workspace root: never ignored.
    pub included_files: Vec<String>,
    pub expose: Vec<u16>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub user: String,
    pub workdir: Option<String>,
    pub extra_files: Vec<ExtraFile>,
    pub allocator_feature: Option<String>,
    /// Checked by `gantry-probe`, which a stage of its own compiles for the platform.
    pub healthcheck: Option<Healthcheck>,
    /// What the planner stage takes from the context.
    pub planner: PlannerInputs,
}

/// Where the builder records the Rust target of the platform being built.
pub const TRIPLE_FILE: &str = "/gantry/target-triple";

impl DockerPlan {
    /// Where cargo puts the binary, relative to the target dir (a shell word).
    pub fn artifact(&self) -> String {
        let profile = self.build.profile.dir_name();
        match &self.build.target {
            Some(t) => format!("{t}/{profile}/{}", self.bin),
            None if self.target_from_platform => {
                format!("\"$(cat {TRIPLE_FILE})\"/{profile}/{}", self.bin)
            }
            None => format!("{profile}/{}", self.bin),
        }
    }
}

/// Decide everything from the resolved target (which already merged the settings).
pub fn plan(
    project: &Project,
    target: &Target,
    facts: &Facts,
    gantry_version: &str,
) -> Result<DockerPlan> {
    let pkg = project
        .package_by_dir(&target.package_dir)
        .expect("the target's package belongs to the project");
    let strategy = target.docker.strategy;
    let asked = target.docker.runtime;
    let mut build = target.cargo.clone();
    build.lock.locked = project.lockfile.is_some();
    // vendor: everything comes from the vendored sources, so the build may not touch the network.
    build.lock.offline = strategy == Strategy::Vendor;
    // The stages move and mount `target/`: pin it, whatever a project config (`build.target-dir`)
    // or the builder image (CARGO_TARGET_DIR) says.
    build.target_dir = Some("target".into());

    let musl =
        asked == Runtime::Alpine || build.target.as_deref().is_some_and(|t| t.contains("musl"));
    let mut builder = toolchain::builder(
        project.toolchain.as_ref(),
        pkg.rust_version.as_deref(),
        project
            .lockfile
            .as_deref()
            .and_then(toolchain::lockfile_cargo),
        asked == Runtime::Alpine,
        target.docker.builder.as_deref(),
    )?;
    let mut rustflags = None;
    let mut target_from_platform = false;
    let cross = target.platforms.clone();
    if !cross.is_empty() {
        if asked == Runtime::Alpine {
            return Err(crate::Error::user(
                "a cross-compiling Dockerfile (--platform) builds on Debian, not alpine",
            )
            .with_hint("use --runtime distroless, debian, static or scratch, or drop --platform"));
        }
        // the platform being built (TARGETARCH) picks the Rust target, not a fixed --target
        build.target = None;
        target_from_platform = true;
    }
    if matches!(asked, Runtime::Static | Runtime::Scratch) {
        match build.target.as_deref() {
            Some(t) if t.contains("musl") => builder.targets.push(t.to_owned()),
            Some(_) => rustflags = Some("-C target-feature=+crt-static".to_owned()),
            None => {
                // A target keeps build scripts and proc-macros dynamic: only the final binary is
                // linked statically. It is the platform being built (BuildKit's TARGETARCH),
                // not this machine's, so the same Dockerfile builds on any builder.
                target_from_platform = true;
                rustflags = Some("-C target-feature=+crt-static".to_owned());
            }
        }
    }
    let allocator_feature = target.docker.allocator_feature.clone();
    if musl && let Some(f) = &allocator_feature {
        build.features.push(f.clone());
    }
    builder.targets.sort();
    builder.targets.dedup();

    let locked = project
        .lockfile
        .as_deref()
        .map(native::read_lockfile)
        .unwrap_or_default();
    let native = native::detect(&locked);
    let (runtime, runtime_switch, mut builder_packages, runtime_packages) =
        options::packages(asked, &native, &target.docker, builder.suite, musl);
    let linker = options::linker_packages(&project.cargo_configs);
    builder_packages.extend(linker.packages.iter().cloned());
    builder_packages.sort();
    builder_packages.dedup();

    let mirror = target
        .docker
        .registry_mirror
        .as_deref()
        .map(Mirror::parse)
        .transpose()?;
    let context_rel = project.context_rel();
    let root_in_context = relative_path(&project.root.join(&context_rel), &project.root);
    let planner = planner::inputs(project, &root_in_context);
    let sqlx_offline = facts.sqlx_offline_data && locked.iter().any(|c| c.name.starts_with("sqlx"));

    Ok(DockerPlan {
        gantry_version: gantry_version.to_owned(),
        strategy,
        runtime,
        runtime_switch,
        builder,
        musl,
        build,
        rustflags,
        target_from_platform,
        cross,
        package: target.package.clone(),
        package_dir: target.package_dir.clone(),
        bin: target.bin.clone(),
        toolchain_file: project
            .toolchain
            .as_ref()
            .map(|f| crate::project::join_rel(&root_in_context, &f.rel)),
        root_in_context,
        context_rel,
        native,
        builder_packages,
        linker_why: linker.why,
        runtime_packages,
        project_replaces_crates_io: options::replaces_crates_io(&project.cargo_configs),
        mirror,
        sqlx_offline,
        included_files: facts.included_files.clone(),
        expose: target.image.expose.clone(),
        env: target.image.env.clone(),
        labels: target.labels.clone(),
        user: target.image.user.clone(),
        workdir: target.image.workdir.clone(),
        extra_files: target.extra_files.clone(),
        allocator_feature,
        healthcheck: target.image.healthcheck.clone(),
        planner,
    })
}
