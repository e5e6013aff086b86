//! The dependency graph of a build (`cargo metadata` with dependencies, for the SBOM and the
//! cargo-auditable data), kept between builds under `target/gantry/cache/graph/`.
//!
//! An edit to a source file does not change the graph, yet asking cargo for it costs 40–100 ms
//! on every rebuild, more than anything else gantry does besides compiling. So the graph is
//! stored under a key that hashes everything it is computed from: the lockfile, every local
//! package's manifest and targets (the analysis gantry just did, fresh on every run), the cargo
//! config files cargo reads in the root's ancestors and in CARGO_HOME, the environment cargo and
//! rustup read (`CARGO*`, `RUSTUP*`, `RUSTC*`, `PATH`), the toolchain (`rustc -vV`), the cargo
//! flags, the target and gantry's version. Registry and git packages are pinned by the
//! lockfile. Without a lockfile nothing is kept (the build writes one). A stored graph that
//! does not parse, or names another workspace root, is asked again; a write that fails is not
//! an error (the cache only saves time).

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand};

use crate::cargo::{self, Toolchain};
use crate::error::Result;
use crate::oci::digest::Digest;
use crate::project::Project;
use crate::settings::CargoBuild;

/// Graphs kept, most recently used first.
const KEEP: usize = 8;

/// Whether the graph came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
}

/// The graph `cargo::resolve_graph` gives for this build, from `dir` when an earlier build of
/// the same inputs stored it there.
pub fn resolve_graph(
    project: &Project,
    build: &CargoBuild,
    triple: &str,
    dir: &Path,
) -> Result<(Metadata, Lookup)> {
    let ask = || cargo::resolve_graph(&project.root, Toolchain::Inherited, build, triple);
    let Some(key) = key(project, build, triple)? else {
        return Ok((ask()?, Lookup::Miss));
    };
    let path = dir.join(format!("{key}.json"));
    if let Some(graph) = stored(&path, &project.root) {
        crate::fsutil::touch(&path);
        return Ok((graph, Lookup::Hit));
    }
    let graph = ask()?;
    if let Ok(bytes) = serde_json::to_vec(&graph)
        && crate::fsutil::write_atomic(&path, &bytes).is_ok()
    {
        crate::fsutil::keep_newest(dir, KEEP);
    }
    Ok((graph, Lookup::Miss))
}

/// The key of this build's graph, or `None` when there is no lockfile yet.
fn key(project: &Project, build: &CargoBuild, triple: &str) -> Result<Option<String>> {
    let Some(lockfile) = &project.lockfile else {
        return Ok(None);
    };
    let mut parts: Vec<String> = vec![
        "gantry graph v1".into(),
        env!("CARGO_PKG_VERSION").into(),
        project.root.display().to_string(),
        triple.into(),
        format!("{build:?}"),
        cargo::rustc_version(&project.root, Toolchain::Inherited)?,
        lockfile.clone(),
        project.root_manifest.clone(),
        format!("{:?}", project.packages),
    ];
    for config in config_files(&project.root) {
        let text = std::fs::read(&config).ok();
        parts.push(format!(
            "{}={:?}",
            config.display(),
            text.map(|t| Digest::of(&t))
        ));
    }
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| {
            ["CARGO", "RUSTUP", "RUSTC"]
                .iter()
                .any(|p| k.starts_with(p))
                || k == "PATH"
        })
        .collect();
    vars.sort();
    parts.extend(vars.into_iter().map(|(k, v)| format!("{k}={v}")));
    let joined = parts
        .iter()
        .map(|p| format!("{}:{p}", p.len()))
        .collect::<String>();
    Ok(Some(Digest::of(joined.as_bytes()).hex().to_owned()))
}

/// Every config file cargo may read for a command run in `root`: `.cargo/config(.toml)` in
/// `root` and each of its ancestors, and in CARGO_HOME.
fn config_files(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = root.ancestors().map(|a| a.join(".cargo")).collect();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        dirs.push(home);
    }
    dirs.into_iter()
        .flat_map(|d| [d.join("config"), d.join("config.toml")])
        .collect()
}

fn stored(path: &Path, root: &Path) -> Option<Metadata> {
    let text = std::fs::read_to_string(path).ok()?;
    let graph = MetadataCommand::parse(text).ok()?;
    (graph.workspace_root.as_std_path() == root).then_some(graph)
}
