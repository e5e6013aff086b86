//! Writing a multi-platform image: every image's blobs (a layer shared by two platforms once),
//! the index blob, and `index.json` pointing at the index under the tag, as `docker buildx`'s
//! OCI exporter and `skopeo copy --all` lay it out.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::{OCI_LAYOUT, REF_NAME, check_replaceable, check_tag, parent_dir, replace};
use crate::error::{Error, Result};
use crate::oci::blob::{self, write_blob, write_bytes};
use crate::oci::image::canonical_json;
use crate::oci::index::{Index, RenderedIndex};

/// Write `index` as an OCI layout at `dest`, named `tag`, replacing an older layout there.
pub fn write_index(dest: &Path, index: &Index, tag: &str) -> Result<RenderedIndex> {
    check_tag(tag)?;
    check_replaceable(dest)?;
    let parent = parent_dir(dest);
    fs::create_dir_all(&parent).map_err(|e| Error::io("create directory", &parent, e))?;
    let temp = tempfile::Builder::new()
        .prefix(".gantry-layout-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("create a temp directory in", &parent, e))?;
    let rendered = index.render()?;
    let blobs = temp.path().join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| Error::io("create directory", &blobs, e))?;
    let mut written = BTreeSet::new();
    // Each platform's referrers (its SBOM, its provenance) name that platform's manifest as
    // their subject, listed in index.json without a name, as for a single image.
    let mut referrers = Vec::new();
    for (image, manifest) in index.images().iter().zip(&rendered.manifests) {
        for layer in image.layers() {
            if written.insert(layer.digest().clone()) {
                write_blob(&blobs, layer.open()?, Some(layer.digest()))?;
            }
        }
        write_bytes(&blobs, &manifest.config)?;
        write_bytes(&blobs, &manifest.manifest)?;
        if !image.referrers().is_empty() {
            write_bytes(&blobs, crate::oci::artifact::EMPTY_JSON)?;
        }
        for artifact in image.referrers() {
            let r = artifact.render(&manifest.manifest_descriptor())?;
            write_bytes(&blobs, &artifact.data)?;
            write_bytes(&blobs, &r.manifest)?;
            referrers.push(r.descriptor);
        }
    }
    write_bytes(&blobs, &rendered.index)?;
    let mut descriptor = rendered.descriptor();
    descriptor.set_annotations(Some([(REF_NAME.to_owned(), tag.to_owned())].into()));
    let mut top = oci_spec::image::ImageIndex::default();
    top.set_media_type(Some(oci_spec::image::MediaType::ImageIndex))
        .set_manifests([descriptor].into_iter().chain(referrers).collect());
    blob::write_file(&temp.path().join("index.json"), &canonical_json(&top)?)?;
    blob::write_file(&temp.path().join("oci-layout"), OCI_LAYOUT)?;
    replace(temp.path(), dest)?;
    Ok(rendered)
}
