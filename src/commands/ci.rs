//! `cargo gantry ci github`: resolve the target like `build` does, render the workflow, then
//! write (or check) it under the rules of every generated file.

use std::path::{Path, PathBuf};

use cargo_gantry::ci::{self, Options, Registry};
use cargo_gantry::dockerfile::toolchain::ToolchainFile;
use cargo_gantry::generated::{self, Labels, Mode};
use cargo_gantry::project::relative_path;
use cargo_gantry::resolve::{self, Request};
use cargo_gantry::settings::{CargoBuild, Layer, Profile};
use cargo_gantry::{Error, Result, project};

use crate::cli::{CiCommand, CiGithubArgs};

pub fn run(command: &CiCommand) -> Result<()> {
    match command {
        CiCommand::Github(args) => github(args),
    }
}

fn github(args: &CiGithubArgs) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let project = project::analyze(&cwd, args.manifest_path.as_deref())?;
    let target = resolve::resolve(
        &project,
        &Request {
            layer: Layer {
                bin: args.bin.clone(),
                ..Layer::default()
            }
            .or(Layer::from_process_env()?),
            cargo: CargoBuild {
                profile: Profile::Release,
                ..CargoBuild::default()
            },
            profile_given: false,
        },
    )?;
    let repo = repository_root(&project.root);
    let opts = Options {
        gantry_version: env!("CARGO_PKG_VERSION").to_owned(),
        registry: match &args.registry {
            Some(r) => Registry::parse(r)?,
            None => Registry::GhcrOwner,
        },
        platforms: ci::parse_platforms(&args.platforms)?,
        toolchain: project
            .toolchain
            .as_ref()
            .map(ToolchainFile::parse)
            .transpose()?,
        working_directory: relative_path(&repo, &project.root),
    };
    let text = ci::github::render(&target, &opts);
    if args.output.as_deref() == Some(Path::new("-")) {
        print!("{text}");
        return Ok(());
    }
    let path = match &args.output {
        Some(p) => cwd.join(p),
        None => repo.join(ci::github::PATH),
    };
    generated::save(
        &[(path, text)],
        Mode::from_flags(args.check, args.force),
        Labels {
            command: "cargo gantry ci github",
            printed: "the workflow",
        },
    )
}

/// GitHub reads workflows from the repository root: the nearest directory holding `.git` (a
/// directory, or a file in a worktree), else the workspace root.
fn repository_root(root: &Path) -> PathBuf {
    root.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(root)
        .to_owned()
}
