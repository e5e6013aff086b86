//! `cargo gantry dockerfile`: analyze, resolve settings, plan, render, then write (or check)
//! the Dockerfile and its .dockerignore without ever clobbering a file gantry did not write.

use std::path::{Path, PathBuf};

use cargo_gantry::cargo::{self, Toolchain};
use cargo_gantry::dockerfile::{self, Facts};
use cargo_gantry::generated::{self, Labels, Mode};
use cargo_gantry::resolve::{self, Request};
use cargo_gantry::settings::{CargoBuild, Layer, Profile, Strategy, split_features, split_list};
use cargo_gantry::{Error, Result, assets, process, project};

use crate::cli::DockerfileArgs;

pub fn run(args: &DockerfileArgs) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let project = project::analyze(&cwd, args.manifest_path.as_deref())?;
    // The same resolve as `cargo gantry build`: the flags typed here are settings like any
    // other layer, so `-p`, `--bin`, profile and features win over env and metadata alike.
    let target = resolve::resolve(
        &project,
        &Request {
            layer: cli_layer(args).or(Layer::from_process_env()?),
            cargo: CargoBuild {
                profile: Profile::Release,
                ..CargoBuild::default()
            },
            profile_given: false,
        },
    )?;
    let plan = dockerfile::plan(
        &project,
        &target,
        &Facts::read(&project, &target),
        env!("CARGO_PKG_VERSION"),
    )?;
    if let Some(note) = assets::unshipped_note(&project.root, &target) {
        eprintln!("{note}");
    }
    assets::extra_files(&project.root, &target)?;
    if let Some(why) = &plan.runtime_switch {
        eprintln!("warning: runtime `debian` instead of `distroless`: {why}");
    }
    let rendered = dockerfile::render(&plan);

    if args.output.as_deref() == Some(Path::new("-")) {
        print!("{}", rendered.dockerfile);
        return Ok(());
    }
    let dockerfile_path = match &args.output {
        Some(p) => cwd.join(p),
        None => project.root.join("Dockerfile"),
    };
    // `.dockerignore` must sit at the context root; when the context is not the directory of
    // the Dockerfile, BuildKit reads `<Dockerfile>.dockerignore` next to it instead.
    let plain = plan.context_rel.is_empty() && dockerfile_path == project.root.join("Dockerfile");
    let ignore_path = if plain {
        project.root.join(".dockerignore")
    } else {
        let mut p = dockerfile_path.clone().into_os_string();
        p.push(".dockerignore");
        PathBuf::from(p)
    };
    let files = [
        (dockerfile_path, rendered.dockerfile),
        (ignore_path, rendered.dockerignore),
    ];

    let mode = Mode::from_flags(args.check, args.force);
    let labels = Labels {
        command: "cargo gantry dockerfile",
        printed: "the Dockerfile",
    };
    if mode == Mode::Check {
        return generated::check(&files, labels);
    }
    // Refuse before vendoring: a refusal leaves the checkout as it was.
    generated::refuse_hand_edits(&files, mode, labels)?;
    if plan.strategy == Strategy::Vendor {
        vendor(&project.root, project.lockfile.is_some())?;
    }
    generated::write(&files)
}

/// The vendor strategy copies `vendor/` into the build: make it when it is missing, as the
/// hand-written vendoring recipe does with `cargo vendor` (the Dockerfile adds the source
/// replacement itself). An existing `vendor/` is the user's and is left alone.
fn vendor(root: &Path, locked: bool) -> Result<()> {
    if root.join("vendor").exists() {
        return Ok(());
    }
    let mut cmd = cargo::command(root, Toolchain::Inherited);
    cmd.arg("vendor");
    if locked {
        cmd.arg("--locked");
    }
    cmd.arg("vendor");
    eprintln!(
        "   Vendoring dependencies into `vendor/` (strategy `vendor`): {}",
        process::command_line(&cmd)
    );
    process::output(&mut cmd).map_err(|e| {
        e.with_hint(
            "the vendor strategy needs the dependency sources in `vendor/`: fix the error above \
             and run `cargo vendor --locked vendor`, or choose `--strategy chef`",
        )
    })?;
    // A project without registry dependencies vendors nothing, and cargo then makes no
    // directory; the Dockerfile still copies `vendor/`.
    let dir = root.join("vendor");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    Ok(())
}

/// The flags as a settings layer: they win over env and metadata.
fn cli_layer(args: &DockerfileArgs) -> Layer {
    Layer {
        bin: args.bin.clone(),
        package: args.package.clone(),
        strategy: args.strategy,
        runtime: args.runtime,
        registry_mirror: args.registry_mirror.clone(),
        builder: args.builder.clone(),
        features: Some(split_features(&args.features)).filter(|f| !f.is_empty()),
        profile: args.profile.clone(),
        target: args.target.clone(),
        platforms: Some(split_list(&args.platforms)).filter(|p| !p.is_empty()),
        ..Layer::default()
    }
}
