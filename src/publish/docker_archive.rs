//! Publish to a docker archive file (what `docker load -i` reads; also an OCI layout).

use std::path::PathBuf;

use super::{Published, Publisher};
use crate::error::Result;
use crate::oci::{Image, archive};

/// Writes (or replaces) the tar `file`, tagging the image `tag`.
#[derive(Clone, Debug)]
pub struct DockerArchive {
    pub file: PathBuf,
    pub tag: String,
}

impl Publisher for DockerArchive {
    fn publish(&self, image: &Image) -> Result<Published> {
        let _t = crate::timings::stage("output docker-archive");
        let rendered = archive::write(&self.file, image, &self.tag)?;
        let reference = format!("docker-archive:{}:{}", self.file.display(), self.tag);
        Ok(Published {
            digest: rendered.manifest_digest,
            references: vec![reference],
        })
    }

    fn describe(&self) -> String {
        format!("the docker archive `{}`", self.file.display())
    }
}
