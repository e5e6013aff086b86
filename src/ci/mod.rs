//! `cargo gantry ci`: CI workflows that build the resolved [`Target`](crate::resolve::Target)
//! with gantry and push it. Pure: [`github::render`] writes down the [`Options`] decided here
//! (registry, platforms, toolchain); the command reads the checkout and writes the file with
//! [`crate::generated`]'s rules.

pub mod github;

use crate::dockerfile::toolchain::ToolchainFile;
use crate::error::{Error, Result};
use crate::platforms::{self, Row};

/// Where the images go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// `ghcr.io/<repository owner>`, whoever runs the workflow: the default, with the job's own
    /// `GITHUB_TOKEN` as the credential.
    GhcrOwner,
    /// `REGISTRY/NAMESPACE` as the user wrote it.
    Named(String),
}

impl Registry {
    /// `HOST[:PORT][/NAMESPACE…]`, lowercase like every registry path (no scheme, no tag).
    pub fn parse(s: &str) -> Result<Registry> {
        let s = s.trim_end_matches('/');
        let host = s.split('/').next().unwrap_or("");
        let valid = !host.is_empty()
            && s.split('/').all(|part| !part.is_empty())
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c) || c == ':'
            })
            && !s
                .split_once('/')
                .is_some_and(|(_, path)| path.contains(':'));
        if !valid {
            return Err(
                Error::user(format!("`{s}` is not a registry to push to")).with_hint(
                    "write `HOST[:PORT]/NAMESPACE` in lowercase, without a scheme or a tag \
                     (for example `ghcr.io/acme` or `registry.example.com:5000/team`)",
                ),
            );
        }
        Ok(if s == "ghcr.io" {
            Registry::GhcrOwner
        } else {
            Registry::Named(s.to_owned())
        })
    }

    /// GitHub's own registry, where the job's token is the credential.
    pub fn is_ghcr(&self) -> bool {
        match self {
            Registry::GhcrOwner => true,
            Registry::Named(s) => s == "ghcr.io" || s.starts_with("ghcr.io/"),
        }
    }
}

/// Everything the workflow writes down besides the target.
#[derive(Debug, Clone)]
pub struct Options {
    /// The gantry the workflow installs: the one that wrote it.
    pub gantry_version: String,
    pub registry: Registry,
    /// `--platform`, passed through to `cargo gantry build` (empty: the runner's own).
    pub platforms: Vec<&'static Row>,
    /// The project's toolchain file, when it has one.
    pub toolchain: Option<ToolchainFile>,
    /// The workspace root relative to the repository root (`""` when they are the same).
    pub working_directory: String,
}

/// `--platform linux/amd64,linux/arm64` (comma separated, repeatable): rows of the platform
/// table, in the order given, without duplicates.
pub fn parse_platforms(values: &[String]) -> Result<Vec<&'static Row>> {
    let mut rows: Vec<&'static Row> = Vec::new();
    for p in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if p.is_empty() {
            continue;
        }
        let row = platforms::TABLE
            .iter()
            .find(|r| r.platform == p)
            .ok_or_else(|| {
                let known: Vec<String> = platforms::TABLE
                    .iter()
                    .map(|r| format!("`{}`", r.platform))
                    .collect();
                Error::user(format!("gantry cannot build for platform `{p}`"))
                    .with_hint(format!("use one of {}", known.join(", ")))
            })?;
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_lowercase_paths_without_scheme_or_tag() {
        assert_eq!(Registry::parse("ghcr.io").unwrap(), Registry::GhcrOwner);
        assert_eq!(
            Registry::parse("ghcr.io/acme/").unwrap(),
            Registry::Named("ghcr.io/acme".into())
        );
        assert!(Registry::parse("ghcr.io/acme").unwrap().is_ghcr());
        let local = Registry::parse("localhost:5000/team").unwrap();
        assert!(!local.is_ghcr());
        for bad in [
            "",
            "https://ghcr.io/acme",
            "ghcr.io/Acme",
            "ghcr.io/acme:v1",
            "ghcr.io//acme",
            "ghcr.io/a b",
        ] {
            let err = Registry::parse(bad).unwrap_err();
            assert!(err.render().contains("hint: write `HOST[:PORT]/NAMESPACE`"));
        }
    }

    #[test]
    fn platforms_are_rows_of_the_table_in_the_order_given() {
        let rows = parse_platforms(&["linux/arm64,linux/amd64".into(), "linux/arm64".into()])
            .unwrap()
            .iter()
            .map(|r| r.platform)
            .collect::<Vec<_>>();
        assert_eq!(rows, ["linux/arm64", "linux/amd64"]);
        let err = parse_platforms(&["linux/mips".into()])
            .unwrap_err()
            .render();
        assert!(err.contains("platform `linux/mips`"), "{err}");
        assert!(err.contains("`linux/amd64`"), "{err}");
    }
}
