//! One settings value for every command, merged from (highest first) command-line flags,
//! `GANTRY_*` environment variables, `[package.metadata.gantry]` and
//! `[workspace.metadata.gantry]`.
//!
//! Each source becomes a [`Layer`] of optional values; [`Layer::or`] stacks them and the
//! `resolve_*` functions turn the stack into the values the pipeline uses. The cargo flags of
//! `cook` and of the final build are rendered by one function, [`CargoBuild::args`], so the two
//! cannot drift apart.

mod cargo;
mod choice;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use cargo::{CargoBuild, LockMode, Profile, TargetSelection};
pub use choice::{Choice, Runtime, Strategy};

/// Every environment variable gantry reads, in one place.
pub mod env {
    pub const PROFILE: &str = "GANTRY_PROFILE";
    pub const FEATURES: &str = "GANTRY_FEATURES";
    pub const ALL_FEATURES: &str = "GANTRY_ALL_FEATURES";
    pub const NO_DEFAULT_FEATURES: &str = "GANTRY_NO_DEFAULT_FEATURES";
    pub const TARGET: &str = "GANTRY_TARGET";
    /// `linux/amd64,linux/arm64`: the platforms of a multi-platform image.
    pub const PLATFORMS: &str = "GANTRY_PLATFORMS";
    pub const BIN: &str = "GANTRY_BIN";
    pub const PACKAGE: &str = "GANTRY_PACKAGE";
    pub const STRATEGY: &str = "GANTRY_STRATEGY";
    pub const RUNTIME: &str = "GANTRY_RUNTIME";
    pub const BASE: &str = "GANTRY_BASE";
    pub const TAG: &str = "GANTRY_TAG";
    pub const REGISTRY_MIRROR: &str = "GANTRY_REGISTRY_MIRROR";
    pub const BUILDER: &str = "GANTRY_BUILDER";
    pub const REGISTRY_USER: &str = "GANTRY_REGISTRY_USER";
    pub const REGISTRY_PASSWORD: &str = "GANTRY_REGISTRY_PASSWORD";
    pub const ENGINE: &str = "GANTRY_ENGINE";
    /// The private key `sign` uses without `--key`: PEM text, or a path to a PEM file.
    pub const SIGNING_KEY: &str = "GANTRY_SIGNING_KEY";
    /// Where `cargo gantry resolve` pushes: `REGISTRY/PREFIX`.
    pub const REPO: &str = "GANTRY_REPO";
    /// `1` turns on `--timings` for `build`, `cook` and `prepare`.
    pub const TIMINGS: &str = "GANTRY_TIMINGS";
    /// Used by the test suite only: `skip` turns missing Docker into a skip instead of a failure.
    pub const E2E: &str = "GANTRY_E2E";
    /// The reproducible-builds convention for timestamps in outputs.
    pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

    // Read, not owned, by gantry: other tools' variables that change what gantry does.
    /// Set by rustup for the programs it starts: the toolchain it chose and why.
    pub const RUSTUP_TOOLCHAIN: &str = "RUSTUP_TOOLCHAIN";
    pub const RUSTUP_TOOLCHAIN_SOURCE: &str = "RUSTUP_TOOLCHAIN_SOURCE";
    /// cargo's rustflags from the environment, which override every config file.
    pub const RUSTFLAGS: &str = "RUSTFLAGS";
    pub const CARGO_ENCODED_RUSTFLAGS: &str = "CARGO_ENCODED_RUSTFLAGS";
    pub const CARGO_HOME: &str = "CARGO_HOME";
    pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
    pub const HOME: &str = "HOME";
    pub const PATH: &str = "PATH";
    pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
    /// The compiler cargo would use; gantry compiles `gantry-probe` with it.
    pub const RUSTC: &str = "RUSTC";
    /// cargo runs this program around rustc for workspace members only.
    pub const RUSTC_WORKSPACE_WRAPPER: &str = "RUSTC_WORKSPACE_WRAPPER";
    /// Set by gantry for itself as cargo's workspace wrapper: which binaries get which extra
    /// link arguments (the cargo-auditable object), as JSON.
    pub const AUDITABLE_LINKS: &str = "GANTRY_AUDITABLE_LINKS";
    /// The user's own workspace wrapper, which gantry's runs in turn.
    pub const INNER_WORKSPACE_WRAPPER: &str = "GANTRY_INNER_WORKSPACE_WRAPPER";

