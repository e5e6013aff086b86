//! Plan: Project + settings → what to build, for which binary, with which cargo flags, into which
//! image. Pure: no I/O, so every rule here is unit-tested.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::project::{LocalPackage, Project};
use crate::settings::{CargoBuild, ImageSettings, Layer};

#[derive(Debug, Clone)]
pub struct Plan {
    pub package: String,
    /// The package directory relative to the workspace root.
    pub package_dir: String,
    pub version: String,
    pub bin: String,
    /// The cargo flags of the build (and of `cook`, when a Dockerfile is made from this plan).
    pub cargo: CargoBuild,
    pub image: ImageSettings,
    /// OCI labels/annotations from the package metadata, then the user's labels.
    pub labels: BTreeMap<String, String>,
    /// `NAME:TAG` for outputs that carry a name.
    pub tag: String,
}

/// The settings given on the command line and in the environment, before the package is known.
pub struct Request<'a> {
    /// CLI flags over `GANTRY_*` env.
    pub layer: &'a Layer,
    /// The cargo flags exactly as typed.
    pub cargo: CargoBuild,
    pub profile_given: bool,
}

pub fn plan(project: &Project, req: Request<'_>) -> Result<Plan> {
    // The binary may be named on the command line, in the environment or in workspace metadata.
    let ws_layer = req.layer.clone().or(project.settings.clone());
    let (pkg, bin) = select_bin(project, &req.cargo, &ws_layer)?;
    let layer = req
        .layer
        .clone()
        .or(pkg.settings.clone())
        .or(project.settings.clone());
    let mut cargo = req.cargo.with_layer(&layer, req.profile_given);
    cargo.bins = vec![bin.clone()];
    cargo.packages = vec![pkg.name.clone()];
    let image = ImageSettings::from_layer(&layer);
    let mut labels = metadata_labels(pkg);
    if let Some(rev) = &project.revision {
        labels.insert("org.opencontainers.image.revision".into(), rev.clone());
    }
    labels.extend(image.labels.clone());
    let tag = image
        .tag
        .clone()
        .unwrap_or_else(|| format!("{bin}:{}", pkg.version));
    Ok(Plan {
        package: pkg.name.clone(),
        package_dir: pkg.dir.clone(),
        version: pkg.version.clone(),
        bin,
        cargo,
        image,
        labels,
        tag,
    })
}

/// The one binary to put in the image: named by `--bin`, by `-p` (its only binary), by settings,
/// or the only binary of the (default) members.
pub fn select_bin<'p>(
    project: &'p Project,
    cargo: &CargoBuild,
    layer: &Layer,
) -> Result<(&'p LocalPackage, String)> {
    let bins: Vec<String> = match (&cargo.bins[..], &cargo.packages[..]) {
        ([], []) => layer.bin.iter().cloned().collect(),
        (bins, _) => bins.to_vec(),
    };
    if bins.len() > 1 {
        return Err(Error::user(format!(
            "an image holds one binary, but {} were named",
            bins.len()
        ))
        .with_hint("pass one --bin NAME"));
    }
    if let Some(bin) = bins.first() {
        let pkg = project.package_of_bin(bin).ok_or_else(|| {
            Error::user(format!("no binary `{bin}` in this workspace"))
                .with_hint(format!("the binaries are: {}", names(project.members())))
        })?;
        return Ok((pkg, bin.clone()));
    }
    let packages: Vec<String> = match &cargo.packages[..] {
        [] => layer.package.iter().cloned().collect(),
        p => p.to_vec(),
    };
    let candidates: Vec<&LocalPackage> = if let Some(name) = packages.first() {
        let pkg = project.members().find(|p| &p.name == name).ok_or_else(|| {
            Error::user(format!("no package `{name}` in this workspace")).with_hint(format!(
                "the members are: {}",
                project
                    .members()
                    .map(|p| format!("`{}`", p.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        vec![pkg]
    } else if let Some(defaults) = &project.default_members {
        project
            .members()
            .filter(|p| defaults.contains(&p.dir))
            .collect()
    } else {
        project.members().collect()
    };
    let found: Vec<(&LocalPackage, String)> = candidates
        .iter()
        .flat_map(|p| p.bins().map(move |t| (*p, t.name.clone())))
        .collect();
    match &found[..] {
        [one] => Ok(one.clone()),
        [] => Err(Error::user("there is no binary to put in an image")
            .with_hint("add a [[bin]] target (or src/main.rs), or pick the package with -p")),
        many => Err(Error::user(format!(
            "there are {} binaries: {}",
            many.len(),
            many.iter()
                .map(|(_, b)| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_hint("pass --bin NAME, or set `bin = \"NAME\"` in [workspace.metadata.gantry]")),
    }
}

fn names<'a>(pkgs: impl Iterator<Item = &'a LocalPackage>) -> String {
    let all: Vec<String> = pkgs
        .flat_map(|p| p.bins())
        .map(|t| format!("`{}`", t.name))
        .collect();
    if all.is_empty() {
        "(none)".to_owned()
    } else {
        all.join(", ")
    }
}

/// The standard OCI labels that Cargo metadata can fill.
pub fn metadata_labels(pkg: &LocalPackage) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            labels.insert(format!("org.opencontainers.image.{k}"), v.clone());
        }
    };
    put("title", Some(&pkg.name));
    put("description", pkg.description.as_ref());
    put("version", Some(&pkg.version));
    put("source", pkg.repository.as_ref());
    put("url", pkg.homepage.as_ref());
    put("licenses", pkg.license.as_ref());
    let authors = pkg.authors.join(", ");
    put("authors", Some(&authors));
    labels
}
