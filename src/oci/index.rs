//! `Index`: one image per platform, as an OCI image index. Rendered like an image (sorted keys,
//! no whitespace), in the order the images were given, so the same images give the same digest.

use oci_spec::image::{Descriptor, ImageIndex, MediaType, PlatformBuilder, SCHEMA_VERSION};

use crate::error::{Context, Error, Result};
use crate::oci::digest::Digest;
use crate::oci::image::{Image, Rendered, canonical_json};
use crate::oci::platform::Platform;

/// Images of one application for several platforms.
#[derive(Clone, Debug)]
pub struct Index {
    images: Vec<Image>,
}

/// The index document and the rendering of every image it lists, in its order.
#[derive(Clone, Debug)]
pub struct RenderedIndex {
    pub index: Vec<u8>,
    pub digest: Digest,
    pub manifests: Vec<Rendered>,
}

impl RenderedIndex {
    /// The descriptor an `index.json` uses to point at this index.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(MediaType::ImageIndex, self.index.len() as u64, &self.digest)
    }
}

impl Index {
    /// An index of `images`; each platform at most once.
    pub fn new(images: Vec<Image>) -> Result<Index> {
        for (i, image) in images.iter().enumerate() {
            let platform = image.platform();
            if images[..i].iter().any(|other| other.platform() == platform) {
                return Err(Error::user(format!(
                    "two images for the platform `{platform}` in one index"
                )));
            }
        }
        Ok(Index { images })
    }

    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// The image for `platform` (a variant not asked for is accepted).
    pub fn image_for(&self, platform: &Platform) -> Option<&Image> {
        self.images.iter().find(|image| {
            let p = image.platform();
            p.os == platform.os
                && p.architecture == platform.architecture
                && (platform.variant.is_none() || p.variant == platform.variant)
        })
    }

    pub fn render(&self) -> Result<RenderedIndex> {
        let mut manifests = Vec::new();
        let mut descriptors = Vec::new();
        for image in &self.images {
            let rendered = image.render()?;
            let p = image.platform();
            let platform = PlatformBuilder::default()
                .os(p.os.clone())
                .architecture(p.architecture.clone());
            let platform = match &p.variant {
                Some(v) => platform.variant(v.clone()),
                None => platform,
            }
            .build()
            .context(|| format!("failed to describe the platform `{p}`"))?;
            let mut descriptor = rendered.manifest_descriptor();
            descriptor.set_platform(Some(platform));
            descriptors.push(descriptor);
            manifests.push(rendered);
        }
        let mut index = ImageIndex::default();
        index
            .set_schema_version(SCHEMA_VERSION)
            .set_media_type(Some(MediaType::ImageIndex))
            .set_manifests(descriptors);
        let bytes = canonical_json(&index)?;
        Ok(RenderedIndex {
            digest: Digest::of(&bytes),
            index: bytes,
            manifests,
        })
    }

    /// The index digest: the multi-platform image's identity.
    pub fn digest(&self) -> Result<Digest> {
        Ok(self.render()?.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(platform: &str, env: &str) -> Image {
        let mut image = Image::new(&Platform::parse(platform).unwrap());
        image.runtime().set_env(Some(vec![env.to_owned()]));
        image
    }

    #[test]
    fn every_manifest_carries_its_platform_and_the_digest_is_stable() {
        let index = Index::new(vec![
            image("linux/amd64", "A=1"),
            image("linux/arm64", "A=1"),
        ])
        .unwrap();
        let rendered = index.render().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&rendered.index).unwrap();
        assert_eq!(json["mediaType"], "application/vnd.oci.image.index.v1+json");
        let archs: Vec<&str> = json["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(archs, ["amd64", "arm64"]);
        assert_eq!(rendered.manifests.len(), 2);
        assert_eq!(index.digest().unwrap(), rendered.digest);
        // a different image behind one platform changes the index
        let other = Index::new(vec![
            image("linux/amd64", "A=1"),
            image("linux/arm64", "A=2"),
        ])
        .unwrap();
        assert_ne!(other.digest().unwrap(), rendered.digest);
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(index.image_for(&arm64).unwrap().platform(), arm64);
    }

    #[test]
    fn a_platform_twice_is_refused() {
        let err = Index::new(vec![
            image("linux/arm64", "A=1"),
            image("linux/arm64", "A=2"),
        ])
        .unwrap_err();
        assert!(err.message().contains("`linux/arm64`"), "{}", err.message());
    }
}
