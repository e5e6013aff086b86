//! Publish to several destinations in turn, like `tee`.

use super::{Published, Publisher};
use crate::error::{Error, Result};
use crate::oci::{Image, Index};

/// Publishes to each destination in order and stops at the first failure (the error names the
/// destination). The result carries every destination's references.
#[derive(Default)]
pub struct Multi(pub Vec<Box<dyn Publisher>>);

impl Publisher for Multi {
    fn publish(&self, image: &Image) -> Result<Published> {
        let mut all = Published {
            digest: image.digest()?,
            references: Vec::new(),
        };
        for publisher in &self.0 {
            let published = publisher.publish(image)?;
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

    fn publish_index(&self, index: &Index) -> Result<Published> {
        let mut all = Published {
            digest: index.digest()?,
            references: Vec::new(),
        };
        for publisher in &self.0 {
            let published = publisher.publish_index(index)?;
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
