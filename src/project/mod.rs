//! Analyze: read what a cargo project is made of, without compiling or resolving anything.
//!
//! `cargo metadata --no-deps` (through `cargo_metadata`) gives the workspace members and their
//! targets; path dependencies outside the workspace and `[patch]` targets are followed with the
//! same command on their own manifests. No registry is contacted, so `prepare` works offline and
//! takes about as long as `cargo metadata --no-deps`.

mod paths;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, TargetKind};

use crate::cargo::Toolchain;

use crate::error::{Error, Result};
use crate::settings::Layer;

pub use paths::{join_rel, normalize, relative_path};

/// A file of the project kept verbatim (toolchain file, cargo config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    /// Relative to the workspace root, `/`-separated; may start with `../`.
    pub rel: String,
    pub contents: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Lib,
    ProcMacro,
    Bin,
    Example,
    Test,
    Bench,
    Build,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub kind: Kind,
    /// Relative to the package directory, `/`-separated.
    pub src_path: String,
    pub required_features: Vec<String>,
    /// Whether `cargo test` builds this target's unit tests (`test = false` turns that off).
    pub test: bool,
}

/// A package whose sources are part of the project: a workspace member, a path dependency
/// (inside or outside the workspace root) or a `[patch]` target.
#[derive(Debug, Clone)]
pub struct LocalPackage {
    pub name: String,
    pub version: String,
    /// The package directory relative to the workspace root (`""` for the root package).
    pub dir: String,
    pub manifest_text: String,
    pub member: bool,
    pub targets: Vec<Target>,
    /// Directories (relative to the workspace root) of the local packages this one depends on.
    pub local_deps: BTreeSet<String>,
    pub settings: Layer,
    pub description: Option<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub homepage: Option<String>,
    pub authors: Vec<String>,
    pub rust_version: Option<String>,
    pub edition: String,
}

impl LocalPackage {
    pub fn bins(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| t.kind == Kind::Bin)
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    /// The workspace root, absolute.
    pub root: PathBuf,
    /// The root manifest's text.
    pub root_manifest: String,
    /// Local packages, sorted by directory.
    pub packages: Vec<LocalPackage>,
    /// `default-members` as package directories, when the manifest sets them.
    pub default_members: Option<Vec<String>>,
    pub lockfile: Option<String>,
    pub toolchain: Option<ProjectFile>,
    pub cargo_configs: Vec<ProjectFile>,
    /// Directories (relative to the root) of `[patch.*]` and `[replace]` path targets.
    pub patch_dirs: BTreeSet<String>,
    /// `[workspace.metadata.gantry]`.
    pub settings: Layer,
    pub target_directory: PathBuf,
    /// The commit checked out at the root, when it is a git checkout (`-dirty` appended when
    /// tracked files have uncommitted changes).
    pub revision: Option<String>,
}

impl Project {
    pub fn package_by_dir(&self, dir: &str) -> Option<&LocalPackage> {
        self.packages.iter().find(|p| p.dir == dir)
    }

    pub fn members(&self) -> impl Iterator<Item = &LocalPackage> {
        self.packages.iter().filter(|p| p.member)
    }

    /// The directory that contains the workspace root and every local package: what a Docker
    /// build context must hold. Relative to the root: `""` or `../..`-style.
    pub fn context_rel(&self) -> String {
        context_rel(&self.packages)
    }

    /// The package that owns binary `bin`.
    pub fn package_of_bin(&self, bin: &str) -> Option<&LocalPackage> {
        self.packages
            .iter()
            .find(|p| p.member && p.bins().any(|t| t.name == bin))
    }
}

/// `..` as many times as the package furthest above the root needs (`""` when none is).
fn context_rel(packages: &[LocalPackage]) -> String {
    let depth = packages
        .iter()
        .map(|p| p.dir.split('/').take_while(|c| *c == "..").count())
        .max()
        .unwrap_or(0);
    vec![".."; depth].join("/")
}

