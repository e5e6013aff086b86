//! Files gantry generates into the user's checkout (Dockerfile, .dockerignore, CI workflows):
//! one set of rules for every command that writes them. A file gantry wrote and nobody touched
//! may be replaced; a hand-edited or foreign file is refused unless forced; `--check` writes
//! nothing and fails when a file on disk is stale. The marker that tells them apart is
//! [`crate::dockerfile::marker`] (`#` comments, which Dockerfiles and YAML share).

use std::path::{Path, PathBuf};

use crate::dockerfile::marker::{self, Provenance};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// One generated file: where it goes and its full text (already stamped).
pub type File = (PathBuf, String);

/// What the user asked the command to do with the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write them, refusing to replace a file gantry did not write (or that was edited since).
    Write,
    /// Write them, replacing whatever is there (`--force`).
    Force,
    /// Write nothing; fail when a file differs from what would be written (`--check`).
    Check,
}

impl Mode {
    pub fn from_flags(check: bool, force: bool) -> Mode {
        match (check, force) {
            (true, _) => Mode::Check,
            (false, true) => Mode::Force,
            (false, false) => Mode::Write,
        }
    }
}

/// How the messages name the command and its output.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    /// The command that regenerates the files (`cargo gantry dockerfile`).
    pub command: &'a str,
    /// What `-o -` prints instead (`the Dockerfile`).
    pub printed: &'a str,
}

/// `--check`, or refuse-then-write, for all files at once: nothing is written when any one of
/// them is refused.
pub fn save(files: &[File], mode: Mode, labels: Labels) -> Result<()> {
    if mode == Mode::Check {
        return check(files, labels);
    }
    refuse_hand_edits(files, mode, labels)?;
    write(files)
}

/// Fail (writing nothing) when a file that would change was not written by gantry or was edited
/// since, unless `mode` is [`Mode::Force`].
pub fn refuse_hand_edits(files: &[File], mode: Mode, labels: Labels) -> Result<()> {
    if mode == Mode::Force {
        return Ok(());
    }
    let refused: Vec<String> = files
        .iter()
        .filter(|(p, new)| differs(p, new))
        .filter_map(|(path, _)| {
            let old = std::fs::read_to_string(path).ok()?;
            match marker::provenance(&old) {
                Provenance::Generated => None,
                Provenance::Edited => Some(format!("`{}` (edited by hand)", path.display())),
                Provenance::Foreign => {
                    Some(format!("`{}` (not written by gantry)", path.display()))
                }
            }
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(
        Error::user(format!("refusing to overwrite {}", refused.join(", "))).with_hint(format!(
            "move your changes into [package.metadata.gantry] (or commit them elsewhere), \
             then pass --force to overwrite; `-o -` prints {} instead",
            labels.printed
        )),
    )
}

/// Write the files that differ from what is on disk (atomically), reporting each on stderr.
pub fn write(files: &[File]) -> Result<()> {
    for (path, text) in files {
        if differs(path, text) {
            write_atomic(path, text.as_bytes())?;
            eprintln!("       Wrote {}", path.display());
        } else {
            eprintln!("   Unchanged {}", path.display());
        }
    }
    Ok(())
}

/// `--check`: every file exists with exactly the text that would be written.
pub fn check(files: &[File], labels: Labels) -> Result<()> {
    let stale: Vec<String> = files
        .iter()
        .filter(|(p, new)| differs(p, new))
        .map(|(p, _)| format!("`{}`", p.display()))
        .collect();
    if stale.is_empty() {
        let names: Vec<String> = files
            .iter()
            .map(|(p, _)| p.file_name().unwrap_or(p.as_os_str()).display().to_string())
            .collect();
        eprintln!("  Up to date {}", names.join(" and "));
        return Ok(());
    }
    Err(
        Error::user(format!("out of date or missing: {}", stale.join(", "))).with_hint(format!(
            "run `{}` (with --force for hand-edited files) and commit the result",
            labels.command
        )),
    )
}

fn differs(path: &Path, new: &str) -> bool {
    std::fs::read_to_string(path).map_or(true, |old| old != new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: Labels = Labels {
        command: "cargo gantry ci github",
        printed: "the workflow",
    };

    fn stamped(body: &str) -> String {
        marker::stamp("0.1.0", "cargo gantry ci github", body)
    }

    #[test]
    fn an_untouched_generated_file_is_replaced_and_an_edited_one_refused_until_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.yml");
        let files = [(path.clone(), stamped("name: a\n"))];
        save(&files, Mode::Write, LABELS).unwrap();
        let newer = [(path.clone(), stamped("name: b\n"))];
        save(&newer, Mode::Write, LABELS).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), newer[0].1);

        let edited = newer[0].1.replace("name: b", "name: mine");
        std::fs::write(&path, &edited).unwrap();
        let err = save(&files, Mode::Write, LABELS).unwrap_err().render();
        assert!(err.contains("(edited by hand)"), "{err}");
        assert!(err.contains("`-o -` prints the workflow instead"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
        save(&files, Mode::Force, LABELS).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), files[0].1);
    }

    #[test]
    fn nothing_is_written_when_one_file_of_several_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&b, "mine\n").unwrap();
        let files = [(a.clone(), stamped("x\n")), (b.clone(), stamped("y\n"))];
        let err = save(&files, Mode::Write, LABELS).unwrap_err().render();
        assert!(err.contains("(not written by gantry)"), "{err}");
        assert!(!a.exists());
    }

    #[test]
    fn check_names_stale_files_and_the_command_that_fixes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.yml");
        let files = [(path.clone(), stamped("name: a\n"))];
        let err = save(&files, Mode::Check, LABELS).unwrap_err().render();
        assert!(err.contains("out of date or missing"), "{err}");
        assert!(err.contains("run `cargo gantry ci github`"), "{err}");
        assert!(!path.exists(), "--check wrote a file");
        save(&files, Mode::Write, LABELS).unwrap();
        save(&files, Mode::Check, LABELS).unwrap();
    }
}
