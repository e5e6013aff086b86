//! The container engine's CLI (`docker` or `podman`), found the way the user's shell finds it:
//! `GANTRY_ENGINE` (a name or a path) wins, else `docker` on PATH, else `podman` on PATH.
//!
//! Which daemon or socket the CLI talks to (`DOCKER_HOST`, `CONTAINER_HOST`, `docker context`,
//! podman's connections) is the CLI's business, not ours: the engine runs with gantry's whole
//! environment, so whatever the user's `docker` would do, ours does.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::settings::env;

/// The CLIs we know, in the order PATH is searched for them.
const KNOWN: &[Flavor] = &[Flavor::Docker, Flavor::Podman];

/// Which CLI dialect the engine speaks. Both accept `load` on stdin; they differ in how they
/// report problems (a daemon for docker, none for podman).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Docker,
    Podman,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Docker => "docker",
            Flavor::Podman => "podman",
        }
    }

    /// The product and where to get it, for install hints.
    pub fn install(self) -> &'static str {
        match self {
            Flavor::Docker => "Docker (https://docs.docker.com/engine/install/)",
            Flavor::Podman => "Podman (https://podman.io/docs/installation)",
        }
    }

    /// The flavor a program's file name suggests: `podman*` is podman, anything else is assumed
    /// to speak docker's CLI (docker itself, or a compatible wrapper).
    fn of(program: &Path) -> Flavor {
        let name = program.file_name().unwrap_or_default().to_string_lossy();
        match name.starts_with("podman") {
            true => Flavor::Podman,
            false => Flavor::Docker,
        }
    }
}

/// Why this engine was picked, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    /// `GANTRY_ENGINE` named it.
    Env,
    /// The first known CLI on PATH.
    Path,
    /// The caller chose the program (tests, or a future `--engine` flag).
    Caller,
}

/// One container engine CLI: the single place gantry runs `docker`/`podman` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub flavor: Flavor,
    pub program: PathBuf,
    pub chosen_by: ChosenBy,
}

impl Engine {
    /// The engine for this process's environment.
    pub fn find() -> Result<Engine> {
        Engine::find_with(|name| std::env::var_os(name))
    }

    /// The engine as `get` (an environment lookup) describes it: `GANTRY_ENGINE`, then PATH.
    pub fn find_with(get: impl Fn(&str) -> Option<OsString>) -> Result<Engine> {
        let path = get(env::PATH).unwrap_or_default();
        let chosen = get(env::ENGINE).filter(|v| !v.to_string_lossy().trim().is_empty());
        if let Some(value) = chosen {
            return from_env(&value, &path);
        }
        for &flavor in KNOWN {
            if let Some(program) = on_path(flavor.name(), &path) {
                return Ok(Engine {
                    flavor,
                    program,
                    chosen_by: ChosenBy::Path,
                });
            }
        }
        Err(
            Error::user("no container engine found: neither `docker` nor `podman` is on PATH")
                .with_hint(format!(
                    "install {} or {}, or set `{}` to the engine's path, or write the image with \
                 `--oci-layout DIR` or `--docker-archive FILE` instead",
                    Flavor::Docker.install(),
                    Flavor::Podman.install(),
                    env::ENGINE
                )),
        )
    }

    /// The program at `program`, as the caller chose it.
    pub fn at(program: impl Into<PathBuf>) -> Engine {
        let program = program.into();
        Engine {
            flavor: Flavor::of(&program),
            program,
            chosen_by: ChosenBy::Caller,
        }
    }

    /// A command running the engine, with gantry's environment (see the module docs).
    pub fn command(&self) -> Command {
        Command::new(&self.program)
    }
}

impl fmt::Display for Engine {
    /// "`podman` (/usr/bin/podman, from GANTRY_ENGINE)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({}", self.flavor.name(), self.program.display())?;
        match self.chosen_by {
            ChosenBy::Env => write!(f, ", from {})", env::ENGINE),
            ChosenBy::Path => write!(f, ", from PATH)"),
            ChosenBy::Caller => write!(f, ")"),
        }
    }
}

