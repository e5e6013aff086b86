//! Compile the planned binary on the host with the project's own cargo cache.
//!
//! Reproducibility: the checkout's location and CARGO_HOME are remapped out of the binary
//! (`--remap-path-prefix`, added through `--config` so the project's own rustflags still apply),
//! and gantry builds into its own `target/gantry` directory so that these flags never thrash the
//! user's ordinary `cargo build` artifacts.

use std::path::{Path, PathBuf};

use crate::cargo::{self, Toolchain};
use crate::error::{Error, Result};
use crate::project::Project;
use crate::resolve::Target;
use crate::sbom::{Crates, auditable, graph};
use crate::settings::env;

/// Where in the binary the project's paths appear instead of the host's.
const REMAPPED_SOURCE: &str = "/gantry/src";
const REMAPPED_CARGO_HOME: &str = "/gantry/cargo";

pub struct Built {
    pub executable: PathBuf,
    pub command: String,
    /// The crates compiled into the executable: the resolve graph cut to what the build's
    /// compiler-artifact messages report.
    pub crates: Crates,
}

pub fn compile(project: &Project, plan: &Target) -> Result<Built> {
    let mut cargo = plan.cargo.clone();
    if cargo.target_dir.is_none() {
        cargo.target_dir = Some(project.target_directory.join("gantry"));
    }
    let context = crate::project::join_rel("", &project.context_rel());
    let context_abs = crate::project::normalize(&project.root.join(context));
    let mut flags = vec![format!(
        "--remap-path-prefix={}={REMAPPED_SOURCE}",
        context_abs.display()
    )];
    if let Some(home) = cargo_home() {
        flags.push(format!(
            "--remap-path-prefix={}={REMAPPED_CARGO_HOME}",
            home.display()
        ));
    }
    // The resolve graph needs no build: it is known before the link that embeds it.
    let triple = match &cargo.target {
        Some(t) => t.clone(),
        None => cargo::host_triple(&project.root, Toolchain::Inherited)?,
    };
    let graph = cargo::resolve_graph(&project.root, Toolchain::Inherited, &cargo, &triple)?;
    let lockfile = project.lockfile.as_deref();
    let embedded = if plan.image.auditable {
        let crates = Crates::from_metadata(&graph, &plan.package, None, lockfile)?;
        let dir = cargo.target_dir.clone().unwrap_or_default();
        let object = dir
            .join("gantry-auditable")
            .join(format!("{}.dep-v0.o", plan.bin));
        flags.extend(auditable::link_flags(&crates, plan.platform, &object)?);
        Some(crates)
    } else {
        None
    };
    let mut build = cargo::Build::new(&project.root, Toolchain::Inherited, &cargo);
    build.add_rustflags(&project.cargo_configs, &flags);
    let command = build.command_line();
    eprintln!("   Compiling `{}` with: {command}", plan.bin);
    let compiled = build.run().map_err(|e| {
        e.with_hint("fix the build error above; `cargo build` with the same flags shows it too")
    })?;
    let executable = compiled.executable(&plan.bin).ok_or_else(|| {
        Error::failure(format!("cargo built nothing for the binary `{}`", plan.bin))
            .with_hint("check the binary's required-features; pass them with --features")
    })?;
    let compiled = graph::compiled_packages(&compiled.artifacts);
    let crates = Crates::from_metadata(&graph, &plan.package, Some(&compiled), lockfile)?;
    if let Some(embedded) = embedded.filter(|e| *e != crates) {
        // `cargo metadata` unifies features over the whole workspace; the build does not.
        eprintln!(
            "warning: the dependency list embedded in `{}` names {} crates, the build compiled {}",
            plan.bin,
            embedded.crates.len(),
            crates.crates.len()
        );
    }
    Ok(Built {
        executable,
        command,
        crates,
    })
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os(env::CARGO_HOME)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| Path::new(&h).join(".cargo")))
}
