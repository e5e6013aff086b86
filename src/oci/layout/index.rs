//! Writing a multi-platform image: every image's blobs (a layer shared by two platforms once),
//! the index blob, and `index.json` pointing at the index under the tag, as `docker buildx`'s
//! OCI exporter and `skopeo copy --all` lay it out.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::{OCI_LAYOUT, REF_NAME, check_tag, write_atomically, write_referrers};
use crate::error::{Error, Result};
use crate::oci::blob::{self, write_bytes};
use crate::oci::image::canonical_json;
use crate::oci::index::{Index, RenderedIndex};

/// Write `index` as an OCI layout at `dest`, named `tag`, replacing an older layout there.
pub fn write_index(dest: &Path, index: &Index, tag: &str) -> Result<RenderedIndex> {
    check_tag(tag)?;
    let rendered = index.render()?;
    write_atomically(dest, |dir| {
        let blobs = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| Error::io("create directory", &blobs, e))?;
        let mut written = BTreeSet::new();
        // Each platform's referrers (its SBOM, its provenance) name that platform's manifest
        // as their subject, listed in index.json without a name, as for a single image.
        let mut referrers = Vec::new();
        for (image, manifest) in index.images().iter().zip(&rendered.manifests) {
            for layer in image.layers() {
                if written.insert(layer.digest().clone()) {
                    blob::place_blob(&blobs, layer.source(), layer.size(), layer.digest())?;
                }
            }
            write_bytes(&blobs, &manifest.config)?;
            write_bytes(&blobs, &manifest.manifest)?;
            referrers.extend(write_referrers(
                &blobs,
                image,
                &manifest.manifest_descriptor(),
            )?);
        }
        write_bytes(&blobs, &rendered.index)?;
        let mut descriptor = rendered.descriptor();
        descriptor.set_annotations(Some([(REF_NAME.to_owned(), tag.to_owned())].into()));
        let mut top = oci_spec::image::ImageIndex::default();
        top.set_media_type(Some(oci_spec::image::MediaType::ImageIndex))
            .set_manifests([descriptor].into_iter().chain(referrers).collect());
        blob::write_file(&dir.join("index.json"), &canonical_json(&top)?)?;
        blob::write_file(&dir.join("oci-layout"), OCI_LAYOUT)?;
        Ok(())
    })?;
    Ok(rendered)
}
