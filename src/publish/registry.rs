//! Publish by pushing to a registry.

use super::{Published, Publisher};
use crate::error::Result;
use crate::oci::Image;
use crate::registry::{self, ImageRef, PushOptions};

/// Pushes the image to `reference` (`REGISTRY/REPO[:TAG]`); the published reference is the
/// digest-pinned `REPO@sha256:…`, which is what `--push` prints on stdout.
#[derive(Clone, Debug)]
pub struct Registry {
    pub reference: ImageRef,
    pub options: PushOptions,
}

impl Registry {
    pub fn new(reference: ImageRef, options: PushOptions) -> Registry {
        Registry { reference, options }
    }
}

impl Publisher for Registry {
    fn publish(&self, image: &Image) -> Result<Published> {
        let _t = crate::timings::stage("output push");
        let report = registry::push(image, &self.reference, &self.options)?;
        Ok(Published {
            digest: report.digest,
            references: vec![report.reference.to_string()],
        })
    }
}
