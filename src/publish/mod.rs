//! Publishing an `oci::Image` somewhere. Every destination implements one small trait; `Multi`
//! writes to several like `tee`. A registry push is one more implementation of the same trait.

mod docker_archive;
mod docker_load;
mod multi;
mod oci_layout;
mod registry;

use std::fmt;

use crate::error::{Error, Result};
use crate::oci::{Digest, Image, Index};

pub use docker_archive::DockerArchive;
pub use docker_load::DockerLoad;
pub use multi::Multi;
pub use oci_layout::OciLayout;
pub use registry::Registry;

/// A destination for images.
pub trait Publisher {
    fn publish(&self, image: &Image) -> Result<Published>;

    /// Publish a multi-platform image; `Published::digest` is the index's. A destination that
    /// holds one platform only refuses.
    fn publish_index(&self, index: &Index) -> Result<Published> {
        let _ = index;
        Err(Error::user(format!(
            "{} holds one platform, not a multi-platform image",
            self.describe()
        ))
        .with_hint(
            "write it with --oci-layout or --push, or build one platform (--platform OS/ARCH)",
        ))
    }

    /// The destination, for messages.
    fn describe(&self) -> String {
        "this destination".to_owned()
    }
}

/// Where an image went: its manifest digest and how to refer to it at each destination
/// (`oci:DIR:TAG`, `docker-archive:FILE:TAG`, `docker-daemon:TAG` — skopeo's transport syntax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub digest: Digest,
    pub references: Vec<String>,
}

impl fmt::Display for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.digest)?;
        for reference in &self.references {
            write!(f, " {reference}")?;
        }
        Ok(())
    }
}

/// Publishes nowhere; only computes the digest (`--dry-run`, or to print what would be pushed).
#[derive(Clone, Copy, Debug, Default)]
pub struct DigestOnly;

impl Publisher for DigestOnly {
    fn publish(&self, image: &Image) -> Result<Published> {
        Ok(Published {
            digest: image.digest()?,
            references: Vec::new(),
        })
    }

    fn publish_index(&self, index: &Index) -> Result<Published> {
        Ok(Published {
            digest: index.digest()?,
            references: Vec::new(),
        })
    }
}

impl<P: Publisher + ?Sized> Publisher for Box<P> {
    fn publish(&self, image: &Image) -> Result<Published> {
        (**self).publish(image)
    }

    fn publish_index(&self, index: &Index) -> Result<Published> {
        (**self).publish_index(index)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(test)]
mod tests;
