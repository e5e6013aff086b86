//! Thin commands: turn what the user typed into settings, call the library, print the result.

pub mod build;
pub mod ci;
pub mod cook;
pub mod dockerfile;
pub mod healthcheck;
pub mod prepare;
pub mod probe;
pub mod resolve;
pub mod run;
pub mod sbom;
pub mod sign;
pub mod verify;

use crate::cli::BuildArgs;
use cargo_gantry::settings::{CargoBuild, LockMode, Profile, TargetSelection, split_features};

/// The cargo flags exactly as typed; `CargoBuild::with_layer` fills the rest from settings.
pub fn cargo_build(args: &BuildArgs, default_profile: Profile) -> CargoBuild {
    let profile = if args.release {
        Profile::Release
    } else if let Some(p) = &args.profile {
        Profile::parse(p)
    } else {
        default_profile
    };
    let targets = if args.all_targets {
        TargetSelection::AllTargets
    } else if args.tests {
        TargetSelection::Tests
    } else if args.benches {
        TargetSelection::Benches
    } else if args.examples {
        TargetSelection::Examples
    } else {
        TargetSelection::Default
    };
    CargoBuild {
        profile,
        target: args.target.clone(),
        features: split_features(&args.features),
        all_features: args.all_features,
        no_default_features: args.no_default_features,
        packages: args.packages.clone(),
        bins: args.bins.clone(),
        workspace: args.workspace,
        targets,
        lock: LockMode {
            locked: args.locked || args.frozen,
            offline: args.offline || args.frozen,
        },
        target_dir: args.target_dir.clone(),
    }
}

/// Whether the user chose a profile on the command line.
pub fn profile_given(args: &BuildArgs) -> bool {
    args.release || args.profile.is_some()
}
