//! Running child processes (cargo, git, docker) so that a failure names the command line, its
//! exit status and the tail of what it printed on stderr.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::error::{Error, Result};

/// How many trailing lines of stderr a failure report carries.
const STDERR_TAIL_LINES: usize = 20;

/// `program arg arg…` as a user would type it, for messages.
pub fn command_line(cmd: &Command) -> String {
    let mut parts = vec![quote(cmd.get_program())];
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn spawn_error(cmd: &Command, err: std::io::Error) -> Error {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut e = Error::failure(format!("failed to run `{}`", command_line(cmd))).caused_by(err);
    if program == "cargo" || program.ends_with("/cargo") {
        e = e.with_hint("install Rust with rustup (https://rustup.rs) so that `cargo` is on PATH");
    } else {
        e = e.with_hint(format!("install `{program}` or put it on PATH"));
    }
    e
}

fn status_error(cmd: &Command, status: ExitStatus, stderr: &[u8]) -> Error {
    let mut e = Error::failure(format!(
        "`{}` failed ({})",
        command_line(cmd),
        describe(status)
    ));
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
    if !tail.trim().is_empty() {
        e = e.caused_by(tail);
    }
    e
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            match status.signal() {
                Some(sig) => format!("killed by signal {sig}"),
                None => status.to_string(),
            }
        }
    }
}

/// Run and capture stdout and stderr; a non-zero exit is an error carrying the stderr tail.
pub fn output(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(cmd, e))?;
    if !out.status.success() {
        return Err(status_error(cmd, out.status, &out.stderr));
    }
    Ok(out)
}

/// Run with stderr passed through to ours (cargo's progress stays visible) and stdout captured.
pub fn run_stdout_captured(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| spawn_error(cmd, e))?;
    if !out.status.success() {
        return Err(status_error(cmd, out.status, b""));
    }
    Ok(out.stdout)
}

/// A command for `program` in `dir`.
pub fn command(program: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_command_status_and_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo oops >&2; exit 3"]);
        let err = output(&mut cmd).unwrap_err();
        let text = err.render();
        assert!(
            text.contains("`sh -c 'echo oops >&2; exit 3'` failed (exit status 3)"),
            "{text}"
        );
        assert!(text.contains("caused by: oops"), "{text}");
    }

    #[test]
    fn missing_program_is_an_error_with_hint() {
        let err = output(&mut Command::new("gantry-no-such-program")).unwrap_err();
        assert!(err.hint().unwrap().contains("gantry-no-such-program"));
    }
}
