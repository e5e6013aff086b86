//! How cosign stores signatures in a registry: an OCI image manifest tagged `sha256-<hex>.sig` in
//! the image's repository, one layer per signature. Each layer is a simple-signing payload blob
//! whose descriptor carries the base64 signature in the `dev.cosignproject.cosign/signature`
//! annotation. The config is the near-empty one cosign writes (go-containerregistry's empty
//! image plus one `diff_ids` and `history` entry per layer), which registries that validate
//! configs accept.

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::oci::Digest;

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// go-containerregistry's zero time, which cosign's configs carry.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `sha256-<hex>.sig`: where the signatures of the manifest `digest` are.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// One layer of a `.sig` manifest, as far as verification needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLayer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// The base64 annotation, when the layer has one.
    pub signature: Option<String>,
}

/// The layers of a `.sig` manifest.
pub fn layers(manifest: &[u8]) -> Result<Vec<SignatureLayer>> {
    let value: Value = serde_json::from_slice(manifest).map_err(|e| unreadable().caused_by(e))?;
    let Some(layers) = value.get("layers").and_then(Value::as_array) else {
        return Err(unreadable());
    };
    layers
        .iter()
        .map(|l| {
            let text = |k: &str| l.get(k).and_then(Value::as_str);
            let digest = text("digest")
                .and_then(|d| Digest::parse(d).ok())
                .ok_or_else(unreadable)?;
            Ok(SignatureLayer {
                media_type: text("mediaType").unwrap_or_default().to_owned(),
                digest,
                size: l.get("size").and_then(Value::as_u64).unwrap_or_default(),
                signature: l
                    .pointer(&format!(
                        "/annotations/{}",
                        SIGNATURE_ANNOTATION.replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        })
        .collect()
}

/// The digest of a `.sig` manifest's config blob.
pub fn config_digest(manifest: &[u8]) -> Result<Digest> {
    let value: Value = serde_json::from_slice(manifest).map_err(|e| unreadable().caused_by(e))?;
    value
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .and_then(|d| Digest::parse(d).ok())
        .ok_or_else(unreadable)
}

fn unreadable() -> Error {
    Error::user("the signature manifest is not an OCI image manifest with layers")
}

/// A `.sig` manifest and its config, ready to push: the previous ones (when there are) with one
/// more layer.
pub struct Update {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub config: Vec<u8>,
}

/// The manifest and config after adding the layer `payload` (signed as `signature_b64`) to
/// `existing` (the manifest's bytes and its config's), or to nothing.
pub fn append(
    existing: Option<(&[u8], &[u8])>,
    payload: &Digest,
    payload_size: u64,
    signature_b64: &str,
) -> Result<Update> {
    let layer = json!({
        "mediaType": SIMPLE_SIGNING,
        "size": payload_size,
        "digest": payload.as_str(),
        "annotations": { SIGNATURE_ANNOTATION: signature_b64 },
    });
    let (mut manifest, mut config) = match existing {
        Some((manifest, config)) => {
            let manifest: Value =
                serde_json::from_slice(manifest).map_err(|e| unreadable().caused_by(e))?;
            // Another tool's config we cannot read is rebuilt: it carries nothing but diff_ids.
            let config = serde_json::from_slice::<Value>(config)
                .ok()
                .filter(|c| c.pointer("/rootfs/diff_ids").is_some_and(Value::is_array))
                .unwrap_or_else(|| empty_config(&manifest));
            (manifest, config)
        }
        None => {
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {},
                "layers": [],
            });
            let config = empty_config(&manifest);
            (manifest, config)
        }
    };
    let Some(layers) = manifest.get_mut("layers").and_then(Value::as_array_mut) else {
        return Err(unreadable());
    };
    layers.push(layer);
    push_array(&mut config, "/rootfs/diff_ids", json!(payload.as_str()));
    push_array(&mut config, "/history", json!({ "created": ZERO_TIME }));
    let config = serde_json::to_vec(&config).expect("JSON values serialize");
    manifest["config"] = json!({
        "mediaType": OCI_CONFIG,
        "size": config.len(),
        "digest": Digest::of(&config).as_str(),
    });
    let media_type = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_MANIFEST)
        .to_owned();
    Ok(Update {
        manifest: serde_json::to_vec(&manifest).expect("JSON values serialize"),
        media_type,
        config,
    })
}

/// cosign's config for the layers `manifest` already has.
fn empty_config(manifest: &Value) -> Value {
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let diff_ids: Vec<Value> = layers
        .iter()
        .filter_map(|l| l.get("digest").cloned())
        .collect();
    let history: Vec<Value> = layers
        .iter()
        .map(|_| json!({ "created": ZERO_TIME }))
        .collect();
    json!({
        "architecture": "",
        "created": ZERO_TIME,
        "history": history,
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "config": {},
    })
}

fn push_array(value: &mut Value, pointer: &str, item: Value) {
    if value.pointer(pointer).is_none_or(|v| !v.is_array()) {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let parent = if parent.is_empty() {
            Some(&mut *value)
        } else {
            value.pointer_mut(parent)
        };
        if let Some(Value::Object(map)) = parent {
            map.insert(key.to_owned(), json!([]));
        }
    }
    if let Some(Value::Array(items)) = value.pointer_mut(pointer) {
        items.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_the_digest_with_a_dash_and_sig() {
        let d = Digest::of(b"x");
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", d.hex()));
    }

    #[test]
    fn a_first_signature_makes_a_one_layer_manifest_with_cosigns_config() {
        let payload = Digest::of(b"payload");
        let update = append(None, &payload, 7, "c2ln").unwrap();
        assert_eq!(update.media_type, OCI_MANIFEST);
        let config: Value = serde_json::from_slice(&update.config).unwrap();
        assert_eq!(
            config,
            json!({"architecture":"","created":ZERO_TIME,"history":[{"created":ZERO_TIME}],"os":"","rootfs":{"type":"layers","diff_ids":[payload.as_str()]},"config":{}})
        );
        let layers = layers(&update.manifest).unwrap();
        assert_eq!(
            layers,
            [SignatureLayer {
                media_type: SIMPLE_SIGNING.into(),
                digest: payload,
                size: 7,
                signature: Some("c2ln".into()),
            }]
        );
        let manifest: Value = serde_json::from_slice(&update.manifest).unwrap();
        assert_eq!(
            manifest["config"]["digest"],
            Digest::of(&update.config).as_str()
        );
    }

    #[test]
    fn a_second_signature_is_appended_keeping_the_first_and_its_annotations() {
        let first = append(None, &Digest::of(b"one"), 3, "b25l").unwrap();
        let mut manifest: Value = serde_json::from_slice(&first.manifest).unwrap();
        manifest["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"] = json!("{}");
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let second = append(
            Some((&manifest, &first.config)),
            &Digest::of(b"two"),
            3,
            "dHdv",
        )
        .unwrap();
        let layers = layers(&second.manifest).unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].signature.as_deref(), Some("b25l"));
        assert_eq!(layers[1].signature.as_deref(), Some("dHdv"));
        let value: Value = serde_json::from_slice(&second.manifest).unwrap();
        assert_eq!(
            value["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"],
            "{}"
        );
        let config: Value = serde_json::from_slice(&second.config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn an_unreadable_config_is_rebuilt_from_the_layers() {
        let first = append(None, &Digest::of(b"one"), 3, "b25l").unwrap();
        let second = append(
            Some((&first.manifest, b"not json")),
            &Digest::of(b"two"),
            3,
            "dHdv",
        )
        .unwrap();
        let config: Value = serde_json::from_slice(&second.config).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!([Digest::of(b"one").as_str(), Digest::of(b"two").as_str()])
        );
    }
}
