//! `cargo gantry run`: build the image, load it into the local engine and run it there, removed
//! on exit. gantry then becomes the engine's `run` (exec), so the program's exit status is
//! gantry's, and Ctrl-C reaches the engine directly, which stops the container.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;

use cargo_gantry::engine::Engine;
use cargo_gantry::{Error, Result};

use crate::cli::RunArgs;

pub fn run(args: &RunArgs) -> Result<()> {
    if args.image.build.workspace || args.image.build.bins.len() > 1 {
        return Err(
            Error::user("`cargo gantry run` runs one binary").with_hint("pick it with --bin NAME")
        );
    }
    for p in &args.publish {
        check_publish(p)?;
    }
    let engine = Engine::find()?;
    // `--env` reaches the container, not the image: a run-time setting must not change the
    // image (or its digest) that `build` would make.
    let mut image_args = args.image.clone();
    let env = std::mem::take(&mut image_args.env);
    for e in &env {
        if e.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
            return Err(Error::user(format!("`--env {e}` is not KEY=VALUE"))
                .with_hint("write it as `--env NAME=value`"));
        }
    }
    image_args.load = true;
    let mut built = super::build::build(&image_args)?;
    if built.len() != 1 {
        return Err(
            Error::user("`cargo gantry run` runs one binary").with_hint("pick it with --bin NAME")
        );
    }
    let out = built.remove(0);

    let mut cmd = engine.command();
    // --init: a program that is PID 1 gets no default signal handling from the kernel, so
    // without an init Ctrl-C would not stop it.
    cmd.args(["run", "--rm", "--init"]);
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        cmd.arg("-it");
    } else {
        cmd.arg("-i");
    }
    for p in &args.publish {
        cmd.args(["-p", p]);
    }
    for e in &env {
        cmd.args(["-e", e]);
    }
    cmd.arg(&out.target.tag).args(&args.args);
    eprintln!(
        "     Running `{}` with {}",
        out.target.tag,
        engine.flavor.name()
    );
    let err = cmd.exec();
    Err(Error::failure(format!(
        "failed to run `{}`",
        cargo_gantry::process::command_line(&cmd)
    ))
    .caused_by(err)
    .with_hint("check that the container engine is installed and running"))
}

/// `[IP:]HOST:CONTAINER[/PROTO]` or `CONTAINER`, as the engines take it.
fn check_publish(p: &str) -> Result<()> {
    let ports = p.split('/').next().unwrap_or("");
    let last = ports.rsplit(':').next().unwrap_or("");
    let ok = !last.is_empty()
        && last.chars().all(|c| c.is_ascii_digit() || c == '-')
        && ports
            .rsplit(':')
            .nth(1)
            .is_none_or(|h| h.is_empty() || h.chars().all(|c| c.is_ascii_digit() || c == '-'));
    if ok {
        Ok(())
    } else {
        Err(
            Error::user(format!("`--publish {p}` is not a port mapping"))
                .with_hint("write it as HOST:CONTAINER, e.g. `--publish 8080:8080`"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mappings_are_checked_before_building() {
        for good in [
            "8080:8080",
            "127.0.0.1:8080:80",
            "80",
            "8000-8010:8000-8010",
            "53:53/udp",
        ] {
            assert!(check_publish(good).is_ok(), "{good}");
        }
        for bad in ["", "web:80", "8080:", "a:b"] {
            assert!(check_publish(bad).is_err(), "{bad}");
        }
    }
}
