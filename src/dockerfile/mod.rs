//! `cargo gantry dockerfile`: Project + settings → [`DockerPlan`] → Dockerfile text. Pure: no
//! I/O, so every decision is snapshot-tested from fixture projects.
//!
//! [`plan`] decides (which binary, which builder and runtime, which native packages, which
//! cargo flags); [`render`] only writes the decisions down, with comments saying why.

pub mod marker;
pub mod native;
mod options;
mod render;
mod runtime;
mod strategy;
mod text;
pub mod toolchain;

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::project::{LocalPackage, Project, relative_path};
use crate::settings::{CargoBuild, Layer, Profile};
pub use options::{Mirror, Runtime, Strategy};
pub use render::{Rendered, render};
use toolchain::Builder;

/// What the user asked for, by source; [`plan`] adds the package and workspace metadata.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub cli: Layer,
    pub env: Layer,
    /// The version of gantry that the builder installs or copies (normally this binary's).
    pub gantry_version: String,
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
    pub bin: String,
    pub package: String,
    /// The workspace root inside the build context (`""` when they are the same).
    pub root_in_context: String,
    /// The toolchain file, relative to the build context.
    pub toolchain_file: Option<String>,
    /// The build context relative to the workspace root (`""` or `..`-style).
    pub context_rel: String,
    pub native: Vec<&'static native::NativeDep>,
    pub builder_packages: Vec<String>,
    pub runtime_packages: Vec<String>,
    pub mirror: Option<Mirror>,
    /// The project's own cargo config already replaces crates.io: gantry adds no mirror.
    pub project_replaces_crates_io: bool,
    pub expose: Vec<u16>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub user: String,
    pub workdir: Option<String>,
    pub extra_files: Vec<String>,
    pub allocator_feature: Option<String>,
}

impl DockerPlan {
    /// Where cargo puts the binary, relative to the target dir.
    pub fn artifact(&self) -> String {
        let profile = self.build.profile.dir_name();
        match &self.build.target {
            Some(t) => format!("{t}/{profile}/{}", self.bin),
            None => format!("{profile}/{}", self.bin),
        }
    }
}

/// Decide everything. Settings precedence: CLI > env > package metadata > workspace metadata.
pub fn plan(project: &Project, req: &Request) -> Result<DockerPlan> {
    let upper = req.cli.clone().or(req.env.clone());
    let (pkg, bin) = select_bin(project, &upper.clone().or(project.settings.clone()))?;
    let layer = upper.or(pkg.settings.clone()).or(project.settings.clone());

    let strategy = Strategy::parse(layer.strategy.as_deref())?;
    let asked = Runtime::parse(layer.runtime.as_deref())?;
    // Release unless the settings name a profile; bin and package are decided above.
    let mut build = CargoBuild {
        profile: Profile::Release,
        ..CargoBuild::default()
    }
    .with_layer(
        &Layer {
            bin: None,
            package: None,
            ..layer.clone()
        },
        false,
    );
    build.bins = vec![bin.clone()];
    build.packages = layer.package.iter().cloned().collect();
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
        asked == Runtime::Alpine,
        layer.builder.as_deref(),
    )?;
    let mut rustflags = None;
    if matches!(asked, Runtime::Static | Runtime::Scratch) {
        match build.target.as_deref() {
            Some(t) if t.contains("musl") => builder.targets.push(t.to_owned()),
            Some(_) => rustflags = Some("-C target-feature=+crt-static".to_owned()),
            None => {
                // An explicit --target keeps build scripts and proc-macros dynamic: only the
                // final binary is linked statically.
                build.target = Some("x86_64-unknown-linux-gnu".to_owned());
                rustflags = Some("-C target-feature=+crt-static".to_owned());
            }
        }
    }
    let allocator_feature = layer.allocator_feature.clone();
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
    let (runtime, runtime_switch, builder_packages, runtime_packages) =
        options::packages(asked, &native, &layer, builder.suite, musl);

    let mirror = layer
        .registry_mirror
        .as_deref()
        .map(Mirror::parse)
        .transpose()?;
    let context_rel = project.context_rel();
    let root_in_context = relative_path(&project.root.join(&context_rel), &project.root);

    Ok(DockerPlan {
        gantry_version: req.gantry_version.clone(),
        strategy,
        runtime,
        runtime_switch,
        builder,
        musl,
        build,
        rustflags,
        package: pkg.name.clone(),
        bin,
        toolchain_file: project
            .toolchain
            .as_ref()
            .map(|f| crate::project::join_rel(&root_in_context, &f.rel)),
        root_in_context,
        context_rel,
        native,
        builder_packages,
        runtime_packages,
        project_replaces_crates_io: options::replaces_crates_io(&project.cargo_configs),
        mirror,
        expose: layer.expose.clone().unwrap_or_default(),
        env: layer.env.clone().unwrap_or_default(),
        labels: labels(pkg, &layer),
        user: layer
            .user
            .clone()
            .unwrap_or_else(|| "65532:65532".to_owned()),
        workdir: layer.workdir.clone(),
        extra_files: layer.extra_files.clone().unwrap_or_default(),
        allocator_feature,
    })
}

