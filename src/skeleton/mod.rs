//! Dependency caching for container layers: `prepare` turns a [`Project`] into a [`Recipe`];
//! `cook` recreates the skeleton from the recipe and compiles every dependency.

pub mod cook;
mod lockfile;
pub mod manifest;
pub mod recipe;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};
use crate::project::{LocalPackage, Project, join_rel};
pub use cook::{CookOptions, CookReport, cook};
use lockfile::Lockfile;
use manifest::{Normalize, WorkspaceShape};
pub use recipe::{Dummy, Recipe};

/// Which part of the project the recipe must cover.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--bin NAME`: only what these binaries' packages need.
    pub bins: Vec<String>,
    /// `-p NAME`: only what these packages need.
    pub packages: Vec<String>,
}

/// Derive the recipe: normalized manifests, the masked lockfile, toolchain and cargo config.
pub fn prepare(project: &Project, selection: &Selection) -> Result<Recipe> {
    let kept = kept_packages(project, selection)?;
    let kept_pkgs: Vec<&LocalPackage> = project
        .packages
        .iter()
        .filter(|p| kept.contains(&p.dir))
        .collect();

    let mut lock = match &project.lockfile {
        Some(text) => Some(Lockfile::parse(text, &project.root.join("Cargo.lock"))?),
        None => None,
    };
    if let Some(lock) = lock.as_mut()
        && (!selection.bins.is_empty() || !selection.packages.is_empty())
    {
        lock.prune(&kept_pkgs.iter().map(|p| p.name.clone()).collect());
    }

    // A local version can be masked unless it takes part in resolution ([patch] targets), or
    // its name is shared with another package in the graph (then the lockfile spells versions
    // out in references and sorts by them).
    let patch_dirs = &project.patch_dirs;
    let external = lock
        .as_ref()
        .map(Lockfile::external_names)
        .unwrap_or_default();
    let mut name_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &kept_pkgs {
        *name_counts.entry(&p.name).or_default() += 1;
    }
    let lock_counts = lock.as_ref().map(Lockfile::name_counts).unwrap_or_default();
    let masked: Vec<&LocalPackage> = kept_pkgs
        .iter()
        .copied()
        .filter(|p| {
            // One entry per name in the lockfile also rules out a registry/git twin.
            !patch_dirs.contains(&p.dir)
                && name_counts[p.name.as_str()] == 1
                && lock_counts.get(&p.name).copied().unwrap_or(1) <= 1
        })
        .collect();
    let masked_dirs: BTreeSet<String> = masked.iter().map(|p| p.dir.clone()).collect();
    if let Some(lock) = lock.as_mut() {
        lock.mask_versions(&masked.iter().map(|p| p.name.clone()).collect());
    }

    let keep_bins: BTreeSet<String> = selection.bins.iter().cloned().collect();
    let norm = Normalize {
        masked_dirs: &masked_dirs,
        keep_bins: &keep_bins,
    };
    let shape = WorkspaceShape {
        members: kept_pkgs
            .iter()
            .filter(|p| p.member && !p.dir.is_empty())
            .map(|p| p.dir.clone())
            .collect(),
        default_members: project
            .default_members
            .as_ref()
            .map(|d| d.iter().filter(|d| kept.contains(*d)).cloned().collect()),
        keep_version: kept_pkgs
            .iter()
            .any(|p| !masked_dirs.contains(&p.dir) && inherits_version(p)),
    };

    // `[patch]` targets that registry or git crates depend on: those crates compile against
    // them during the cook, so a placeholder breaks them (sqlx-offline's patched `itoa` under
    // serde_json). These are cooked from their real sources, like any dependency.
    let used = lock
        .as_ref()
        .map(Lockfile::depended_on_by_external)
        .unwrap_or_default();
    let mut real: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = kept_pkgs
        .iter()
        .filter(|p| patch_dirs.contains(&p.dir) && !p.dir.is_empty() && used.contains(&p.name))
        .map(|p| p.dir.clone())
        .collect();
    while let Some(dir) = todo.pop() {
        if let Some(p) = project.package_by_dir(&dir).filter(|p| !p.dir.is_empty())
            && real.insert(dir)
        {
            todo.extend(p.local_deps.iter().cloned());
        }
    }

    let mut files = BTreeMap::new();
    let mut dummies = BTreeMap::new();
    if project.package_by_dir("").is_none() {
        let sk = norm.virtual_root(&project.root_manifest, &shape)?;
        files.insert("Cargo.toml".to_owned(), sk.text);
    }
    for pkg in &kept_pkgs {
        let ws = pkg.dir.is_empty().then_some(&shape);
        let sk = norm.package(pkg, ws)?;
        files.insert(join_rel(&pkg.dir, "Cargo.toml"), sk.text);
        if real.contains(&pkg.dir) {
            files.extend(real_sources(&project.root, &pkg.dir)?);
        } else {
            dummies.extend(sk.dummies);
        }
    }
    if let Some(lock) = &lock {
        files.insert("Cargo.lock".to_owned(), lock.render());
    }
    for f in project.toolchain.iter().chain(&project.cargo_configs) {
        files.insert(f.rel.clone(), f.contents.clone());
    }

    // Packages cooked from real sources have no placeholders to discard.
    let mut local_packages: Vec<String> = kept_pkgs
        .iter()
        .filter(|p| !real.contains(&p.dir))
        .map(|p| p.name.clone())
        .collect();
    local_packages.sort();
    local_packages.dedup();
    let shared_names = local_packages
        .iter()
        .filter(|n| external.contains(*n))
        .cloned()
        .collect();
    // The bins a cook can name: declared, `src/main.rs`, or selected with `--bin`.
    let mut bins: BTreeMap<String, String> = BTreeMap::new();
    for p in kept_pkgs.iter().filter(|p| p.member) {
        for t in p.bins() {
            if keep_bins.contains(&t.name) || dummies.contains_key(&join_rel(&p.dir, &t.src_path)) {
                // The first package wins, as in `Project::package_of_bin`.
                bins.entry(t.name.clone()).or_insert_with(|| p.name.clone());
            }
        }
    }
    Ok(Recipe {
        gantry_recipe: recipe::FORMAT,
        files,
        dummies,
        local_packages,
        shared_names,
        bins,
    })
}