/// `GANTRY_ENGINE=docker|podman` is looked up on PATH; anything with a `/` is a path.
fn from_env(value: &OsStr, path: &OsStr) -> Result<Engine> {
    let text = value.to_string_lossy();
    let shown = format!("{}={text}", env::ENGINE);
    if text.contains('/') {
        let program = PathBuf::from(value);
        if !is_executable(&program) {
            return Err(Error::user(format!(
                "`{shown}` is not an executable file"
            ))
            .with_hint(format!(
                "point `{}` at the `docker` or `podman` program, or unset it to use the one on PATH",
                env::ENGINE
            )));
        }
        return Ok(Engine {
            flavor: Flavor::of(&program),
            program,
            chosen_by: ChosenBy::Env,
        });
    }
    let Some(&flavor) = KNOWN.iter().find(|f| f.name() == text.trim()) else {
        return Err(
            Error::user(format!("`{shown}` is not `docker`, `podman` or a path")).with_hint(
                format!(
                    "set `{}` to `docker`, `podman`, or the path of a CLI compatible with them",
                    env::ENGINE
                ),
            ),
        );
    };
    match on_path(flavor.name(), path) {
        Some(program) => Ok(Engine {
            flavor,
            program,
            chosen_by: ChosenBy::Env,
        }),
        None => Err(
            Error::user(format!("`{shown}`, but `{}` is not on PATH", flavor.name())).with_hint(
                format!(
                    "install {}, or set `{}` to the path of the `{}` program",
                    flavor.install(),
                    env::ENGINE,
                    flavor.name()
                ),
            ),
        ),
    }
}

