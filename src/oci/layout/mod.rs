//! OCI image layout directories: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
//!
//! Writing never leaves a half-written layout behind: everything goes into a temp directory next
//! to the destination, which is renamed into place at the end. An existing destination is only
//! replaced when it is itself an OCI layout; anything else is the user's and is left alone.

mod index;
pub(crate) mod read;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use crate::error::{Context, Error, Result};
use crate::oci::artifact::EMPTY_JSON;
use crate::oci::blob::{self, write_bytes};
use crate::oci::image::{Image, Rendered, canonical_json};

pub use index::write_index;
pub use read::{read, read_blob_json};

/// The annotation naming an image inside a layout (`skopeo` `oci:DIR:NAME`, `umoci` `DIR:NAME`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The contents of the `oci-layout` marker file.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Write `image` as an OCI layout at `dest`, named `tag`, replacing an older layout there.
pub fn write(dest: &Path, image: &Image, tag: &str) -> Result<Rendered> {
    Ok(write_all(dest, &[(image, tag)])?.remove(0))
}

/// Write several images into one OCI layout at `dest` (blobs they share are stored once),
/// replacing an older layout there; their manifests' renderings in the same order.
pub fn write_all(dest: &Path, images: &[(&Image, &str)]) -> Result<Vec<Rendered>> {
    for (_, tag) in images {
        check_tag(tag)?;
    }
    write_atomically(dest, |dir| write_into(dir, images))
}

/// Fill a temp directory next to `dest` with `fill`, then put it in `dest`'s place (replacing
/// an older layout only): a failure never leaves a half-written layout behind.
pub(super) fn write_atomically<T>(dest: &Path, fill: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    check_replaceable(dest)?;
    let parent = parent_dir(dest);
    fs::create_dir_all(&parent).map_err(|e| Error::io("create directory", &parent, e))?;
    let temp = tempfile::Builder::new()
        .prefix(".gantry-layout-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("create a temp directory in", &parent, e))?;
    let out = fill(temp.path())?;
    // From here on the temp dir is complete; if renaming fails it is still cleaned up on drop.
    replace(temp.path(), dest)?;
    Ok(out)
}

/// Write `image`'s referrers (OCI 1.1 artifact manifests naming `subject`) into `blobs`; their
/// descriptors, which index.json lists without a name so lookups by name skip them.
pub(super) fn write_referrers(
    blobs: &Path,
    image: &Image,
    subject: &Descriptor,
) -> Result<Vec<Descriptor>> {
    if !image.referrers().is_empty() {
        write_bytes(blobs, EMPTY_JSON)?;
    }
    let mut out = Vec::new();
    for artifact in image.referrers() {
        let r = artifact.render(subject)?;
        write_bytes(blobs, &artifact.data)?;
        write_bytes(blobs, &r.manifest)?;
        out.push(r.descriptor);
    }
    Ok(out)
}

/// Fill an empty directory with the layout of `images`.
fn write_into(dir: &Path, images: &[(&Image, &str)]) -> Result<Vec<Rendered>> {
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| Error::io("create directory", &blobs, e))?;
    // A layer can appear twice in one image (e.g. two identical empty layers) and in several
    // images (the runtime layer of a workspace's binaries): store it once.
    let mut written = BTreeSet::new();
    let mut all = Vec::new();
    let mut manifests = Vec::new();
    for (image, tag) in images {
        let (rendered, entries) = write_image(&blobs, image, tag, &mut written)?;
        manifests.extend(entries);
        all.push(rendered);
    }
    let mut index = ImageIndex::default();
    index
        .set_media_type(Some(MediaType::ImageIndex))
        .set_manifests(manifests);
    blob::write_file(&dir.join("index.json"), &canonical_json(&index)?)?;
    blob::write_file(&dir.join("oci-layout"), OCI_LAYOUT)?;
    Ok(all)
}

/// The blobs of one image; its `index.json` entries (the named manifest, then its referrers).
fn write_image(
    blobs: &Path,
    image: &Image,
    tag: &str,
    written: &mut BTreeSet<crate::oci::Digest>,
) -> Result<(Rendered, Vec<Descriptor>)> {
    let rendered = image.render()?;
    for layer in image.layers() {
        if written.insert(layer.digest().clone()) {
            blob::place_blob(blobs, layer.source(), layer.size(), layer.digest())?;
        }
    }
    write_bytes(blobs, &rendered.config)?;
    write_bytes(blobs, &rendered.manifest)?;
    let mut entries = vec![named(&rendered, tag, &[])];
    entries.extend(write_referrers(
        blobs,
        image,
        &rendered.manifest_descriptor(),
    )?);
    Ok((rendered, entries))
}

/// The manifest's descriptor, annotated with `REF_NAME` = `tag` and `extra`.
fn named(rendered: &Rendered, tag: &str, extra: &[(&str, &str)]) -> Descriptor {
    let mut annotations = HashMap::from([(REF_NAME.to_owned(), tag.to_owned())]);
    annotations.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut descriptor = rendered.manifest_descriptor();
    descriptor.set_annotations(Some(annotations));
    descriptor
}

/// `index.json` pointing at the manifest, annotated with `REF_NAME` = `tag` and `extra`, then
/// at the `referrers` (artifact manifests of that image).
pub(crate) fn index_json(
    rendered: &Rendered,
    tag: &str,
    extra: &[(&str, &str)],
    referrers: &[Descriptor],
) -> Result<Vec<u8>> {
    check_tag(tag)?;
    let descriptor = named(rendered, tag, extra);
    let mut index = ImageIndex::default();
    index
        .set_media_type(Some(MediaType::ImageIndex))
        .set_manifests(
            [descriptor]
                .into_iter()
                .chain(referrers.iter().cloned())
                .collect(),
        );
    canonical_json(&index)
}

/// Checked before any blob is written, so a typo does not cost a copy of every layer.
pub(crate) fn check_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::user(format!("invalid image tag `{tag}`"))
            .with_hint("a tag is a name like `latest` or `myapp:1.0`, without spaces"));
    }
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Refuse to replace anything that is not an OCI layout: it could be a user's source tree.
fn check_replaceable(dest: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspect", dest, e)),
        Ok(meta) => meta,
    };
    if meta.is_dir() && dest.join("oci-layout").is_file() {
        return Ok(());
    }
    Err(Error::user(format!(
        "refusing to replace `{}`: it exists and is not an OCI image layout",
        dest.display()
    ))
    .with_hint("choose another output path, or move the existing one away yourself"))
}

/// Move `new` to `dest`. An old layout at `dest` is first moved aside (rename cannot replace a
/// non-empty directory), then deleted; if the second rename fails the old one is put back.
fn replace(new: &Path, dest: &Path) -> Result<()> {
    let rename = |from: &Path, to: &Path| {
        fs::rename(from, to).map_err(|e| Error::io("move the new layout to", to, e))
    };
    if fs::symlink_metadata(dest).is_err() {
        return rename(new, dest);
    }
    let aside = tempfile::Builder::new()
        .prefix(".gantry-old-")
        .tempdir_in(parent_dir(dest))
        .map_err(|e| Error::io("create a temp directory next to", dest, e))?;
    let old = aside.path().join("layout");
    fs::rename(dest, &old).map_err(|e| Error::io("move aside the old layout", dest, e))?;
    if let Err(e) = rename(new, dest) {
        fs::rename(&old, dest).context(|| format!("failed to restore `{}`", dest.display()))?;
        return Err(e);
    }
    // `aside` (with the old layout inside) is removed when it goes out of scope.
    Ok(())
}

#[cfg(test)]
mod tests;