/// The text files of the package in `dir` (relative to `root`), but its manifest (normalized
/// by the caller), `target/` and hidden entries. Files that are not UTF-8 (test data, images)
/// are left out: the recipe is text, and compiling a library rarely reads them.
fn real_sources(root: &Path, dir: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(rel) = todo.pop() {
        let abs = root.join(&rel);
        let entries = std::fs::read_dir(&abs).map_err(|e| Error::io("read", &abs, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &abs, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = join_rel(&rel, &name);
            let path = entry.path();
            if name.starts_with('.') || (rel == dir && (name == "target" || name == "Cargo.toml")) {
                continue;
            }
            if path.is_dir() {
                todo.push(child);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.insert(child, text);
            }
        }
    }
    Ok(out)
}

fn inherits_version(p: &LocalPackage) -> bool {
    crate::project::parse_toml(&p.manifest_text, Path::new(&p.dir))
        .ok()
        .and_then(|t| {
            t.get("package")?
                .get("version")?
                .get("workspace")?
                .as_bool()
        })
        .unwrap_or(false)
}

/// Directories of the packages the selection needs: the selected ones, everything they depend
/// on locally, the root package and `[patch]` targets (cargo loads them whatever is built).
fn kept_packages(project: &Project, selection: &Selection) -> Result<BTreeSet<String>> {
    if selection.bins.is_empty() && selection.packages.is_empty() {
        return Ok(project.packages.iter().map(|p| p.dir.clone()).collect());
    }
    let mut roots: Vec<String> = Vec::new();
    for bin in &selection.bins {
        let pkg = project.package_of_bin(bin).ok_or_else(|| {
            let all: Vec<&str> = project
                .members()
                .flat_map(|p| p.bins())
                .map(|t| t.name.as_str())
                .collect();
            Error::user(format!("no binary `{bin}` in this workspace"))
                .with_hint(format!("the binaries are: {}", list_or_none(&all)))
        })?;
        roots.push(pkg.dir.clone());
    }
    for name in &selection.packages {
        let pkg = project.members().find(|p| &p.name == name).ok_or_else(|| {
            let all: Vec<&str> = project.members().map(|p| p.name.as_str()).collect();
            Error::user(format!("no package `{name}` in this workspace"))
                .with_hint(format!("the members are: {}", list_or_none(&all)))
        })?;
        roots.push(pkg.dir.clone());
    }
    roots.push(String::new());
    roots.extend(project.patch_dirs.iter().cloned());
    let mut kept = BTreeSet::new();
    while let Some(dir) = roots.pop() {
        if let Some(p) = project.package_by_dir(&dir)
            && kept.insert(dir)
        {
            roots.extend(p.local_deps.iter().cloned());
        }
    }
    Ok(kept)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
