//! The planner stage: `cargo gantry prepare` sees only the files it reads, so BuildKit can keep
//! its result when only sources change.
//!
//! `prepare` reads every local package's manifest, the lockfile, the toolchain file and cargo
//! config files, and needs every target file to *exist* (cargo's target auto-discovery), not
//! its contents. So the planner bind-mounts exactly those files from the context (BuildKit keys
//! the step on their contents alone) and creates empty placeholders for the target files. An
//! edit to a source file then reuses the planner (no container start, no layer copy of the
//! context), and the cook behind it, as before.
//!
//! The file list is taken when the Dockerfile is generated. A new member or target file makes
//! the Dockerfile stale; the builder checks that the recipe of the whole context is the same
//! and fails with a hint otherwise (`cargo gantry dockerfile --check` finds it earlier, in CI).

use std::collections::BTreeSet;

use super::render::SRC;
use super::text::sh;
use crate::project::{Project, join_rel};

/// What the planner takes from the context, relative to the context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlannerInputs {
    /// Files bind-mounted with their contents.
    pub files: Vec<String>,
    /// Target files created empty (only their existence matters to cargo).
    pub placeholders: Vec<String>,
    /// Some input cannot be named in a `--mount` option (a comma, quote or space in a path) or
    /// lies outside the context: the planner mounts the whole context instead.
    pub whole_context: bool,
}

pub(super) fn inputs(project: &Project, root_in_context: &str) -> PlannerInputs {
    let mut files = BTreeSet::new();
    let mut placeholders = BTreeSet::new();
    let mut whole_context = false;
    let mut add = |set: &mut BTreeSet<String>, rel_to_root: &str| {
        let rel = join_rel(root_in_context, rel_to_root);
        if rel.is_empty() || rel.starts_with("..") || !mountable(&rel) {
            whole_context = true;
        } else {
            set.insert(rel);
        }
    };
    add(&mut files, "Cargo.toml");
    if project.lockfile.is_some() {
        add(&mut files, "Cargo.lock");
    }
    for f in project.toolchain.iter().chain(&project.cargo_configs) {
        // A cargo config above the context cannot be read by the build, with or without this.
        if !join_rel(root_in_context, &f.rel).starts_with("..") {
            add(&mut files, &f.rel);
        }
    }
    for p in &project.packages {
        add(&mut files, &join_rel(&p.dir, "Cargo.toml"));
        for t in &p.targets {
            add(&mut placeholders, &join_rel(&p.dir, &t.src_path));
        }
    }
    // A file that is both (a build script named like a manifest?) is mounted, not emptied.
    let placeholders = placeholders.difference(&files).cloned().collect();
    PlannerInputs {
        files: files.into_iter().collect(),
        placeholders,
        whole_context,
    }
}

/// Plain paths only: `--mount` options are comma-separated `key=value` pairs.
fn mountable(rel: &str) -> bool {
    !rel.is_empty()
        && rel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+@".contains(c))
}

/// The mounts of the planner's RUN and the commands that create the placeholders.
pub(super) fn mounts_and_placeholders(inputs: &PlannerInputs) -> (Vec<String>, Vec<String>) {
    let mounts = inputs
        .files
        .iter()
        .map(|f| format!("--mount=type=bind,source={f},target={SRC}/{f}"))
        .collect();
    let mut cmds = Vec::new();
    let dirs: BTreeSet<String> = inputs
        .placeholders
        .iter()
        .filter_map(|p| p.rsplit_once('/').map(|(dir, _)| format!("{SRC}/{dir}")))
        .collect();
    if !dirs.is_empty() {
        let dirs: Vec<String> = dirs.iter().map(|d| sh(d)).collect();
        cmds.push(format!("mkdir -p {}", dirs.join(" ")));
    }
    if !inputs.placeholders.is_empty() {
        let files: Vec<String> = inputs
            .placeholders
            .iter()
            .map(|p| sh(&format!("{SRC}/{p}")))
            .collect();
        cmds.push(format!("touch {}", files.join(" ")));
    }
    (mounts, cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_get_their_directories_and_files_keep_their_paths() {
        let inputs = PlannerInputs {
            files: vec!["Cargo.lock".into(), "crates/a/Cargo.toml".into()],
            placeholders: vec!["crates/a/src/lib.rs".into(), "build.rs".into()],
            whole_context: false,
        };
        let (mounts, cmds) = mounts_and_placeholders(&inputs);
        assert_eq!(
            mounts,
            [
                "--mount=type=bind,source=Cargo.lock,target=/src/Cargo.lock",
                "--mount=type=bind,source=crates/a/Cargo.toml,target=/src/crates/a/Cargo.toml",
            ]
        );
        assert_eq!(
            cmds,
            [
                "mkdir -p /src/crates/a/src",
                "touch /src/crates/a/src/lib.rs /src/build.rs"
            ]
        );
    }

    #[test]
    fn a_path_a_mount_option_cannot_carry_falls_back_to_the_whole_context() {
        assert!(mountable("crates/my-app_2/src/main.rs"));
        for bad in ["a b/Cargo.toml", "a,b/Cargo.toml", "a\"b", ""] {
            assert!(!mountable(bad), "{bad}");
        }
    }
}
