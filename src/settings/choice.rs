//! The settings that name one of a fixed set of choices. Typed once here, so a CLI flag, a
//! `GANTRY_*` variable and a metadata key are checked by the same rule and name the same choices.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How `cargo gantry dockerfile` caches dependencies between builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// prepare → recipe, cook into an image layer, then the real build.
    #[default]
    Chef,
    /// `cargo vendor`ed sources in the context, source replacement, offline build.
    Vendor,
    /// BuildKit cache mounts for the registry, git db and target dir.
    Mounts,
}

/// What the image of a generated Dockerfile runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    #[default]
    Distroless,
    Static,
    Scratch,
    Alpine,
    Debian,
}

/// The name a choice is written as, in every source.
pub trait Choice: clap::ValueEnum + Copy {
    /// What the choice is called in messages (`strategy`, `runtime`).
    const WHAT: &'static str;

    /// The value as written in flags, variables and metadata.
    fn name(self) -> &'static str;

    /// Parse a value typed in `origin` (a flag, a variable).
    fn parse_in(value: &str, origin: &str) -> Result<Self> {
        Self::from_str(value.trim(), false).map_err(|_| {
            Error::user(format!(
                "`{origin}` names an unknown {} `{value}`",
                Self::WHAT
            ))
            .with_hint(format!("choose one of {}", Self::listed()))
        })
    }

    fn listed() -> String {
        Self::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| format!("`{}`", p.get_name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Choice for Strategy {
    const WHAT: &'static str = "strategy";
    fn name(self) -> &'static str {
        match self {
            Strategy::Chef => "chef",
            Strategy::Vendor => "vendor",
            Strategy::Mounts => "mounts",
        }
    }
}

impl Choice for Runtime {
    const WHAT: &'static str = "runtime";
    fn name(self) -> &'static str {
        match self {
            Runtime::Distroless => "distroless",
            Runtime::Static => "static",
            Runtime::Scratch => "scratch",
            Runtime::Alpine => "alpine",
            Runtime::Debian => "debian",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_round_trip_through_every_source() {
        for s in Strategy::value_variants() {
            assert_eq!(Strategy::parse_in(s.name(), "x").unwrap(), *s);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
        }
        for r in Runtime::value_variants() {
            assert_eq!(Runtime::parse_in(r.name(), "x").unwrap(), *r);
        }
    }

    #[test]
    fn unknown_choice_names_the_origin_and_the_choices() {
        let err = Runtime::parse_in("alpin", "GANTRY_RUNTIME").unwrap_err();
        assert!(
            err.render().contains("`GANTRY_RUNTIME`"),
            "{}",
            err.render()
        );
        assert!(err.hint().unwrap().contains("`alpine`"));
    }
}
