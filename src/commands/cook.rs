use std::path::Path;

use cargo_gantry::settings::Profile;
use cargo_gantry::skeleton::{self, CookOptions};
use cargo_gantry::{Error, Result, timings};

use crate::cli::CookArgs;

pub fn run(args: &CookArgs) -> Result<()> {
    timings::init(args.timings.on);
    let _t = timings::stage("total");
    let dir = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    // Exactly the flags given: the real build is a plain `cargo build` with the same flags, so
    // nothing hidden (metadata, environment) may change what cook compiles.
    let build = super::cargo_build(&args.build, Profile::Dev);
    let report = skeleton::cook(&CookOptions {
        recipe_path: dir.join(&args.recipe_path),
        dir,
        build,
        force: args.force,
    })?;
    eprintln!(
        "      Cooked dependencies ({} skeleton files, {} placeholder units discarded)",
        report.written.len(),
        report.discarded_fingerprints
    );
    if !report.implied_packages.is_empty() {
        eprintln!(
            "note: run the real build as `{}` (cook selected the package of each --bin: cargo \
             unifies features over the selected packages)",
            report.real_build()
        );
    }
    Ok(())
}