/// The first executable `dir/name` among PATH's directories. Empty entries (the current
/// directory, to a shell) are skipped: running a `docker` from the project is never intended.
pub(crate) fn on_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::Kind;

    /// A directory of stub engines: each a shell script that records its arguments in
    /// `<name>.args` and what it read from stdin in `<name>.stdin`, then says it loaded.
    pub(crate) struct Stubs {
        pub dir: tempfile::TempDir,
    }

    impl Stubs {
        pub(crate) fn new(names: &[&str]) -> Stubs {
            let dir = tempfile::tempdir().unwrap();
            for name in names {
                stub(dir.path(), name);
            }
            Stubs { dir }
        }

        pub(crate) fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// What the stub `name` was called with, one argument a line; `None` if it never ran.
        pub(crate) fn args(&self, name: &str) -> Option<String> {
            std::fs::read_to_string(self.path(&format!("{name}.args"))).ok()
        }

        pub(crate) fn stdin(&self, name: &str) -> PathBuf {
            self.path(&format!("{name}.stdin"))
        }

        /// An environment with only these stubs on PATH, and `GANTRY_ENGINE` if given.
        pub(crate) fn env(&self, engine: Option<&str>) -> impl Fn(&str) -> Option<OsString> {
            let path = self.dir.path().as_os_str().to_owned();
            let engine = engine.map(OsString::from);
            move |name| match name {
                "PATH" => Some(path.clone()),
                "GANTRY_ENGINE" => engine.clone(),
                _ => None,
            }
        }
    }

    pub(crate) fn stub(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        let script = format!(
            "#!/bin/sh\nhere=$(dirname \"$0\")\nprintf '%s\\n' \"$@\" > \"$here/{name}.args\"\n\
             cat > \"$here/{name}.stdin\"\necho \"Loaded image: $*\"\n"
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn docker_on_path_comes_before_podman() {
        let stubs = Stubs::new(&["docker", "podman"]);
        let engine = Engine::find_with(stubs.env(None)).unwrap();
        assert_eq!(engine.flavor, Flavor::Docker);
        assert_eq!(engine.program, stubs.path("docker"));
        assert_eq!(engine.chosen_by, ChosenBy::Path);
        assert_eq!(
            engine.to_string(),
            format!("`docker` ({}, from PATH)", stubs.path("docker").display())
        );
    }

    #[test]
    fn podman_on_path_is_used_when_there_is_no_docker() {
        let stubs = Stubs::new(&["podman"]);
        let engine = Engine::find_with(stubs.env(None)).unwrap();
        assert_eq!(
            (engine.flavor, engine.program),
            (Flavor::Podman, stubs.path("podman"))
        );
    }

    #[test]
    fn the_first_path_directory_with_docker_wins_and_non_executables_are_skipped() {
        let (first, second) = (Stubs::new(&[]), Stubs::new(&["docker"]));
        std::fs::write(first.path("docker"), "not executable").unwrap();
        let path = std::env::join_paths([first.dir.path(), second.dir.path()]).unwrap();
        let engine = Engine::find_with(|name| (name == "PATH").then(|| path.clone())).unwrap();
        assert_eq!(engine.program, second.path("docker"));
    }

    #[test]
    fn gantry_engine_names_podman_even_when_docker_is_on_path() {
        let stubs = Stubs::new(&["docker", "podman"]);
        let engine = Engine::find_with(stubs.env(Some("podman"))).unwrap();
        assert_eq!(engine.program, stubs.path("podman"));
        assert_eq!(engine.chosen_by, ChosenBy::Env);
        assert!(engine.to_string().ends_with(", from GANTRY_ENGINE)"));
    }

    #[test]
    fn gantry_engine_as_a_path_needs_nothing_on_path() {
        let elsewhere = Stubs::new(&["podman-remote"]);
        let on_path = Stubs::new(&["docker"]);
        let program = elsewhere.path("podman-remote");
        let engine = Engine::find_with(on_path.env(Some(program.to_str().unwrap()))).unwrap();
        assert_eq!(
            (engine.flavor, engine.program.clone()),
            (Flavor::Podman, program)
        );
        assert_eq!(engine.chosen_by, ChosenBy::Env);
    }

    #[test]
    fn a_wrong_gantry_engine_is_a_user_error_naming_the_value() {
        let stubs = Stubs::new(&["docker"]);
        let cases = [
            (
                "nerdctl",
                "`GANTRY_ENGINE=nerdctl` is not `docker`, `podman` or a path",
            ),
            (
                "podman",
                "`GANTRY_ENGINE=podman`, but `podman` is not on PATH",
            ),
            (
                "/no/such/docker",
                "`GANTRY_ENGINE=/no/such/docker` is not an executable file",
            ),
        ];
        for (value, message) in cases {
            let err = Engine::find_with(stubs.env(Some(value))).unwrap_err();
            assert_eq!((err.kind(), err.message()), (Kind::User, message));
            assert!(err.hint().unwrap().contains("GANTRY_ENGINE"), "{value}");
        }
    }

    #[test]
    fn no_engine_is_one_user_error_with_every_way_out_in_the_hint() {
        let stubs = Stubs::new(&[]);
        for engine in [None, Some(""), Some("  ")] {
            let err = Engine::find_with(stubs.env(engine)).unwrap_err();
            assert_eq!(err.kind(), Kind::User);
            assert_eq!(
                err.message(),
                "no container engine found: neither `docker` nor `podman` is on PATH"
            );
            let hint = err.hint().unwrap();
            for way in [
                "Docker",
                "Podman",
                "GANTRY_ENGINE",
                "--oci-layout",
                "--docker-archive",
            ] {
                assert!(hint.contains(way), "{way} in {hint}");
            }
        }
    }

    #[test]
    fn an_unset_path_finds_nothing_and_relative_path_entries_are_ignored() {
        let err = Engine::find_with(|_| None).unwrap_err();
        assert!(err.message().starts_with("no container engine found"));
        // a `docker` in the current directory, reached through an empty or relative entry
        let stubs = Stubs::new(&["docker"]);
        let up = std::env::current_dir().unwrap().components().count() - 1;
        let relative: PathBuf = std::iter::repeat_n(Path::new(".."), up)
            .chain([stubs.dir.path().strip_prefix("/").unwrap()])
            .collect();
        assert!(is_executable(&relative.join("docker")), "{relative:?}");
        let path = std::env::join_paths([Path::new(""), &relative]).unwrap();
        assert_eq!(on_path("docker", &path), None);
    }
}
