//! `cook`: recreate the skeleton from a recipe in an empty directory and compile the
//! dependencies with exactly the flags the real build will use.
//!
//! Afterwards nothing of the placeholders may survive into the real build: the placeholder
//! sources are removed and the local packages' fingerprints are deleted, so cargo rebuilds them
//! from the real sources even when those are older than the cooked artifacts (Docker's COPY keeps
//! the checkout's mtimes, which are usually older than the cook).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cargo::{self, Dirs, Toolchain};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::process;
use crate::settings::CargoBuild;
use crate::skeleton::recipe::Recipe;
use crate::timings;

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
    /// The flags the cook ran with, which the real build needs too.
    pub build: CargoBuild,
    /// Packages cook selected because `--bin` named their binaries and no `-p` was given.
    pub implied_packages: Vec<String>,
}

impl CookReport {
    /// The `cargo build` that reuses everything the cook compiled.
    pub fn real_build(&self) -> String {
        let mut cmd = Command::new("cargo");
        cmd.arg("build").args(self.build.args());
        process::command_line(&cmd)
    }
}

pub fn cook(opts: &CookOptions) -> Result<CookReport> {
    let read = timings::stage("read recipe");
    let recipe = Recipe::load(&opts.recipe_path)?;
    check_request(&recipe, opts)?;
    let plan = plan_writes(&recipe, opts)?;
    drop(read);
    let write = timings::stage("write skeleton");

    let (build, implied_packages) = select_packages(&recipe, &opts.build);
    let mut report = CookReport {
        build,
        implied_packages,
        ..CookReport::default()
    };
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

    drop(write);
    let toolchain = toolchain(&recipe);
    let build = cargo::Build::new(&opts.dir, toolchain, &report.build);
    report.command = build.command_line();
    eprintln!("     Cooking dependencies: {}", report.command);
    let compiled = timings::time("compile dependencies", || build.run()).map_err(|e| {
        // A build tool missing on this machine is the likeliest cause: name it.
        let tools = recipe
            .files
            .get("Cargo.lock")
            .and_then(|lock| crate::dockerfile::native::missing_tools_hint(lock));
        e.with_hint(tools.unwrap_or_else(|| {
            "the dependencies failed to build; the same command fails in the real build".into()
        }))
    })?;
    let _t = timings::stage("discard placeholders");

    let dirs = cargo::dirs(&opts.dir, toolchain, &report.build)?;
    let discarded = discard_local_fingerprints(&dirs, &recipe)?;
    report.discarded_fingerprints = discarded.values().sum();
    // Local packages cooked from their real sources (patch targets) kept their fingerprints.
    let mut placeholders = compiled.local_units();
    placeholders.retain(|name, _| recipe.local_packages.contains(name));
    check_discarded(&placeholders, &discarded, &dirs)?;
    guard.remove()?;
    Ok(report)
}

/// The flags of the cook and of the real build. `--bin X` alone selects every member of the
/// real workspace but only X's closure of the pruned one, and cargo unifies features over the
/// selected packages: naming X's package makes both builds select the same ones.
fn select_packages(recipe: &Recipe, build: &CargoBuild) -> (CargoBuild, Vec<String>) {
    let mut build = build.clone();
    let mut implied = Vec::new();
    if build.packages.is_empty() && !build.workspace {
        for bin in &build.bins {
            if let Some(pkg) = recipe.bins.get(bin)
                && !implied.contains(pkg)
            {
                implied.push(pkg.clone());
            }
        }
        build.packages = implied.clone();
    }
    (build, implied)
}

