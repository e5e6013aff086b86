//! OCI image formats: digests, blobs, layers, image layouts, docker archives. No cargo knowledge.
//!
//! ```text
//! LayerBuilder --finish--> Layer ─┐
//!                                 ├─> Image --render--> Rendered (config + manifest JSON)
//! layout::read / archive::read ───┘        |
//!                                          ├─> layout::write   OCI image layout directory
//!                                          └─> archive::write  docker archive (also an OCI layout)
//! Artifact --render(subject)--> artifact manifest (OCI 1.1 referrer), written by layout::write
//! Index: one Image per platform --render--> RenderedIndex  (layout::write_index, registry::push_index)
//! fsck::check: re-hash a layout and check every reference in it
//! unpack::unpack: apply an image's layers to a directory; rootfs: paths inside it, never out
//! ```

pub mod archive;
pub mod artifact;
pub mod blob;
pub mod digest;
pub mod fsck;
pub mod image;
pub mod index;
pub mod layer;
pub mod layout;
pub mod platform;
pub mod rootfs;
pub mod unpack;

pub use artifact::Artifact;
pub use blob::BlobSource;
pub use digest::{Digest, HashingReader, HashingWriter};
pub use image::{Image, Rendered};
pub use index::{Index, RenderedIndex};
pub use layer::{Content, Layer, LayerBuilder};
pub use platform::Platform;

#[cfg(test)]
pub(crate) mod testutil;
