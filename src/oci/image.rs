//! `Image`: layers, an OCI config and manifest annotations, and its canonical rendering.
//!
//! Rendering is deterministic: JSON keys are sorted at every level (oci-spec keeps labels,
//! annotations and exposed ports in `HashMap`s, whose order changes from run to run), there is
//! no whitespace, and nothing is timestamped unless the caller says so. Same value, same digest.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Config, Descriptor, History, ImageConfiguration, ImageManifest, ImageManifestBuilder,
    MediaType, RootFs, SCHEMA_VERSION,
};
use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::oci::artifact::Artifact;
use crate::oci::digest::Digest;
use crate::oci::layer::Layer;
use crate::oci::platform::Platform;

/// An image ready to publish: what `image::build` produces and every publisher consumes.
#[derive(Clone, Debug)]
pub struct Image {
    layers: Vec<Layer>,
    /// Everything in the config except `config` (kept in `runtime`) and `rootfs` (derived from
    /// `layers` when rendering, so the two can never disagree).
    config: ImageConfiguration,
    runtime: Config,
    /// Docker's `config.Healthcheck`, which oci-spec's `Config` has no field for; added when
    /// rendering, and only when set, so images without one render exactly as before.
    healthcheck: Option<Healthcheck>,
    annotations: BTreeMap<String, String>,
    /// Artifacts that refer to this image (SBOMs); not part of its manifest or digest.
    referrers: Vec<Artifact>,
}

/// Docker's healthcheck in an image config (`docker inspect`'s `Config.Healthcheck`): the
/// command in exec form (`["CMD", program, args…]`), durations in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub retries: u32,
}

/// The JSON documents of an image, exactly as they are stored and hashed.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

impl Rendered {
    /// The descriptor an `index.json` uses to point at this manifest.
    pub fn manifest_descriptor(&self) -> Descriptor {
        let size = self.manifest.len() as u64;
        Descriptor::new(MediaType::ImageManifest, size, &self.manifest_digest)
    }
}

impl Image {
    /// An image with no layers, created at the epoch (set a real time with `set_created`).
    pub fn new(platform: &Platform) -> Image {
        let mut config = ImageConfiguration::default();
        config
            .set_architecture(platform.architecture.clone())
            .set_os(platform.os.clone())
            .set_variant(platform.variant.clone())
            .set_created(Some(rfc3339(0)));
        Image {
            layers: Vec::new(),
            config,
            runtime: Config::default(),
            healthcheck: None,
            annotations: BTreeMap::new(),
            referrers: Vec::new(),
        }
    }

    /// An image read from disk: its config must list exactly the layers' diff_ids, in order.
    pub fn from_parts(mut config: ImageConfiguration, layers: Vec<Layer>) -> Result<Image> {
        let listed = config.rootfs().diff_ids();
        if listed.len() != layers.len() {
            let (n, m) = (listed.len(), layers.len());
            return Err(Error::user(format!(
                "image config lists {n} diff_ids for {m} layers"
            )));
        }
        for (i, (listed, layer)) in listed.iter().zip(&layers).enumerate() {
            if listed != layer.diff_id().as_str() {
                return Err(Error::user(format!(
                    "layer {i} has diff_id `{}` but the image config lists `{listed}`",
                    layer.diff_id()
                )));
            }
        }
        let runtime = config.config().clone().unwrap_or_default();
        config.set_config(None);
        Ok(Image {
            layers,
            config,
            runtime,
            healthcheck: None,
            annotations: BTreeMap::new(),
            referrers: Vec::new(),
        })
    }