/// The self-check: every local unit the cook compiled was a placeholder, and a placeholder
/// fingerprint left behind makes the real build ship the placeholder. Each unit has its own
/// fingerprint directory, so each package needs at least as many discarded as it compiled.
fn check_discarded(
    compiled: &BTreeMap<String, usize>,
    discarded: &BTreeMap<String, usize>,
    dirs: &Dirs,
) -> Result<()> {
    let left: Vec<&str> = compiled
        .iter()
        .filter(|(name, n)| discarded.get(*name).copied().unwrap_or(0) < **n)
        .map(|(name, _)| name.as_str())
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    let mut searched = vec![dirs.build.display().to_string()];
    if dirs.target != dirs.build {
        searched.push(dirs.target.display().to_string());
    }
    Err(Error::failure(format!(
        "cook could not discard the placeholder fingerprints of {}: the real build would ship \
         the placeholders",
        left.iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .caused_by(format!(
        "no fingerprint of them under `{}`",
        searched.join("` or `")
    ))
    .with_hint(format!(
        "this cargo layout is not supported yet: please report it with `cargo -V` and your cargo \
         config; until then run `cargo clean{}` (with the cook's --release/--profile/--target) \
         before the real build",
        left.iter().map(|n| format!(" -p {n}")).collect::<String>()
    )))
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
        if !recipe.bins.contains_key(bin) {
            let known = recipe
                .bins
                .keys()
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

/// The toolchain file of the recipe, written into the empty cook directory, must win.
fn toolchain(recipe: &Recipe) -> Toolchain {
    let has_toolchain_file = recipe
        .files
        .keys()
        .any(|k| k.ends_with("rust-toolchain") || k.ends_with("rust-toolchain.toml"));
    if has_toolchain_file {
        Toolchain::FromFile
    } else {
        Toolchain::Inherited
    }
}

/// Delete the fingerprints of the local packages' units under the build directory (and the
/// target directory when it differs), so cargo cannot take a placeholder build for an
/// up-to-date build of the real sources. Returns how many were discarded, by package name.
fn discard_local_fingerprints(dirs: &Dirs, recipe: &Recipe) -> Result<BTreeMap<String, usize>> {
    let locals: BTreeSet<&str> = recipe.local_packages.iter().map(String::as_str).collect();
    let shared: BTreeSet<&str> = recipe.shared_names.iter().map(String::as_str).collect();
    let mut units: BTreeSet<(String, PathBuf)> =
        unit_fingerprints(&dirs.build).into_iter().collect();
    units.extend(unit_fingerprints(&dirs.target));
    let mut discarded = BTreeMap::new();
    for (pkg, unit) in units {
        if !locals.contains(pkg.as_str()) {
            continue;
        }
        // A registry or git package with the same name as a local one: only local compile
        // units record their source files (the placeholders) in their dep-info. Units with no
        // dep-info (build script runs) depend on a compile unit that is rebuilt, which makes
        // cargo rerun them too.
        if shared.contains(pkg.as_str()) && !lists_rust_sources(&unit) {
            continue;
        }
        std::fs::remove_dir_all(&unit).map_err(|e| Error::io("remove", &unit, e))?;
        *discarded.entry(pkg).or_default() += 1;
    }
    Ok(discarded)
}

/// Every unit's fingerprint directory under `root` with its package's name:
/// `[<triple>/]<profile>/.fingerprint/<package>-<hash>`, and in cargo's new build-dir layout
/// (`-Zbuild-dir-new-layout`) `[<triple>/]<profile>/build/<package>/<hash>/fingerprint`.
fn unit_fingerprints(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for profile_dir in profile_dirs(root) {
        for entry in read_dir_sorted(&profile_dir.join(".fingerprint")) {
            let name = entry
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if let Some((pkg, hash)) = name.rsplit_once('-')
                && is_unit_hash(hash)
            {
                out.push((pkg.to_owned(), entry.clone()));
            }
        }
        for pkg_dir in read_dir_sorted(&profile_dir.join("build")) {
            let pkg = pkg_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            for unit in read_dir_sorted(&pkg_dir) {
                let fingerprint = unit.join("fingerprint");
                let hash = unit.file_name().unwrap_or_default().to_string_lossy();
                if is_unit_hash(&hash) && fingerprint.is_dir() {
                    out.push((pkg.clone(), fingerprint));
                }
            }
        }
    }
    out
}

/// `<root>/<profile>` and `<root>/<triple>/<profile>`: the directories that may hold
/// `.fingerprint` or `build`.
fn profile_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in read_dir_sorted(root) {
        if a.join(".fingerprint").is_dir() || a.join("build").is_dir() {
            out.push(a);
        } else {
            out.extend(
                read_dir_sorted(&a)
                    .into_iter()
                    .filter(|b| b.join(".fingerprint").is_dir() || b.join("build").is_dir()),
            );
        }
    }
    out
}

fn is_unit_hash(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The subdirectories of `dir`, sorted; none when it cannot be read.
fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> Dirs {
        Dirs {
            target: PathBuf::from("/w/target"),
            build: PathBuf::from("/w/build"),
        }
    }

    #[test]
    fn self_check_fails_when_a_compiled_placeholder_kept_its_fingerprint() {
        let compiled: BTreeMap<String, usize> = [("app".into(), 2), ("util".into(), 1)].into();
        let discarded: BTreeMap<String, usize> = [("app".into(), 1), ("util".into(), 3)].into();
        let err = check_discarded(&compiled, &discarded, &dirs()).unwrap_err();
        let text = err.render();
        assert!(text.contains("placeholder fingerprints of `app`"), "{text}");
        assert!(!text.contains("`util`"), "{text}");
        assert!(text.contains("`/w/build` or `/w/target`"), "{text}");
        assert!(err.hint().is_some());
        let all: BTreeMap<String, usize> = [("app".into(), 2), ("util".into(), 1)].into();
        assert!(check_discarded(&compiled, &all, &dirs()).is_ok());
    }

    #[test]
    fn finds_unit_fingerprints_of_the_classic_and_the_new_layout() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in [
            "release/.fingerprint/app-0123456789abcdef",
            "x86_64-unknown-linux-gnu/debug/.fingerprint/shared-lib-0123456789abcdef",
            "release/build/app-0123456789abcdef/out",
            "debug/build/util/fedcba9876543210/fingerprint",
            "debug/build/util/fedcba9876543210/out",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        let mut found: Vec<(String, String)> = unit_fingerprints(r)
            .into_iter()
            .map(|(p, d)| (p, d.strip_prefix(r).unwrap().display().to_string()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("app", "release/.fingerprint/app-0123456789abcdef"),
                (
                    "shared-lib",
                    "x86_64-unknown-linux-gnu/debug/.fingerprint/shared-lib-0123456789abcdef"
                ),
                ("util", "debug/build/util/fedcba9876543210/fingerprint"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn bin_without_package_implies_the_package_of_the_bin() {
        let recipe = Recipe {
            gantry_recipe: crate::skeleton::recipe::FORMAT,
            files: BTreeMap::new(),
            dummies: BTreeMap::new(),
            local_packages: vec!["a".into(), "b".into()],
            shared_names: vec![],
            bins: [("a".into(), "pkg-a".into()), ("b".into(), "pkg-b".into())].into(),
        };
        let bins = CargoBuild {
            bins: vec!["a".into()],
            ..CargoBuild::default()
        };
        let (build, implied) = select_packages(&recipe, &bins);
        assert_eq!(implied, ["pkg-a"]);
        assert_eq!(build.packages, ["pkg-a"]);
        let given = CargoBuild {
            packages: vec!["pkg-b".into()],
            ..bins.clone()
        };
        assert_eq!(select_packages(&recipe, &given), (given.clone(), vec![]));
        let workspace = CargoBuild {
            workspace: true,
            ..bins
        };
        assert_eq!(select_packages(&recipe, &workspace).1, Vec::<String>::new());
    }
}
