//! Compile the planned binary on the host with the project's own cargo cache.
//!
//! Reproducibility: the checkout's location and CARGO_HOME are remapped out of the binary
//! (`--remap-path-prefix`, added through `--config` so the project's own rustflags still apply),
//! and gantry builds into its own `target/gantry` directory so that these flags never thrash the
//! user's ordinary `cargo build` artifacts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cargo::{self, Toolchain};
use crate::cross::{self, Cross};
use crate::error::{Error, Result};
use crate::platforms;
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

/// The cross toolchain of `plan`'s target when it is another machine's, checked (standard
/// library, linker) without compiling anything: cheap, so a build for several platforms checks
/// all of them before the first compile.
pub fn cross_toolchain(project: &Project, plan: &Target) -> Result<Option<Cross>> {
    let Some(triple) = plan.cargo.target.as_deref() else {
        return Ok(None);
    };
    let host = platforms::host()?;
    if triple == host.gnu || triple == host.musl {
        // the host's own linker links the host's musl target too (rustc ships its crt)
        return Ok(None);
    }
    cross::check_std(&project.root, triple)?;
    let get = |k: &str| std::env::var_os(k);
    let scratch = project.target_directory.join("gantry").join("cross");
    let machine = cross::Machine {
        get: &get,
        root: Path::new("/"),
        scratch: &scratch,
    };
    cross::find(&machine, &project.cargo_configs, plan.platform, triple).map(Some)
}

pub fn compile(project: &Project, target: &Target) -> Result<Built> {
    let mut all = compile_all(project, std::slice::from_ref(target))?;
    Ok(all.remove(0))
}

/// Build every target's binary in one cargo run (shared dependencies compile once), each with
/// its own cargo-auditable dependency list; the results in the order of `targets`.
pub fn compile_all(project: &Project, targets: &[Target]) -> Result<Vec<Built>> {
    let mut cargo = crate::resolve::combined_cargo(targets)?;
    // Every target shares the cargo flags, so one cross toolchain serves them all.
    let cross = cross_toolchain(project, &targets[0])?;
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
    let graphing = std::time::Instant::now();
    let triple = match &cargo.target {
        Some(t) => t.clone(),
        None => cargo::host_triple(&project.root, Toolchain::Inherited)?,
    };
    let graphs = super::cache_dir(&project.target_directory).join("graph");
    let (graph, lookup) = super::graph_cache::resolve_graph(project, &cargo, &triple, &graphs)?;
    let hit = match lookup {
        super::graph_cache::Lookup::Hit => " (cached)",
        super::graph_cache::Lookup::Miss => "",
    };
    crate::timings::record(format!("dependency graph{hit}"), graphing.elapsed());
    let lockfile = project.lockfile.as_deref();
    let dir = cargo.target_dir.clone().unwrap_or_default();
    let mut links = BTreeMap::new();
    let mut embedded = BTreeMap::new();
    for t in targets.iter().filter(|t| t.image.auditable) {
        let crates = Crates::from_metadata(&graph, &t.package, None, lockfile)?;
        let object = dir
            .join("gantry-auditable")
            .join(format!("{}.dep-v0.o", t.bin));
        // rustc's crate name of a bin target.
        links.insert(
            t.bin.replace('-', "_"),
            auditable::link_flags(&crates, t.platform, &object)?,
        );
        embedded.insert(t.bin.clone(), crates);
    }
    let mut build = cargo::Build::new(&project.root, Toolchain::Inherited, &cargo);
    build.add_rustflags(&project.cargo_configs, &flags);
    if !links.is_empty() {
        for (k, v) in auditable::wrapper::environment(&links)? {
            build.env(&k, v);
        }
    }
    if let Some(cross) = &cross {
        eprintln!("     Linking for `{}` with {}", cross.triple, cross.linker);
        build.envs(&cross.env);
    }
    let command = build.command_line();
    let names: Vec<String> = targets.iter().map(|t| format!("`{}`", t.bin)).collect();
    eprintln!("   Compiling {} with: {command}", names.join(", "));
    let compiled = crate::timings::time("cargo build", || build.run()).map_err(|e| {
        let tools = lockfile.and_then(crate::dockerfile::native::missing_tools_hint);
        e.with_hint(tools.unwrap_or_else(|| {
            "fix the build error above; `cargo build` with the same flags shows it too".into()
        }))
    })?;
    let ids = graph::compiled_packages(&compiled.artifacts);
    let mut out = Vec::new();
    for t in targets {
        let executable = compiled.executable(&t.bin).ok_or_else(|| {
            Error::failure(format!("cargo built nothing for the binary `{}`", t.bin))
                .with_hint("check the binary's required-features; pass them with --features")
        })?;
        let crates = Crates::from_metadata(&graph, &t.package, Some(&ids), lockfile)?;
        if let Some(e) = embedded.get(&t.bin).filter(|e| **e != crates) {
            // `cargo metadata` unifies features over the whole workspace; the build does not.
            // The embedded list errs on the side of more (as cargo-auditable's does); the SBOM
            // has the exact one. Said once, as a note: nothing is wrong with the build.
            eprintln!(
                "note: the cargo-auditable list in `{}` names {} crates (cargo's workspace-wide feature \
                 resolution), the build compiled {}; the SBOM lists those {}",
                t.bin,
                e.crates.len(),
                crates.crates.len(),
                crates.crates.len()
            );
        }
        out.push(Built {
            executable,
            command: command.clone(),
            crates,
        });
    }
    Ok(out)
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os(env::CARGO_HOME)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| Path::new(&h).join(".cargo")))
}
