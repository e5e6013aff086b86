//! Publish to several destinations in turn, like `tee`.

use super::{Published, Publisher};
use crate::error::{Error, Result};
use crate::oci::{Image, Index};

/// Publishes to each destination in order and stops at the first failure (the error names the
/// destination). The result carries every destination's references.
#[derive(Default)]
pub struct Multi(pub Vec<Box<dyn Publisher>>);

impl Multi {
    /// Publish to every destination with `one`; each must store `digest`.
    fn each(
        &self,
        digest: crate::oci::Digest,
        one: impl Fn(&dyn Publisher) -> Result<Published>,
    ) -> Result<Published> {
        let mut all = Published {
            digest,
            references: Vec::new(),
        };
        for publisher in &self.0 {
            let published = one(publisher.as_ref())?;
            // Every destination stores the same manifest; a different digest is a bug here.
            if published.digest != all.digest {
                return Err(Error::failure(format!(
                    "destination {} stored digest `{}`, expected `{}`",
                    published.references.join(", "),
                    published.digest,
                    all.digest
                )));
            }
            all.references.extend(published.references);
        }
        Ok(all)
    }
}

impl Publisher for Multi {
    fn publish(&self, image: &Image) -> Result<Published> {
        self.each(image.digest()?, |p| p.publish(image))
    }

    fn publish_index(&self, index: &Index) -> Result<Published> {
        self.each(index.digest()?, |p| p.publish_index(index))
    }
}