    /// All `GANTRY_*` variables that feed settings (for `--help` texts and tests).
    pub const SETTINGS: &[&str] = &[
        PROFILE,
        FEATURES,
        ALL_FEATURES,
        NO_DEFAULT_FEATURES,
        TARGET,
        PLATFORMS,
        BIN,
        PACKAGE,
        STRATEGY,
        RUNTIME,
        BASE,
        TAG,
        REGISTRY_MIRROR,
        BUILDER,
    ];
}

/// One source of settings. Field names are the keys of `[package.metadata.gantry]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Layer {
    pub profile: Option<String>,
    pub features: Option<Vec<String>>,
    pub all_features: Option<bool>,
    pub no_default_features: Option<bool>,
    pub target: Option<String>,
    /// OCI platforms (`linux/arm64`) to build for, cross-compiling; several make an image index.
    pub platforms: Option<Vec<String>>,
    pub bin: Option<String>,
    pub package: Option<String>,
    pub strategy: Option<Strategy>,
    pub runtime: Option<Runtime>,
    pub base: Option<String>,
    pub tag: Option<String>,
    pub registry_mirror: Option<String>,
    pub expose: Option<Vec<u16>>,
    pub env: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub extra_files: Option<Vec<String>>,
    pub tzdata: Option<bool>,
    pub native_packages: Option<Vec<String>>,
    pub runtime_packages: Option<Vec<String>>,
    /// A cargo feature of the project that installs a faster global allocator; enabled for musl
    /// builds only (musl's malloc is slow under concurrent load).
    pub allocator_feature: Option<String>,
    /// The builder image, instead of the one derived from the toolchain file or `rust-version`.
    pub builder: Option<String>,
    /// Where `cargo gantry resolve` pushes the images: `REGISTRY/PREFIX`.
    pub repo: Option<String>,
    /// `{ http = URL | tcp = "HOST:PORT", interval, timeout, start-period, retries }`: checked
    /// by `gantry-probe` in the image (see `crate::healthcheck`).
    pub healthcheck: Option<crate::healthcheck::Spec>,
    /// SBOM formats attached to the image: `spdx` (default), `cyclonedx`, `none`.
    pub sbom: Option<Vec<String>>,
    /// Embed the dependency list in the binary, cargo-auditable's way (default true).
    pub auditable: Option<bool>,
    /// Attach SLSA provenance (an in-toto statement) to the image (default true).
    pub provenance: Option<bool>,
}

macro_rules! or_fields {
    ($a:ident, $b:ident, $($f:ident),*) => { Layer { $($f: $a.$f.or($b.$f)),* } };
}

impl Layer {
    /// `self` wins where it has a value; `lower` fills the gaps.
    /// Maps (`env`, `labels`) are merged key by key, the higher layer winning per key.
    pub fn or(self, lower: Layer) -> Layer {
        let env = merge_maps(self.env.clone(), lower.env.clone());
        let labels = merge_maps(self.labels.clone(), lower.labels.clone());
        // A higher layer's check keeps the timings a lower layer set and it leaves open.
        let healthcheck = match self.healthcheck.clone() {
            Some(high) => Some(high.or(lower.healthcheck.clone())),
            None => lower.healthcheck.clone(),
        };
        let mut merged = or_fields!(
            self,
            lower,
            profile,
            features,
            all_features,
            no_default_features,
            target,
            platforms,
            bin,
            package,
            strategy,
            runtime,
            base,
            tag,
            registry_mirror,
            expose,
            env,
            labels,
            user,
            workdir,
            extra_files,
            tzdata,
            native_packages,
            runtime_packages,
            allocator_feature,
            builder,
            repo,
            healthcheck,
            sbom,
            auditable,
            provenance
        );
        merged.env = env;
        merged.labels = labels;
        merged.healthcheck = healthcheck;
        merged
    }