/// Read the project whose manifest is `manifest_path` (a `Cargo.toml`) or, when `None`, the one
/// cargo finds from `cwd`.
pub fn analyze(cwd: &Path, manifest_path: Option<&Path>) -> Result<Project> {
    let meta = metadata(cwd, manifest_path)?;
    let root = meta.workspace_root.clone().into_std_path_buf();
    let root_manifest_path = root.join("Cargo.toml");
    let root_manifest = read(&root_manifest_path)?;

    let mut packages: BTreeMap<PathBuf, LocalPackage> = BTreeMap::new();
    let mut deps_of: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut queue: VecDeque<PathBuf> = VecDeque::new();
    let member_ids: BTreeSet<_> = meta.workspace_members.iter().collect();
    for pkg in meta.packages.iter().filter(|p| member_ids.contains(&p.id)) {
        let lp = local_package(&root, pkg, true)?;
        queue.extend(path_deps(pkg));
        deps_of.insert(manifest_dir(pkg), path_deps(pkg));
        packages.insert(manifest_dir(pkg), lp);
    }
    let patches = patch_paths(&root, &root_manifest)?;
    queue.extend(patches.iter().cloned());

    // Follow path dependencies (and their path dependencies) that are not members.
    while let Some(dir) = queue.pop_front() {
        let dir = paths::normalize(&dir);
        if packages.contains_key(&dir) {
            continue;
        }
        let manifest = dir.join("Cargo.toml");
        let dep_meta = metadata(&dir, Some(&manifest)).map_err(|e| {
            Error::user(format!(
                "failed to read the path dependency at `{}`",
                dir.display()
            ))
            .caused_by(e)
            .with_hint("check the `path = …` entries in your manifests")
        })?;
        let pkg = dep_meta
            .packages
            .iter()
            .find(|p| paths::normalize(p.manifest_path.as_std_path()) == manifest)
            .ok_or_else(|| {
                Error::user(format!("no package in `{}`", manifest.display()))
                    .with_hint("a path dependency must point at a directory with a [package]")
            })?;
        queue.extend(path_deps(pkg));
        deps_of.insert(dir.clone(), path_deps(pkg));
        packages.insert(dir, local_package(&root, pkg, false)?);
    }

    // Now every local package is known: record local dependency edges by directory.
    let dirs: BTreeMap<PathBuf, String> = packages
        .iter()
        .map(|(abs, p)| (abs.clone(), p.dir.clone()))
        .collect();
    for (abs, lp) in packages.iter_mut() {
        lp.local_deps = deps_of[abs]
            .iter()
            .filter_map(|d| dirs.get(d).cloned())
            .collect();
    }

    let mut packages: Vec<LocalPackage> = packages.into_values().collect();
    packages.sort_by(|a, b| a.dir.cmp(&b.dir));

    let default_members = workspace_table(&root_manifest, &root_manifest_path)?
        .and_then(|ws| ws.get("default-members").cloned())
        .map(|_| {
            let ids: BTreeSet<_> = meta.workspace_default_members.iter().collect();
            let mut dirs: Vec<String> = meta
                .packages
                .iter()
                .filter(|p| ids.contains(&p.id))
                .map(|p| relative_path(&root, &manifest_dir(p)))
                .collect();
            dirs.sort();
            dirs
        });

    let lock_path = root.join("Cargo.lock");
    let lockfile = if lock_path.exists() {
        Some(read(&lock_path)?)
    } else {
        None
    };
    let context = paths::normalize(&root.join(context_rel(&packages)));
    Ok(Project {
        toolchain: find_toolchain(&root, &context)?,
        cargo_configs: find_cargo_configs(&root, &context)?,
        settings: Layer::from_metadata(
            &meta.workspace_metadata,
            &root_manifest_path.display().to_string(),
        )?,
        patch_dirs: patches.iter().map(|p| relative_path(&root, p)).collect(),
        target_directory: meta.target_directory.clone().into_std_path_buf(),
        revision: git_revision(&root),
        root,
        root_manifest,
        packages,
        default_members,
        lockfile,
    })
}

