//! Base images as registries really serve them: multi-platform indexes and Docker's media types.

use std::process::Command;

use cargo_gantry::oci::{Platform, layout};
use cargo_gantry::registry::{self, ImageRef, PullOptions};

use super::{client_options, options, random_image};
use crate::support::registry::{SKOPEO, TestRegistry, run, tool};

fn pull_options(cache: &std::path::Path) -> PullOptions {
    PullOptions {
        client: client_options(),
        cache_dir: cache.to_owned(),
        jobs: 2,
    }
}

#[test]
fn a_multi_platform_index_is_narrowed_to_the_requested_platform() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let host = reg.host();
    let amd64 = random_image(40, &[2000]);
    let mut arm64 = random_image(41, &[2000]);
    arm64 = {
        // Same layers, another platform: only the config says arm64.
        let mut config = arm64.config();
        config.set_architecture(oci_spec::image::Arch::ARM64);
        cargo_gantry::oci::Image::from_parts(config, arm64.layers().to_vec()).unwrap()
    };
    let mut descriptors = Vec::new();
    for (image, arch) in [(&amd64, "amd64"), (&arm64, "arm64")] {
        let pushed = registry::push(
            image,
            &ImageRef::parse(&format!("{host}/multi:{arch}")).unwrap(),
            &options(),
        )
        .unwrap();
        let size = image.render().unwrap().manifest.len();
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": pushed.digest.as_str(), "size": size,
            "platform": {"os": "linux", "architecture": arch},
        }));
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descriptors});
    let resp = ureq::put(format!("http://{host}/v2/multi/manifests/latest"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .send(serde_json::to_vec(&index).unwrap().as_slice())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);

    let cache = tempfile::tempdir().unwrap();
    let reference = ImageRef::parse(&format!("{host}/multi")).unwrap();
    let pulled = registry::pull(
        &reference,
        &Platform::linux_amd64(),
        &pull_options(cache.path()),
    )
    .unwrap();
    assert_eq!(pulled.platform(), Platform::linux_amd64());
    assert_eq!(pulled.layers()[0].digest(), amd64.layers()[0].digest());
    let base_digest = pulled.annotations()[registry::BASE_DIGEST].clone();
    assert_eq!(base_digest, amd64.digest().unwrap().to_string());

    let riscv = Platform::parse("linux/riscv64").unwrap();
    let err = registry::pull(&reference, &riscv, &pull_options(cache.path())).unwrap_err();
    assert_eq!(
        err.message(),
        format!("`{reference}` has no `linux/riscv64` image")
    );
    assert_eq!(
        err.hint(),
        Some("available platforms: linux/amd64, linux/arm64")
    );
}

#[test]
fn a_docker_format_base_is_pulled_with_oci_layer_types() {
    let (Some(reg), Some(skopeo)) = (TestRegistry::start(), tool(SKOPEO)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(42, &[3000, 100]);
    layout::write(&dir.path().join("l"), &image, "v1").unwrap();
    // skopeo converts to Docker's schema 2 on the way, as Docker Hub images are.
    run(Command::new(skopeo)
        .args(["copy", "--format", "v2s2", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", dir.path().join("l").display()))
        .arg(format!("docker://{}/dockerish:v1", reg.host())));
    assert!(
        String::from_utf8_lossy(&reg.raw_manifest("dockerish:v1"))
            .contains("vnd.docker.distribution.manifest.v2+json")
    );

    let reference = ImageRef::parse(&format!("{}/dockerish:v1", reg.host())).unwrap();
    let pulled = registry::pull(
        &reference,
        &Platform::linux_amd64(),
        &pull_options(dir.path()),
    )
    .unwrap();
    let digests = |i: &cargo_gantry::oci::Image| {
        i.layers()
            .iter()
            .map(|l| l.digest().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(&pulled), digests(&image));
    assert!(
        pulled
            .layers()
            .iter()
            .all(|l| *l.media_type() == oci_spec::image::MediaType::ImageLayerGzip)
    );
    // Pushed back as OCI, it is the image it started as, apart from the base annotations.
    let pushed = registry::push(
        &pulled,
        &ImageRef::parse(&format!("{}/back:1", reg.host())).unwrap(),
        &options(),
    )
    .unwrap();
    assert_eq!(
        reg.inspect("back:1", None)["Digest"],
        pushed.digest.as_str()
    );
}
