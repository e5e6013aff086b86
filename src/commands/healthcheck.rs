//! `cargo gantry healthcheck`: the healthcheck the image gets, as the Kubernetes
//! `livenessProbe` that does the same (Kubernetes ignores an image's healthcheck). YAML on
//! stdout, nothing else.

use std::path::Path;

use cargo_gantry::healthcheck::Spec;
use cargo_gantry::resolve::{self, Request};
use cargo_gantry::settings::{CargoBuild, Layer, Profile};
use cargo_gantry::{Error, Result, project};

use crate::cli::HealthcheckArgs;

pub fn run(args: &HealthcheckArgs) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let project = project::analyze(&cwd, args.manifest_path.as_deref())?;
    let layer = Layer {
        bin: args.bin.clone(),
        package: args.package.clone(),
        healthcheck: args
            .healthcheck
            .as_deref()
            .map(Spec::from_url)
            .transpose()?,
        ..Layer::default()
    };
    let target = resolve::resolve(
        &project,
        &Request {
            layer: layer.or(Layer::from_process_env()?),
            cargo: CargoBuild {
                profile: Profile::Release,
                ..CargoBuild::default()
            },
            profile_given: false,
        },
    )?;
    let Some(healthcheck) = &target.image.healthcheck else {
        return Err(
            Error::user(format!("the image of `{}` has no healthcheck", target.bin)).with_hint(
                "set `healthcheck = { http = \"http://127.0.0.1:8080/healthz\" }` in \
             [package.metadata.gantry], or pass --healthcheck URL",
            ),
        );
    };
    print!("{}", healthcheck.kubernetes_liveness_probe());
    Ok(())
}