fn metadata(cwd: &Path, manifest_path: Option<&Path>) -> Result<Metadata> {
    crate::cargo::metadata(cwd, manifest_path, Toolchain::Inherited).map_err(|e| {
        let where_ = manifest_path.unwrap_or(cwd).display().to_string();
        Error::user(format!("`cargo metadata` failed for `{where_}`"))
            .caused_by(e)
            .with_hint("run gantry in a cargo project (a directory with a Cargo.toml) or pass --manifest-path")
    })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

fn manifest_dir(pkg: &cargo_metadata::Package) -> PathBuf {
    paths::normalize(
        pkg.manifest_path
            .parent()
            .expect("a manifest path has a parent")
            .as_std_path(),
    )
}

fn path_deps(pkg: &cargo_metadata::Package) -> Vec<PathBuf> {
    pkg.dependencies
        .iter()
        .filter_map(|d| d.path.as_ref())
        .map(|p| paths::normalize(p.as_std_path()))
        .collect()
}

fn local_package(root: &Path, pkg: &cargo_metadata::Package, member: bool) -> Result<LocalPackage> {
    let dir = manifest_dir(pkg);
    let targets = pkg
        .targets
        .iter()
        .map(|t| Target {
            name: t.name.clone(),
            kind: target_kind(&t.kind),
            src_path: relative_path(&dir, t.src_path.as_std_path()),
            required_features: t.required_features.clone(),
            test: t.test,
        })
        .collect();
    Ok(LocalPackage {
        name: pkg.name.to_string(),
        version: pkg.version.to_string(),
        dir: relative_path(root, &dir),
        manifest_text: read(pkg.manifest_path.as_std_path())?,
        member,
        targets,
        local_deps: BTreeSet::new(),
        settings: Layer::from_metadata(&pkg.metadata, pkg.manifest_path.as_str())?,
        description: pkg.description.clone(),
        license: pkg.license.clone(),
        repository: pkg.repository.clone(),
        homepage: pkg.homepage.clone(),
        authors: pkg.authors.clone(),
        rust_version: pkg.rust_version.as_ref().map(|v| v.to_string()),
        edition: pkg.edition.to_string(),
    })
}

fn target_kind(kinds: &[TargetKind]) -> Kind {
    match kinds.first() {
        Some(TargetKind::Bin) => Kind::Bin,
        Some(TargetKind::Example) => Kind::Example,
        Some(TargetKind::Test) => Kind::Test,
        Some(TargetKind::Bench) => Kind::Bench,
        Some(TargetKind::CustomBuild) => Kind::Build,
        Some(TargetKind::ProcMacro) => Kind::ProcMacro,
        _ => Kind::Lib,
    }
}

/// The `[workspace]` table of the root manifest, if any.
fn workspace_table(text: &str, path: &Path) -> Result<Option<toml::Table>> {
    let table = parse_toml(text, path)?;
    Ok(table.get("workspace").and_then(|w| w.as_table()).cloned())
}

pub fn parse_toml(text: &str, path: &Path) -> Result<toml::Table> {
    text.parse::<toml::Table>().map_err(|e| {
        Error::user(format!("failed to parse `{}`", path.display()))
            .caused_by(e)
            .with_hint("fix the TOML syntax; `cargo metadata` shows the same error")
    })
}

/// Directories named by `path = …` in `[patch.*]` and `[replace]` of the root manifest.
fn patch_paths(root: &Path, root_manifest: &str) -> Result<Vec<PathBuf>> {
    let table = parse_toml(root_manifest, &root.join("Cargo.toml"))?;
    let mut out = Vec::new();
    let sources = table
        .get("patch")
        .and_then(|p| p.as_table())
        .into_iter()
        .flat_map(|p| p.values());
    let replace = table.get("replace").into_iter();
    for deps in sources.chain(replace) {
        for spec in deps.as_table().into_iter().flat_map(|t| t.values()) {
            if let Some(path) = spec.get("path").and_then(|p| p.as_str()) {
                out.push(paths::normalize(&root.join(path)));
            }
        }
    }
    Ok(out)
}

/// `rust-toolchain.toml` or `rust-toolchain`, nearest first, from the root up to the context, as
/// rustup looks for it.
fn find_toolchain(root: &Path, context: &Path) -> Result<Option<ProjectFile>> {
    for dir in paths::ancestors_within(root, context) {
        for name in ["rust-toolchain", "rust-toolchain.toml"] {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(Some(ProjectFile {
                    rel: relative_path(root, &path),
                    contents: read(&path)?,
                }));
            }
        }
    }
    Ok(None)
}

/// `.cargo/config.toml` (and the legacy `.cargo/config`) from the root up to the context: the
/// files cargo reads when it runs at the root that belong to the project.
fn find_cargo_configs(root: &Path, context: &Path) -> Result<Vec<ProjectFile>> {
    let mut out = Vec::new();
    for dir in paths::ancestors_within(root, context) {
        for name in [".cargo/config.toml", ".cargo/config"] {
            let path = dir.join(name);
            if path.is_file() {
                out.push(ProjectFile {
                    rel: relative_path(root, &path),
                    contents: read(&path)?,
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// `git rev-parse HEAD` at `dir`, if git is there and `dir` is in a checkout.
fn git_revision(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let mut rev = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        rev.push_str("-dirty");
    }
    (!rev.is_empty()).then_some(rev)
}