/// The binary to ship: `--bin`, else the only binary of `-p`, else the only binary of the
/// workspace members. Several → an error that lists them.
fn select_bin<'p>(project: &'p Project, layer: &Layer) -> Result<(&'p LocalPackage, String)> {
    let all: Vec<(&LocalPackage, String)> = project
        .members()
        .flat_map(|p| p.bins().map(move |t| (p, t.name.clone())))
        .collect();
    let listed = |items: &[(&LocalPackage, String)]| {
        items
            .iter()
            .map(|(p, b)| format!("`--bin {b}` (package `{}`)", p.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(bin) = &layer.bin {
        return all.iter().find(|(_, b)| b == bin).cloned().ok_or_else(|| {
            Error::user(format!("no binary `{bin}` in this workspace"))
                .with_hint(format!("the binaries are: {}", or_none(listed(&all))))
        });
    }
    let candidates: Vec<_> = match &layer.package {
        Some(name) => {
            if !project.members().any(|p| &p.name == name) {
                let members: Vec<String> =
                    project.members().map(|p| format!("`{}`", p.name)).collect();
                return Err(
                    Error::user(format!("no package `{name}` in this workspace"))
                        .with_hint(format!("the members are: {}", or_none(members.join(", ")))),
                );
            }
            all.iter()
                .filter(|(p, _)| &p.name == name)
                .cloned()
                .collect()
        }
        None => all.clone(),
    };
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::user(match &layer.package {
            Some(p) => format!("package `{p}` has no binary to put into an image"),
            None => "this workspace has no binary to put into an image".to_owned(),
        })
        .with_hint("add a `[[bin]]` target (or `src/main.rs`) to a workspace member")),
        many => Err(Error::user(format!(
            "this workspace has {} binaries; choose one: {}",
            many.len(),
            listed(many)
        ))
        .with_hint("pass `--bin NAME`, or set `bin = \"NAME\"` in [workspace.metadata.gantry]")),
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { "(none)".to_owned() } else { s }
}

/// OCI labels from the package's Cargo metadata; settings' `labels` add to or override them.
fn labels(pkg: &LocalPackage, layer: &Layer) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    let oci = |k: &str| format!("org.opencontainers.image.{k}");
    l.insert(oci("title"), pkg.name.clone());
    l.insert(oci("version"), pkg.version.clone());
    let optional = [
        ("description", &pkg.description),
        ("source", &pkg.repository),
        ("licenses", &pkg.license),
        ("url", &pkg.homepage),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            l.insert(oci(k), v.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    l.extend(layer.labels.clone().unwrap_or_default());
    l
}
