use std::path::Path;

use cargo_gantry::Result;
use cargo_gantry::fsutil::write_atomic;
use cargo_gantry::skeleton::{self, Selection};
use cargo_gantry::{project, timings};

use crate::cli::PrepareArgs;

pub fn run(args: &PrepareArgs) -> Result<()> {
    timings::init(args.timings.on);
    let _t = timings::stage("total");
    let cwd =
        std::env::current_dir().map_err(|e| cargo_gantry::Error::io("read", Path::new("."), e))?;
    let project = timings::time("analyze", || {
        project::analyze(&cwd, args.manifest_path.as_deref())
    })?;
    if project.lockfile.is_none() {
        eprintln!(
            "warning: `{}` has no Cargo.lock: cook will let cargo resolve versions, which may differ from yours\n\
             hint: run `cargo generate-lockfile` and commit Cargo.lock",
            project.root.display()
        );
    }
    let selection = Selection {
        bins: args.bins.clone(),
        packages: args.packages.clone(),
    };
    let recipe = timings::time("recipe", || skeleton::prepare(&project, &selection))?;
    let _write = timings::stage("write recipe");
    let json = recipe.to_json();
    if args.recipe_path == Path::new("-") {
        print!("{json}");
    } else {
        write_atomic(&cwd.join(&args.recipe_path), json.as_bytes())?;
        eprintln!(
            "    Prepared {} ({} local packages, {} files)",
            args.recipe_path.display(),
            recipe.local_packages.len(),
            recipe.files.len()
        );
    }
    Ok(())
}
