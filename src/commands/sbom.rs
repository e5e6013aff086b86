//! `cargo gantry sbom`: compile the binary exactly as `build` does (same target directory, so a
//! later `build` is fresh) and write the SBOM of its crates; no image is made.

use std::path::Path;

use cargo_gantry::resolve::{self, Request};
use cargo_gantry::sbom::{Format, Sbom};
use cargo_gantry::settings::{Layer, Profile};
use cargo_gantry::{Error, Result, image, project};

use crate::cli::SbomArgs;

pub fn run(args: &SbomArgs) -> Result<()> {
    let format = Format::parse(&args.format)?;
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let project = project::analyze(&cwd, args.manifest_path.as_deref())?;
    let target = resolve::resolve(
        &project,
        &Request {
            layer: Layer::from_process_env()?,
            cargo: super::cargo_build(&args.build, Profile::Release),
            profile_given: super::profile_given(&args.build),
        },
    )?;
    let created = super::build::source_date_epoch()?;
    let built = image::compile(&project, &target)?;
    let document = Sbom::of_crates(built.crates, created).render(format)?;
    if args.output == Path::new("-") {
        use std::io::Write;
        std::io::stdout()
            .write_all(&document)
            .map_err(|e| Error::failure("failed to write the SBOM to stdout").caused_by(e))
    } else {
        std::fs::write(&args.output, &document).map_err(|e| Error::io("write", &args.output, e))?;
        eprintln!(
            "       Wrote {} SBOM to `{}`",
            format.name(),
            args.output.display()
        );
        Ok(())
    }
}
