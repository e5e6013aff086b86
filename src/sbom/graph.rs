//! The crates compiled into one binary: the resolve graph of `cargo metadata` (for the target
//! platform and feature set), followed from the binary's package along normal edges only, cut
//! at proc-macros (they run in the compiler, not in the binary), and — when the build reported
//! what it compiled — kept to the packages cargo actually compiled. Cargo.lock only supplies
//! checksums: it also locks dev-dependencies, other platforms' crates and disabled optional
//! dependencies.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cargo_metadata::{DependencyKind, Metadata, Package, PackageId, TargetKind};

use crate::error::{Error, Result};

/// Where a crate comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    CratesIo,
    /// Another registry, by index URL.
    Registry(String),
    /// A git repository: URL and commit.
    Git {
        url: String,
        rev: Option<String>,
    },
    /// A path in (or next to) the project.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    pub source: Source,
    /// An SPDX license expression, as the manifest declares it (`MIT/Apache-2.0` normalized).
    pub license: Option<String>,
    pub repository: Option<String>,
    pub description: Option<String>,
    /// SHA-256 of the `.crate` file, from Cargo.lock.
    pub checksum: Option<String>,
    /// Indices into [`Crates::crates`], sorted.
    pub dependencies: Vec<usize>,
}

impl Crate {
    pub fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }

    /// Where the sources can be downloaded, when that is known.
    pub fn download_url(&self) -> Option<String> {
        match &self.source {
            Source::CratesIo => Some(format!(
                "https://crates.io/api/v1/crates/{}/{}/download",
                self.name, self.version
            )),
            Source::Git { url, rev } => Some(match rev {
                Some(rev) => format!("git+{url}@{rev}"),
                None => format!("git+{url}"),
            }),
            Source::Registry(_) | Source::Local => None,
        }
    }
}

/// The dependency graph of one binary, sorted by (name, version, source): same inputs, same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crates {
    pub crates: Vec<Crate>,
    /// The binary's own package.
    pub root: usize,
}

impl Crates {
    /// The graph of `package`'s binary in `meta` (full metadata, `--filter-platform`). With
    /// `compiled` (package ids from the build's compiler-artifact messages), crates the build
    /// did not compile are left out: metadata unifies features over the whole workspace.
    pub fn from_metadata(
        meta: &Metadata,
        package: &str,
        compiled: Option<&BTreeSet<PackageId>>,
        lockfile: Option<&str>,
    ) -> Result<Crates> {
        let resolve = meta
            .resolve
            .as_ref()
            .ok_or_else(|| Error::failure("`cargo metadata` printed no resolve graph"))?;
        let packages: HashMap<&PackageId, &Package> =
            meta.packages.iter().map(|p| (&p.id, p)).collect();
        let root = meta
            .workspace_members
            .iter()
            .find(|id| packages.get(id).is_some_and(|p| *p.name == *package))
            .ok_or_else(|| {
                Error::failure(format!(
                    "`cargo metadata` lists no workspace member `{package}`"
                ))
            })?;
        let nodes: HashMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
        let in_binary = |id: &PackageId| {
            let runs = packages.get(id).is_some_and(|p| !is_proc_macro(p));
            runs && compiled.is_none_or(|c| c.contains(id))
        };

        // Breadth-first from the root; edges kept by package id until indices are known.
        let mut edges: BTreeMap<&PackageId, BTreeSet<&PackageId>> = BTreeMap::new();
        let mut queue = vec![root];
        edges.insert(root, BTreeSet::new());
        while let Some(id) = queue.pop() {
            let Some(node) = nodes.get(id) else { continue };
            for dep in &node.deps {
                let normal = dep
                    .dep_kinds
                    .iter()
                    .any(|k| k.kind == DependencyKind::Normal);
                if !normal || !in_binary(&dep.pkg) {
                    continue;
                }
                edges.get_mut(id).expect("visited").insert(&dep.pkg);
                if !edges.contains_key(&dep.pkg) {
                    edges.insert(&dep.pkg, BTreeSet::new());
                    queue.push(&dep.pkg);
                }
            }
        }

        let checksums = lockfile.map(checksums).unwrap_or_default();
        let mut crates: Vec<(&PackageId, Crate)> = edges
            .keys()
            .map(|id| {
                let p = packages[id];
                let source = source(p);
                let key = (
                    p.name.to_string(),
                    p.version.to_string(),
                    p.source.as_ref().map(|s| s.repr.clone()),
                );
                let krate = Crate {
                    name: p.name.to_string(),
                    version: p.version.to_string(),
                    checksum: (source != Source::Local)
                        .then(|| checksums.get(&key).cloned())
                        .flatten(),
                    source,
                    license: p.license.as_deref().map(normalize_license),
                    repository: p.repository.clone(),
                    description: p.description.clone(),
                    dependencies: Vec::new(),
                };
                (*id, krate)
            })
            .collect();
        crates.sort_by(|(_, a), (_, b)| {
            (&a.name, &a.version, &a.source).cmp(&(&b.name, &b.version, &b.source))
        });
        let index: HashMap<&PackageId, usize> = crates
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let mut out = Vec::with_capacity(crates.len());
        for (id, mut krate) in crates {
            let mut deps: Vec<usize> = edges[id].iter().map(|d| index[d]).collect();
            deps.sort_unstable();
            krate.dependencies = deps;
            out.push(krate);
        }
        Ok(Crates {
            crates: out,
            root: index[root],
        })
    }

    pub fn root(&self) -> &Crate {
        &self.crates[self.root]
    }
}

/// The packages a build compiled for the binary (not build-script runs).
pub fn compiled_packages(artifacts: &[cargo_metadata::Artifact]) -> BTreeSet<PackageId> {
    artifacts
        .iter()
        .filter(|a| a.target.kind.iter().any(|k| *k != TargetKind::CustomBuild))
        .map(|a| a.package_id.clone())
        .collect()
}

fn is_proc_macro(p: &Package) -> bool {
    p.targets
        .iter()
        .any(|t| t.kind.contains(&TargetKind::ProcMacro))
}

fn source(p: &Package) -> Source {
    let Some(repr) = p.source.as_ref().map(|s| s.repr.as_str()) else {
        return Source::Local;
    };
    if p.source.as_ref().is_some_and(|s| s.is_crates_io()) {
        return Source::CratesIo;
    }
    if let Some(git) = repr.strip_prefix("git+") {
        let (url, rev) = match git.split_once('#') {
            Some((url, rev)) => (url, Some(rev.to_owned())),
            None => (git, None),
        };
        let url = url.split('?').next().unwrap_or(url).to_owned();
        return Source::Git { url, rev };
    }
    let url = repr.split_once('+').map_or(repr, |(_, url)| url);
    Source::Registry(url.to_owned())
}

/// Old manifests write `MIT/Apache-2.0`, which crates.io reads as `MIT OR Apache-2.0`.
fn normalize_license(license: &str) -> String {
    license
        .split('/')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" OR ")
}

type LockKey = (String, String, Option<String>);

/// `(name, version, source) -> checksum` from Cargo.lock (formats 3 and 4).
fn checksums(lockfile: &str) -> HashMap<LockKey, String> {
    let Ok(lock) = lockfile.parse::<toml::Table>() else {
        return HashMap::new();
    };
    let text = |p: &toml::Value, k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    lock.get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let key = (text(p, "name")?, text(p, "version")?, text(p, "source"));
            Some((key, text(p, "checksum")?))
        })
        .collect()
}
