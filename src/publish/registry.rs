//! Publish by pushing to a registry.

use super::{Published, Publisher};
use crate::error::Result;
use crate::oci::{Image, Index};
use crate::registry::{self, Discovery, ImageRef, PushOptions};

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
        if let Some(r) = &report.referrers {
            let place = match &r.discovery {
                Discovery::ReferrersApi => "indexed by the registry".to_owned(),
                Discovery::FallbackTag { tag, .. } => format!("listed in `{tag}`"),
            };
            eprintln!(
                "    Attached {} referrer(s) to {}, {place}",
                r.manifests.len(),
                report.reference
            );
        }
        Ok(Published {
            digest: report.digest,
            references: vec![report.reference.to_string()],
        })
    }

    fn publish_index(&self, index: &Index) -> Result<Published> {
        let report = registry::push_index(index, &self.reference, &self.options)?;
        Ok(Published {
            digest: report.digest,
            references: vec![report.reference.to_string()],
        })
    }
}
