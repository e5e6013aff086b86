//! Compile the planned binary on the host with the project's own cargo cache.
//!
//! Reproducibility: the checkout's location and CARGO_HOME are remapped out of the binary
//! (`--remap-path-prefix`, added through `--config` so the project's own rustflags still apply),
//! and gantry builds into its own `target/gantry` directory so that these flags never thrash the
//! user's ordinary `cargo build` artifacts.

use std::path::{Path, PathBuf};

use crate::cargo::{self, Toolchain};
use crate::cross::{self, Cross};
use crate::error::{Error, Result};
use crate::platforms;
use crate::project::Project;
use crate::resolve::Target;
use crate::settings::env;

/// Where in the binary the project's paths appear instead of the host's.
const REMAPPED_SOURCE: &str = "/gantry/src";
const REMAPPED_CARGO_HOME: &str = "/gantry/cargo";

pub struct Built {
    pub executable: PathBuf,
    pub command: String,
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

pub fn compile(project: &Project, plan: &Target) -> Result<Built> {
    let cross = cross_toolchain(project, plan)?;
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
    let mut build = cargo::Build::new(&project.root, Toolchain::Inherited, &cargo);
    build.add_rustflags(&project.cargo_configs, &flags);
    if let Some(cross) = &cross {
        eprintln!(
            "     Linking `{}` for `{}` with {}",
            plan.bin, cross.triple, cross.linker
        );
        build.envs(&cross.env);
    }
    let command = build.command_line();
    eprintln!("   Compiling `{}` with: {command}", plan.bin);
    let compiled = build.run().map_err(|e| {
        e.with_hint("fix the build error above; `cargo build` with the same flags shows it too")
    })?;
    let executable = compiled.executable(&plan.bin).ok_or_else(|| {
        Error::failure(format!("cargo built nothing for the binary `{}`", plan.bin))
            .with_hint("check the binary's required-features; pass them with --features")
    })?;
    Ok(Built {
        executable,
        command,
    })
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os(env::CARGO_HOME)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(env::HOME).map(|h| Path::new(&h).join(".cargo")))
}
