//! Small images for unit tests.

use crate::oci::{Image, LayerBuilder, Platform};

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
