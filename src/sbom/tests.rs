use super::*;

fn krate(name: &str, source: Source, deps: Vec<usize>) -> Crate {
    Crate {
        name: name.into(),
        version: "1.0.0".into(),
        checksum: (source == Source::CratesIo).then(|| "ab".repeat(32)),
        source,
        license: Some("MIT OR Apache-2.0".into()),
        repository: Some("https://github.com/x/y".into()),
        description: None,
        dependencies: deps,
    }
}

fn sample() -> Sbom {
    let crates = Crates {
        crates: vec![
            krate("app", Source::Local, vec![1]),
            krate("serde_json", Source::CratesIo, vec![]),
        ],
        root: 0,
    };
    Sbom::of_crates(crates, 0)
}

#[test]
fn documents_are_byte_identical_for_the_same_input_and_change_with_it() {
    for format in [Format::Spdx, Format::CycloneDx] {
        let a = sample().render(format).unwrap();
        assert_eq!(a, sample().render(format).unwrap());
        let mut other = sample();
        other.crates.crates[1].version = "1.0.1".into();
        assert_ne!(a, other.render(format).unwrap());
    }
}

#[test]
fn spdx_namespace_and_cyclonedx_serial_are_derived_from_the_content() {
    let spdx: serde_json::Value =
        serde_json::from_slice(&sample().render(Format::Spdx).unwrap()).unwrap();
    let ns = spdx["documentNamespace"].as_str().unwrap();
    assert!(
        ns.starts_with("https://spdx.org/spdxdocs/cargo-gantry/app-1.0.0-"),
        "{ns}"
    );
    assert_eq!(spdx["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    assert_eq!(
        spdx["packages"][1]["SPDXID"],
        "SPDXRef-crate-serde-json-1.0.0"
    );
    let cdx: serde_json::Value =
        serde_json::from_slice(&sample().render(Format::CycloneDx).unwrap()).unwrap();
    let serial = cdx["serialNumber"].as_str().unwrap();
    assert_eq!(serial.len(), "urn:uuid:".len() + 36, "{serial}");
    assert_eq!(&serial[23..24], "5", "{serial}");
}

#[test]
fn base_image_purl_names_the_repository_and_digest() {
    let digest = Digest::of(b"m");
    let purl = |reference: &str| {
        base_purl(&BaseImage {
            reference: reference.into(),
            digest: digest.clone(),
        })
    };
    let want = format!("pkg:oci/debian@{}", digest.as_str().replace(':', "%3A"));
    assert_eq!(purl("docker.io/library/debian:12"), want);
    assert_eq!(purl("oci:/tmp/x/debian"), want);
    assert_eq!(purl("localhost:5000/debian"), want);
}
