//! The cargo flags of a build: one value, rendered by one function, shared by `cook`, the
//! Dockerfile's final build and `cargo gantry build`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Layer;

/// The cargo profile to build with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    Dev,
    Release,
    Named(String),
}

impl Profile {
    pub fn parse(name: &str) -> Profile {
        match name {
            "dev" | "debug" => Profile::Dev,
            "release" => Profile::Release,
            other => Profile::Named(other.to_owned()),
        }
    }

    /// The directory under the target dir that holds this profile's outputs.
    pub fn dir_name(&self) -> &str {
        match self {
            Profile::Dev => "debug",
            Profile::Release => "release",
            Profile::Named(n) if n == "test" => "debug",
            Profile::Named(n) if n == "bench" => "release",
            Profile::Named(n) => n,
        }
    }
}

/// Which targets of the selected packages to build, beyond cargo's default (libs and bins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TargetSelection {
    #[default]
    Default,
    AllTargets,
    Tests,
    Benches,
    Examples,
}

/// How cargo may touch the lockfile and the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LockMode {
    pub locked: bool,
    pub offline: bool,
}

/// Everything that decides how cargo compiles: shared by `cook`, the Dockerfile's final build
/// and `cargo gantry build`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CargoBuild {
    pub profile: Profile,
    pub target: Option<String>,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub packages: Vec<String>,
    pub bins: Vec<String>,
    pub workspace: bool,
    pub targets: TargetSelection,
    pub lock: LockMode,
    pub target_dir: Option<PathBuf>,
}

impl Default for CargoBuild {
    fn default() -> Self {
        CargoBuild {
            profile: Profile::Dev,
            target: None,
            features: Vec::new(),
            all_features: false,
            no_default_features: false,
            packages: Vec::new(),
            bins: Vec::new(),
            workspace: false,
            targets: TargetSelection::Default,
            lock: LockMode::default(),
            target_dir: None,
        }
    }
}

impl CargoBuild {
    /// Fill what the command line left open from the lower layers (env, metadata).
    pub fn with_layer(mut self, layer: &Layer, profile_given: bool) -> CargoBuild {
        if !profile_given && let Some(p) = &layer.profile {
            self.profile = Profile::parse(p);
        }
        if self.features.is_empty() {
            self.features = layer.features.clone().unwrap_or_default();
        }
        self.all_features |= layer.all_features.unwrap_or(false);
        self.no_default_features |= layer.no_default_features.unwrap_or(false);
        if self.target.is_none() {
            self.target = layer.target.clone();
        }
        if self.bins.is_empty() && self.packages.is_empty() {
            if let Some(bin) = &layer.bin {
                self.bins.push(bin.clone());
            } else if let Some(p) = &layer.package {
                self.packages.push(p.clone());
            }
        }
        self
    }

    /// The arguments after `cargo build`, in a fixed order.
    pub fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        match &self.profile {
            Profile::Dev => {}
            Profile::Release => a.push("--release".to_owned()),
            Profile::Named(n) => a.extend(["--profile".to_owned(), n.clone()]),
        }
        if let Some(t) = &self.target {
            a.extend(["--target".to_owned(), t.clone()]);
        }
        if self.workspace {
            a.push("--workspace".to_owned());
        }
        for p in &self.packages {
            a.extend(["-p".to_owned(), p.clone()]);
        }
        for b in &self.bins {
            a.extend(["--bin".to_owned(), b.clone()]);
        }
        match self.targets {
            TargetSelection::Default => {}
            TargetSelection::AllTargets => a.push("--all-targets".to_owned()),
            TargetSelection::Tests => a.push("--tests".to_owned()),
            TargetSelection::Benches => a.push("--benches".to_owned()),
            TargetSelection::Examples => a.push("--examples".to_owned()),
        }
        if !self.features.is_empty() {
            a.extend(["--features".to_owned(), self.features.join(",")]);
        }
        if self.all_features {
            a.push("--all-features".to_owned());
        }
        if self.no_default_features {
            a.push("--no-default-features".to_owned());
        }
        match (self.lock.locked, self.lock.offline) {
            (true, true) => a.push("--frozen".to_owned()),
            (true, false) => a.push("--locked".to_owned()),
            (false, true) => a.push("--offline".to_owned()),
            (false, false) => {}
        }
        if let Some(d) = &self.target_dir {
            a.extend(["--target-dir".to_owned(), d.display().to_string()]);
        }
        a
    }
}
