//! OCI 1.1 artifacts attached to an image (SBOMs, signatures): an image manifest with an
//! `artifactType`, the empty config, one layer holding the bytes, and `subject` pointing at the
//! image. In a layout they are listed in `index.json` next to the image (unnamed); a registry
//! finds them through the referrers API. Bytes and media types only: no idea what is inside.

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType, SCHEMA_VERSION};

use crate::error::{Context, Result};
use crate::oci::digest::Digest;
use crate::oci::image::canonical_json;

/// The empty JSON object the spec prescribes as the config of an artifact.
pub const EMPTY_JSON: &[u8] = b"{}";

/// One blob to attach to an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The manifest's `artifactType` (e.g. `application/spdx+json`).
    pub artifact_type: String,
    /// The media type of the blob (for an SBOM, the same as the artifact type).
    pub media_type: String,
    pub data: Vec<u8>,
    /// Annotations of the artifact manifest (and of its descriptor in an index).
    pub annotations: Vec<(String, String)>,
}

/// An artifact's manifest, exactly as stored and hashed.
#[derive(Clone, Debug)]
pub struct RenderedArtifact {
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    /// What an index (or a referrers response) lists: media type, digest, size, artifactType
    /// and annotations.
    pub descriptor: Descriptor,
}

impl Artifact {
    pub fn new(media_type: &str, data: Vec<u8>) -> Artifact {
        Artifact {
            artifact_type: media_type.to_owned(),
            media_type: media_type.to_owned(),
            data,
            annotations: Vec::new(),
        }
    }

    pub fn data_digest(&self) -> Digest {
        Digest::of(&self.data)
    }

    /// The manifest referring to `subject` (the image manifest's descriptor).
    pub fn render(&self, subject: &Descriptor) -> Result<RenderedArtifact> {
        let config = Descriptor::new(
            MediaType::EmptyJSON,
            EMPTY_JSON.len() as u64,
            &Digest::of(EMPTY_JSON),
        );
        let layer = Descriptor::new(
            MediaType::Other(self.media_type.clone()),
            self.data.len() as u64,
            &self.data_digest(),
        );
        let mut subject = subject.clone();
        subject.set_annotations(None);
        let artifact_type = MediaType::Other(self.artifact_type.clone());
        let annotations: HashMap<String, String> = self.annotations.iter().cloned().collect();
        let mut builder = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .artifact_type(artifact_type.clone())
            .config(config)
            .layers(vec![layer])
            .subject(subject);
        if !annotations.is_empty() {
            builder = builder.annotations(annotations.clone());
        }
        let manifest = builder
            .build()
            .context(|| "failed to build an artifact manifest".into())?;
        let manifest = canonical_json(&manifest)?;
        let manifest_digest = Digest::of(&manifest);
        let mut descriptor = Descriptor::new(
            MediaType::ImageManifest,
            manifest.len() as u64,
            &manifest_digest,
        );
        descriptor.set_artifact_type(Some(artifact_type));
        if !annotations.is_empty() {
            descriptor.set_annotations(Some(annotations));
        }
        Ok(RenderedArtifact {
            manifest,
            manifest_digest,
            descriptor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_manifest_follows_oci_1_1() {
        let subject = Descriptor::new(MediaType::ImageManifest, 7, &Digest::of(b"image"));
        let a = Artifact::new(
            "application/spdx+json",
            b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec(),
        );
        let r = a.render(&subject).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&r.manifest).unwrap();
        assert_eq!(m["artifactType"], "application/spdx+json");
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["layers"][0]["digest"], a.data_digest().as_str());
        assert_eq!(m["subject"]["digest"], Digest::of(b"image").as_str());
        assert_eq!(r.manifest_digest, Digest::of(&r.manifest));
        assert_eq!(
            r.descriptor.artifact_type().as_ref().map(|t| t.to_string()),
            Some("application/spdx+json".to_owned())
        );
        // Same input, same bytes.
        assert_eq!(a.render(&subject).unwrap().manifest, r.manifest);
    }
}
