//! The recipe: everything that decides how a project's dependencies compile, and nothing else.
//!
//! Serialized as pretty JSON with sorted maps and `/`-separated relative paths, so the same
//! project gives the same bytes wherever it is checked out and whatever the file mtimes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bumped whenever a recipe's meaning changes; `cook` refuses any other number.
pub const FORMAT: u32 = 2;

/// What a placeholder source file must contain to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dummy {
    /// A library crate root: no `main`.
    Lib,
    /// A crate with a `main` function: binaries, examples, tests, benches, build scripts.
    Main,
}

impl Dummy {
    /// The placeholder source. The crate doc comment satisfies `missing_docs = "deny"`, and
    /// `allow(warnings)` keeps `-D warnings` in RUSTFLAGS from failing on an empty crate.
    pub fn source(self) -> &'static str {
        match self {
            Dummy::Lib => {
                "//! gantry skeleton placeholder, replaced by the real sources.\n#![allow(warnings)]\n"
            }
            Dummy::Main => {
                "//! gantry skeleton placeholder, replaced by the real sources.\n#![allow(warnings)]\nfn main() {}\n"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The recipe format; see [`FORMAT`].
    pub gantry_recipe: u32,
    /// Files written verbatim, by path relative to the cook directory (the workspace root):
    /// normalized manifests, the masked lockfile, the toolchain file, cargo config files.
    pub files: BTreeMap<String, String>,
    /// Placeholder sources to create for the cook and remove afterwards.
    pub dummies: BTreeMap<String, Dummy>,
    /// Names of the project's local packages: their compiled placeholders are discarded after
    /// the cook so that the real build always compiles them from the real sources.
    pub local_packages: Vec<String>,
    /// Local package names that are also the names of registry or git packages in the graph.
    pub shared_names: Vec<String>,
    /// The bins this recipe can build (`cook --bin` must name one of them), each with the name
    /// of its package: cook selects that package so that the real build can select the same.
    pub bins: BTreeMap<String, String>,
}

impl Recipe {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a recipe always serializes");
        s.push('\n');
        s
    }

    pub fn from_json(text: &str, path: &Path) -> Result<Recipe> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::user(format!("`{}` is not a gantry recipe", path.display()))
                .caused_by(e)
                .with_hint("create it with `cargo gantry prepare --recipe-path …`")
        })?;
        let format = value.get("gantry_recipe").and_then(|v| v.as_u64());
        match format {
            Some(f) if f == u64::from(FORMAT) => {}
            Some(f) => {
                return Err(Error::user(format!(
                    "`{}` has recipe format {f}, but this gantry ({}) reads format {FORMAT}",
                    path.display(),
                    env!("CARGO_PKG_VERSION")
                ))
                .with_hint(
                    "run `cargo gantry prepare` and `cargo gantry cook` with the same gantry version",
                ));
            }
            None => {
                return Err(
                    Error::user(format!("`{}` is not a gantry recipe", path.display()))
                        .with_hint("create it with `cargo gantry prepare --recipe-path …`"),
                );
            }
        }
        serde_json::from_value(value).map_err(|e| {
            Error::user(format!("`{}` is a damaged gantry recipe", path.display()))
                .caused_by(e)
                .with_hint("create it again with `cargo gantry prepare`")
        })
    }

    pub fn load(path: &Path) -> Result<Recipe> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::user(format!("failed to read the recipe `{}`", path.display()))
                .caused_by(e)
                .with_hint("create it with `cargo gantry prepare`, or pass --recipe-path")
        })?;
        let recipe = Recipe::from_json(&text, path)?;
        recipe.check_paths(path)?;
        Ok(recipe)
    }

    /// Every path must stay relative: a recipe must not write outside the cook directory's
    /// context (leading `..` are allowed: path dependencies outside the workspace root).
    fn check_paths(&self, origin: &Path) -> Result<()> {
        for p in self.files.keys().chain(self.dummies.keys()) {
            let mut seen_normal = false;
            let bad = p.is_empty()
                || p.starts_with('/')
                || p.contains('\\')
                || p.contains('\0')
                || p.split('/').any(|c| {
                    let up = c == "..";
                    let bad = c.is_empty() || c == "." || (up && seen_normal);
                    seen_normal |= !up;
                    bad
                });
            if bad {
                return Err(Error::user(format!(
                    "`{}` names an unsafe path `{p}`",
                    origin.display()
                ))
                .with_hint("recreate the recipe with `cargo gantry prepare`"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe {
            gantry_recipe: FORMAT,
            files: [("Cargo.toml".to_owned(), "[package]\n".to_owned())].into(),
            dummies: [("src/main.rs".to_owned(), Dummy::Main)].into(),
            local_packages: vec!["app".into()],
            shared_names: vec![],
            bins: [("app".to_owned(), "app".to_owned())].into(),
        }
    }

    #[test]
    fn round_trips_through_json() {
        let r = recipe();
        assert_eq!(
            Recipe::from_json(&r.to_json(), Path::new("r.json")).unwrap(),
            r
        );
    }

    #[test]
    fn other_format_is_refused_with_hint() {
        let text = recipe()
            .to_json()
            .replace("\"gantry_recipe\": 2", "\"gantry_recipe\": 99");
        let err = Recipe::from_json(&text, Path::new("r.json")).unwrap_err();
        assert!(
            err.render().contains("recipe format 99"),
            "{}",
            err.render()
        );
        assert!(err.hint().unwrap().contains("same gantry version"));
    }

    #[test]
    fn absolute_and_inner_parent_paths_are_refused() {
        for bad in ["/etc/passwd", "a/../../b", "a//b", "./a"] {
            let mut r = recipe();
            r.files.insert(bad.to_owned(), String::new());
            assert!(r.check_paths(Path::new("r.json")).is_err(), "{bad}");
        }
        let mut r = recipe();
        r.files
            .insert("../../shared/Cargo.toml".to_owned(), String::new());
        assert!(r.check_paths(Path::new("r.json")).is_ok());
    }
}
