//! Small images for unit tests.

use std::sync::Arc;

use oci_spec::image::MediaType;

use crate::oci::{BlobSource, Digest, Image, Layer, LayerBuilder, Platform};

/// A two-layer image whose content depends on `seed`, for `platform`.
pub(crate) fn image(seed: &str, platform: &str) -> Image {
    let mut image = Image::new(&Platform::parse(platform).unwrap());
    let mut base = LayerBuilder::new(0);
    base.dir("/etc", 0o755)
        .file("/etc/motd", 0o644, seed.as_bytes());
    image.push_layer(base.finish().unwrap(), "base files");
    let mut app = LayerBuilder::new(0);
    app.file(
        "/usr/bin/app",
        0o755,
        format!("#!/bin/sh\necho {seed}\n").into_bytes(),
    )
    .dir("/home/nonroot", 0o755)
    .chown("/home/nonroot", 65532, 65532);
    image.push_layer(app.finish().unwrap(), "app");
    image
        .runtime()
        .set_entrypoint(Some(vec!["/usr/bin/app".into()]));
    image
}

/// Every file under `dir`, relative, sorted.
pub(crate) fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// One tar entry exactly as an attacker writes it: no parents added, no path checks.
#[derive(Clone, Copy)]
pub(crate) enum Raw<'a> {
    File(&'a str, u32, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A header of this type, declared size and mode, without data.
    Header(&'a str, tar::EntryType, u64, u32),
}

/// A header whose name bytes are written as given; `tar::Header::set_path` refuses `..` and
/// absolute paths, which is exactly what these tests need.
pub(crate) fn header(path: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    let name = &mut h.as_old_mut().name;
    assert!(
        path.len() < name.len(),
        "test path `{path}` needs a long name"
    );
    name[..path.len()].copy_from_slice(path.as_bytes());
    h
}

fn set_link(h: &mut tar::Header, target: &str) {
    let link = &mut h.as_old_mut().linkname;
    link[..target.len()].copy_from_slice(target.as_bytes());
}

pub(crate) fn tar_bytes(entries: &[Raw]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let (mut h, data): (_, &[u8]) = match *entry {
            Raw::File(path, mode, data) => (
                header(path, tar::EntryType::Regular, data.len() as u64, mode),
                data,
            ),
            Raw::Dir(path) => (header(path, tar::EntryType::Directory, 0, 0o755), &[]),
            Raw::Symlink(path, target) => {
                let mut h = header(path, tar::EntryType::Symlink, 0, 0o777);
                set_link(&mut h, target);
                (h, &[])
            }
            Raw::Hardlink(path, target) => {
                let mut h = header(path, tar::EntryType::Link, 0, 0o644);
                set_link(&mut h, target);
                (h, &[])
            }
            Raw::Header(path, kind, size, mode) => {
                let mut h = header(path, kind, size, mode);
                h.set_cksum();
                tar.get_mut().extend_from_slice(h.as_bytes());
                continue;
            }
        };
        h.set_cksum();
        tar.get_mut().extend_from_slice(h.as_bytes());
        tar.get_mut().extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        tar.get_mut().extend(std::iter::repeat_n(0, pad));
    }
    tar.into_inner().unwrap()
}

/// An uncompressed layer holding `bytes`, whose blob digest is `digest`.
pub(crate) fn layer_with_digest(bytes: &[u8], digest: Digest) -> Layer {
    let mut temp = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut temp, bytes).unwrap();
    let source = BlobSource::Temp(Arc::new(temp.into_temp_path()));
    Layer::from_blob(
        digest.clone(),
        bytes.len() as u64,
        digest,
        MediaType::ImageLayer,
        source,
    )
}

pub(crate) fn image_of(layers: &[&[Raw]]) -> Image {
    let mut image = Image::new(&Platform::linux_amd64());
    for entries in layers {
        let bytes = tar_bytes(entries);
        image.push_layer(layer_with_digest(&bytes, Digest::of(&bytes)), "raw");
    }
    image
}
