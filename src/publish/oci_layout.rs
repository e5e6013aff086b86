//! Publish to an OCI image layout directory.

use std::path::PathBuf;

use super::{Published, Publisher};
use crate::error::Result;
use crate::oci::{Image, Index, layout};

/// Writes (or replaces) the OCI layout `dir`, naming the image `tag`.
#[derive(Clone, Debug)]
pub struct OciLayout {
    pub dir: PathBuf,
    pub tag: String,
}

impl Publisher for OciLayout {
    fn publish(&self, image: &Image) -> Result<Published> {
        let _t = crate::timings::stage("output oci-layout");
        let rendered = layout::write(&self.dir, image, &self.tag)?;
        let reference = format!("oci:{}:{}", self.dir.display(), self.tag);
        Ok(Published {
            digest: rendered.manifest_digest,
            references: vec![reference],
        })
    }

    fn publish_index(&self, index: &Index) -> Result<Published> {
        let rendered = layout::write_index(&self.dir, index, &self.tag)?;
        let reference = format!("oci:{}:{}", self.dir.display(), self.tag);
        Ok(Published {
            digest: rendered.digest,
            references: vec![reference],
        })
    }
}