    /// Read `[*.metadata.gantry]` from cargo metadata's JSON for the manifest at `origin`.
    pub fn from_metadata(metadata: &serde_json::Value, origin: &str) -> Result<Layer> {
        match metadata.get("gantry") {
            None | Some(serde_json::Value::Null) => Ok(Layer::default()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                Error::user(format!("invalid `gantry` metadata in `{origin}`"))
                    .caused_by(e)
                    .with_hint("see the README's settings table for the keys gantry understands")
            }),
        }
    }

    /// Read the `GANTRY_*` variables through `get` (the process environment in production).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Layer> {
        let flag = |name: &str| -> Result<Option<bool>> {
            match get(name).as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some("1" | "true" | "yes") => Ok(Some(true)),
                Some("0" | "false" | "no") => Ok(Some(false)),
                Some(other) => Err(Error::user(format!("`{name}={other}` is not a boolean"))
                    .with_hint(format!("set `{name}` to `true` or `false`"))),
            }
        };
        let text = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Ok(Layer {
            profile: text(env::PROFILE),
            features: text(env::FEATURES).map(|v| split_features(&[v])),
            all_features: flag(env::ALL_FEATURES)?,
            no_default_features: flag(env::NO_DEFAULT_FEATURES)?,
            target: text(env::TARGET),
            platforms: text(env::PLATFORMS).map(|v| split_list(&[v])),
            bin: text(env::BIN),
            package: text(env::PACKAGE),
            strategy: text(env::STRATEGY)
                .map(|v| Strategy::parse_in(&v, env::STRATEGY))
                .transpose()?,
            runtime: text(env::RUNTIME)
                .map(|v| Runtime::parse_in(&v, env::RUNTIME))
                .transpose()?,
            base: text(env::BASE),
            tag: text(env::TAG),
            registry_mirror: text(env::REGISTRY_MIRROR),
            builder: text(env::BUILDER),
            ..Layer::default()
        })
    }

    pub fn from_process_env() -> Result<Layer> {
        Layer::from_env(|k| std::env::var(k).ok())
    }
}

fn merge_maps(
    high: Option<BTreeMap<String, String>>,
    low: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    match (high, low) {
        (Some(h), Some(mut l)) => {
            l.extend(h);
            Some(l)
        }
        (h, l) => h.or(l),
    }
}

/// `--features "a b,c"` and repeated flags, as cargo splits them.
pub fn split_features(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([',', ' ']))
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `--platform a,b` and repeated flags: comma or space separated, empty items dropped.
pub fn split_list(values: &[String]) -> Vec<String> {
    split_features(values)
}

/// The default user of images: distroless's `nonroot`, never root.
pub const NONROOT: &str = "65532:65532";

/// What goes into the runtime image besides the binary, from the merged layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSettings {
    /// `auto`, `scratch`, `oci:DIR[:TAG]` or `docker-archive:FILE`.
    pub base: String,
    pub tag: Option<String>,
    pub user: String,
    pub workdir: Option<String>,
    pub env: BTreeMap<String, String>,
    pub expose: Vec<u16>,
    pub labels: BTreeMap<String, String>,
    /// `HOST[:IMAGE]` paths (relative to the package directory) copied into the image.
    pub extra_files: Vec<String>,
    pub tzdata: bool,
    pub healthcheck: Option<crate::healthcheck::Healthcheck>,
    /// SBOM formats as written (`spdx`, `cyclonedx`, `none`); parsed by `sbom::formats`.
    pub sbom: Vec<String>,
    pub auditable: bool,
    pub provenance: bool,
}