    pub fn platform(&self) -> Platform {
        Platform {
            os: self.config.os().clone(),
            architecture: self.config.architecture().clone(),
            variant: self.config.variant().clone(),
        }
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Append a layer on top, with a history entry saying what made it.
    pub fn push_layer(&mut self, layer: Layer, created_by: &str) {
        let mut history = History::default();
        history.set_created_by(Some(created_by.to_owned()));
        self.config
            .history_mut()
            .get_or_insert_with(Vec::new)
            .push(history);
        self.layers.push(layer);
    }

    /// The whole config as it will be rendered (runtime config and rootfs included), but for
    /// the healthcheck (see [`Image::healthcheck`]).
    pub fn config(&self) -> ImageConfiguration {
        let mut config = self.config.clone();
        let diff_ids = self
            .layers
            .iter()
            .map(|l| l.diff_id().to_string())
            .collect();
        let mut rootfs = RootFs::default();
        rootfs.set_diff_ids(diff_ids);
        config
            .set_rootfs(rootfs)
            .set_config(Some(self.runtime.clone()));
        config
    }

    /// Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts, Labels (oci-spec setters).
    pub fn runtime(&mut self) -> &mut Config {
        &mut self.runtime
    }

    /// Set (or clear) Docker's healthcheck.
    pub fn set_healthcheck(&mut self, healthcheck: Option<Healthcheck>) {
        self.healthcheck = healthcheck;
    }

    pub fn healthcheck(&self) -> Option<&Healthcheck> {
        self.healthcheck.as_ref()
    }

    /// The config document: [`Image::config`] plus the healthcheck, when there is one.
    fn config_json(&self) -> Result<serde_json::Value> {
        let mut value =
            serde_json::to_value(self.config()).context(|| "failed to serialize JSON".into())?;
        if let Some(h) = &self.healthcheck {
            let h = serde_json::to_value(h).context(|| "failed to serialize JSON".into())?;
            value["config"]["Healthcheck"] = h;
        }
        Ok(value)
    }

    /// Set `created` (in the config) from seconds since the epoch, e.g. `SOURCE_DATE_EPOCH`.
    pub fn set_created(&mut self, epoch_seconds: u64) {
        self.config.set_created(Some(rfc3339(epoch_seconds)));
    }

    /// Add a manifest annotation (`org.opencontainers.image.source`, `...revision`, ...).
    pub fn annotate(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.annotations.insert(key.into(), value.into());
    }

    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// Attach an artifact (an SBOM, say) whose `subject` is this image. Publishers that can
    /// store referrers (an OCI layout) write it; the image's digest does not change.
    pub fn attach(&mut self, artifact: Artifact) {
        self.referrers.push(artifact);
    }

    pub fn referrers(&self) -> &[Artifact] {
        &self.referrers
    }

    /// The manifest for this image given its rendered config bytes.
    pub fn manifest(&self, config: &[u8]) -> Result<ImageManifest> {
        let config = Descriptor::new(
            MediaType::ImageConfig,
            config.len() as u64,
            &Digest::of(config),
        );
        let mut builder = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .config(config)
            .layers(
                self.layers
                    .iter()
                    .map(Layer::descriptor)
                    .collect::<Vec<_>>(),
            );
        if !self.annotations.is_empty() {
            let map: HashMap<_, _> = self.annotations.clone().into_iter().collect();
            builder = builder.annotations(map);
        }
        builder
            .build()
            .context(|| "failed to build the image manifest".into())
    }

    /// Config and manifest JSON bytes with their digests.
    pub fn render(&self) -> Result<Rendered> {
        let config = canonical_json(&self.config_json()?)?;
        let manifest = canonical_json(&self.manifest(&config)?)?;
        Ok(Rendered {
            config_digest: Digest::of(&config),
            manifest_digest: Digest::of(&manifest),
            config,
            manifest,
        })
    }

    /// The manifest digest: the image's identity in a registry or layout.
    pub fn digest(&self) -> Result<Digest> {
        Ok(self.render()?.manifest_digest)
    }
}

/// Compact JSON with object keys sorted at every level.
pub fn canonical_json(value: &impl Serialize) -> Result<Vec<u8>> {
    let value = serde_json::to_value(value).context(|| "failed to serialize JSON".into())?;
    serde_json::to_vec(&sorted(value)).context(|| "failed to serialize JSON".into())
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let map: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(map.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (UTC), without a date library.
pub fn rfc3339(epoch_seconds: u64) -> String {
    let days = (epoch_seconds / 86_400) as i64;
    let secs = epoch_seconds % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for all dates after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
