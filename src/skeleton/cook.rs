//! `cook`: recreate the skeleton from a recipe in an empty directory and compile the
//! dependencies with exactly the flags the real build will use.
//!
//! Afterwards nothing of the placeholders may survive into the real build: the placeholder
//! sources are removed and the local packages' fingerprints are deleted, so cargo rebuilds them
//! from the real sources even when those are older than the cooked artifacts (Docker's COPY keeps
//! the checkout's mtimes, which are usually older than the cook).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::process;
use crate::settings::CargoBuild;
use crate::settings::env;
use crate::skeleton::recipe::Recipe;

pub struct CookOptions {
    pub recipe_path: PathBuf,
    /// Where the skeleton is created (the directory the real sources are copied into later).
    pub dir: PathBuf,
    pub build: CargoBuild,
    /// Overwrite files that are in the way.
    pub force: bool,
}

#[derive(Debug, Default)]
pub struct CookReport {
    /// Files written (manifests, lockfile, toolchain, config), relative to the cook directory.
    pub written: Vec<String>,
    /// Fingerprint directories of local placeholder units that were discarded.
    pub discarded_fingerprints: usize,
    /// The cargo command that ran.
    pub command: String,
}

pub fn cook(opts: &CookOptions) -> Result<CookReport> {
    let recipe = Recipe::load(&opts.recipe_path)?;
    check_request(&recipe, opts)?;
    let plan = plan_writes(&recipe, opts)?;

    let mut report = CookReport::default();
    for (rel, contents) in &plan.files {
        write_atomic(&opts.dir.join(rel), contents.as_bytes())?;
        report.written.push(rel.clone());
    }
    // From here on the placeholders exist: remove them whatever happens next.
    let mut guard = Placeholders {
        dir: opts.dir.clone(),
        files: Vec::new(),
        dirs: Vec::new(),
    };
    for (rel, dummy) in &recipe.dummies {
        let path = opts.dir.join(rel);
        guard.create_parents(&path)?;
        write_atomic(&path, dummy.source().as_bytes())?;
        guard.files.push(path);
    }

    let mut cmd = cargo(&recipe, &opts.dir);
    cmd.arg("build").args(opts.build.args());
    report.command = process::command_line(&cmd);
    eprintln!("     Cooking dependencies: {}", report.command);
    process::run_stdout_captured(&mut cmd).map_err(|e| {
        e.with_hint("the dependencies failed to build; the same command fails in the real build")
    })?;

    let target_dir = target_dir(&recipe, &opts.dir, &opts.build)?;
    report.discarded_fingerprints = discard_local_fingerprints(&target_dir, &recipe)?;
    guard.remove()?;
    Ok(report)
}

/// Refuse flags the recipe cannot satisfy, before anything is written.
fn check_request(recipe: &Recipe, opts: &CookOptions) -> Result<()> {
    let has_lock = recipe.files.contains_key("Cargo.lock");
    if !has_lock && opts.build.lock.locked {
        return Err(Error::user(format!(
            "`{}` has no Cargo.lock, and --locked forbids generating one",
            opts.recipe_path.display()
        ))
        .with_hint("commit Cargo.lock and run `cargo gantry prepare` again, or drop --locked"));
    }
    if !has_lock {
        eprintln!(
            "warning: the recipe has no Cargo.lock: cargo resolves the dependencies now and writes one\n\
             note: commit Cargo.lock so that cooked and real builds use the same versions"
        );
    }
    for bin in &opts.build.bins {
        if !recipe.bins.contains(bin) {
            let known = recipe
                .bins
                .iter()
                .map(|b| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(
                Error::user(format!("the recipe has no binary `{bin}`")).with_hint(format!(
                    "run `cargo gantry prepare --bin {bin}` (the recipe knows: {})",
                    if known.is_empty() {
                        "no binaries".to_owned()
                    } else {
                        known
                    }
                )),
            );
        }
    }
    Ok(())
}

struct WritePlan {
    files: Vec<(String, String)>,
}

/// Decide what to write; refuse (unless `--force`) when a file that is not ours is in the way,
/// which is also how a cook run by mistake in a real checkout stops before touching anything.
fn plan_writes(recipe: &Recipe, opts: &CookOptions) -> Result<WritePlan> {
    let mut conflicts = Vec::new();
    let mut files = Vec::new();
    for (rel, contents) in &recipe.files {
        match std::fs::read(opts.dir.join(rel)) {
            Ok(existing) if existing == contents.as_bytes() => {}
            Ok(_) => {
                conflicts.push(rel.clone());
                files.push((rel.clone(), contents.clone()));
            }
            Err(_) => files.push((rel.clone(), contents.clone())),
        }
    }
    for rel in recipe.dummies.keys() {
        if opts.dir.join(rel).symlink_metadata().is_ok() {
            conflicts.push(rel.clone());
        }
    }
    if !conflicts.is_empty() && !opts.force {
        let shown: Vec<String> = conflicts.iter().take(5).map(|c| format!("`{c}`")).collect();
        let more = if conflicts.len() > 5 {
            format!(" and {} more", conflicts.len() - 5)
        } else {
            String::new()
        };
        return Err(Error::user(format!(
            "cook would overwrite files in `{}`: {}{more}",
            opts.dir.display(),
            shown.join(", ")
        ))
        .with_hint(
            "cook recreates the project skeleton in an empty directory (in a Dockerfile: before \
             `COPY . .`); run it in a new directory, or pass --force to overwrite",
        ));
    }
    Ok(WritePlan { files })
}

/// A `cargo` command that runs in `dir` with the toolchain the recipe's toolchain file pins.
pub fn cargo(recipe: &Recipe, dir: &Path) -> Command {
    let mut cmd = process::command("cargo", dir);
    let has_toolchain_file = recipe
        .files
        .keys()
        .any(|k| k.ends_with("rust-toolchain") || k.ends_with("rust-toolchain.toml"));
    // rustup exports the toolchain it picked for `cargo gantry` to its children. When it picked
    // it by default (not `+toolchain`, not an explicit RUSTUP_TOOLCHAIN), that choice was made
    // before the toolchain file existed: drop it so the pinned toolchain applies to the cook.
    let source = std::env::var(env::RUSTUP_TOOLCHAIN_SOURCE).unwrap_or_default();
    if has_toolchain_file && source != "cli" && source != "env" {
        cmd.env_remove(env::RUSTUP_TOOLCHAIN)
            .env_remove(env::RUSTUP_TOOLCHAIN_SOURCE);
    }
    cmd
}

/// The target directory cargo used (config, env and `--target-dir` all count).
fn target_dir(recipe: &Recipe, dir: &Path, build: &CargoBuild) -> Result<PathBuf> {
    if let Some(d) = &build.target_dir {
        return Ok(dir.join(d));
    }
    let mut cmd = cargo(recipe, dir);
    cmd.args([
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
        "--offline",
    ]);
    let out = process::output(&mut cmd)?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::failure("`cargo metadata` printed invalid JSON").caused_by(e))?;
    meta.get("target_directory")
        .and_then(|t| t.as_str())
        .map(PathBuf::from)
        .ok_or_else(|| Error::failure("`cargo metadata` did not name a target directory"))
}