impl ImageSettings {
    pub fn from_layer(layer: &Layer) -> ImageSettings {
        ImageSettings {
            base: layer.base.clone().unwrap_or_else(|| "auto".to_owned()),
            tag: layer.tag.clone(),
            user: layer.user.clone().unwrap_or_else(|| NONROOT.to_owned()),
            workdir: layer.workdir.clone(),
            env: layer.env.clone().unwrap_or_default(),
            expose: layer.expose.clone().unwrap_or_default(),
            labels: layer.labels.clone().unwrap_or_default(),
            extra_files: layer.extra_files.clone().unwrap_or_default(),
            tzdata: layer.tzdata.unwrap_or(false),
            healthcheck: layer.healthcheck.as_ref().map(|h| h.resolve()),
            sbom: layer
                .sbom
                .clone()
                .unwrap_or_else(|| vec!["spdx".to_owned()]),
            auditable: layer.auditable.unwrap_or(true),
            provenance: layer.provenance.unwrap_or(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_layer_wins_and_lower_fills_gaps() {
        let cli = Layer {
            profile: Some("release".into()),
            ..Layer::default()
        };
        let meta = Layer {
            profile: Some("dev".into()),
            features: Some(vec!["tls".into()]),
            ..Layer::default()
        };
        let merged = cli.or(meta);
        assert_eq!(merged.profile.as_deref(), Some("release"));
        assert_eq!(merged.features, Some(vec!["tls".to_owned()]));
    }

    #[test]
    fn maps_merge_per_key() {
        let high = Layer {
            env: Some([("A".into(), "1".into())].into()),
            ..Layer::default()
        };
        let low = Layer {
            env: Some([("A".into(), "0".into()), ("B".into(), "2".into())].into()),
            ..Layer::default()
        };
        let env = high.or(low).env.unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "2");
    }

    #[test]
    fn env_layer_parses_lists_and_booleans() {
        let vars: BTreeMap<&str, &str> = [
            (env::FEATURES, "a, b c"),
            (env::NO_DEFAULT_FEATURES, "true"),
            (env::PROFILE, ""),
        ]
        .into();
        let layer = Layer::from_env(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(
            layer.features,
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(layer.no_default_features, Some(true));
        assert_eq!(layer.profile, None);
    }

    #[test]
    fn env_layer_rejects_bad_boolean_with_hint() {
        let err =
            Layer::from_env(|k| (k == env::ALL_FEATURES).then(|| "maybe".to_owned())).unwrap_err();
        assert!(
            err.render()
                .contains("`GANTRY_ALL_FEATURES=maybe` is not a boolean")
        );
        assert!(err.hint().is_some());
    }

    #[test]
    fn metadata_layer_rejects_unknown_keys() {
        let meta = serde_json::json!({"gantry": {"runtime": "static", "colour": "blue"}});
        let err = Layer::from_metadata(&meta, "app/Cargo.toml").unwrap_err();
        let text = err.render();
        assert!(text.contains("`app/Cargo.toml`"), "{text}");
        assert!(text.contains("colour"), "{text}");
    }

    #[test]
    fn cargo_args_are_rendered_in_fixed_order() {
        let build = CargoBuild {
            profile: Profile::Release,
            bins: vec!["server".into()],
            features: vec!["a".into(), "b".into()],
            lock: LockMode {
                locked: true,
                offline: true,
            },
            ..CargoBuild::default()
        };
        assert_eq!(
            build.args(),
            [
                "--release",
                "--bin",
                "server",
                "--features",
                "a,b",
                "--frozen"
            ]
        );
    }

    #[test]
    fn metadata_fills_what_the_command_line_left_open() {
        let layer = Layer {
            profile: Some("dist".into()),
            features: Some(vec!["x".into()]),
            bin: Some("srv".into()),
            ..Layer::default()
        };
        let given = CargoBuild {
            profile: Profile::Release,
            ..CargoBuild::default()
        };
        let b = given.with_layer(&layer, true);
        assert_eq!(b.profile, Profile::Release);
        assert_eq!(b.features, ["x"]);
        assert_eq!(b.bins, ["srv"]);
        let b = CargoBuild::default().with_layer(&layer, false);
        assert_eq!(b.profile, Profile::Named("dist".into()));
    }
}