/// Delete the fingerprints of the local packages' units (`<target>/[<triple>/]<profile>/
/// .fingerprint/<package>-<hash>`), so cargo cannot take a placeholder build for an up-to-date
/// build of the real sources.
fn discard_local_fingerprints(target_dir: &Path, recipe: &Recipe) -> Result<usize> {
    let locals: BTreeSet<&str> = recipe.local_packages.iter().map(String::as_str).collect();
    let shared: BTreeSet<&str> = recipe.shared_names.iter().map(String::as_str).collect();
    let mut count = 0;
    for fp_dir in fingerprint_dirs(target_dir) {
        let Ok(entries) = std::fs::read_dir(&fp_dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let name = file_name.to_string_lossy();
            let Some((pkg, hash)) = name.rsplit_once('-') else {
                continue;
            };
            if hash.len() != 16
                || !hash.bytes().all(|b| b.is_ascii_hexdigit())
                || !locals.contains(pkg)
            {
                continue;
            }
            // A registry or git package with the same name as a local one: only local compile
            // units record their source files (the placeholders) in their dep-info. Units with
            // no dep-info (build script runs) depend on a compile unit that is rebuilt, which
            // makes cargo rerun them too.
            if shared.contains(pkg) && !lists_rust_sources(&entry.path()) {
                continue;
            }
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| Error::io("remove", &entry.path(), e))?;
            count += 1;
        }
    }
    Ok(count)
}

fn fingerprint_dirs(target_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(level1) = std::fs::read_dir(target_dir) else {
        return out;
    };
    for a in level1.flatten() {
        let fp = a.path().join(".fingerprint");
        if fp.is_dir() {
            out.push(fp);
        } else if let Ok(level2) = std::fs::read_dir(a.path()) {
            out.extend(
                level2
                    .flatten()
                    .map(|b| b.path().join(".fingerprint"))
                    .filter(|p| p.is_dir()),
            );
        }
    }
    out.sort();
    out
}

/// Whether a fingerprint directory's dep-info files name any `.rs` file.
fn lists_rust_sources(unit_dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(unit_dir) else {
        return false;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("dep-"))
        .any(|e| std::fs::read(e.path()).is_ok_and(|bytes| bytes.windows(3).any(|w| w == b".rs")))
}

/// The placeholder sources of one cook and the directories created for them.
struct Placeholders {
    dir: PathBuf,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Placeholders {
    fn create_parents(&mut self, file: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut p = file.parent();
        while let Some(d) = p {
            if d == self.dir || d.exists() {
                break;
            }
            missing.push(d.to_path_buf());
            p = d.parent();
        }
        for d in missing.into_iter().rev() {
            std::fs::create_dir(&d).map_err(|e| Error::io("create directory", &d, e))?;
            self.dirs.push(d);
        }
        Ok(())
    }

    fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        for f in self.files.drain(..) {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &f, e)),
            }
        }
        // Deepest first; a directory something else wrote into stays.
        for d in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(&d);
        }
        Ok(())
    }
}

impl Drop for Placeholders {
    fn drop(&mut self) {
        let _ = self.remove_all();
    }
}
