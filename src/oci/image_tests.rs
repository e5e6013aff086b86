use super::*;
use crate::oci::layer::LayerBuilder;

fn layer(content: &[u8]) -> Layer {
    let mut b = LayerBuilder::new(0);
    b.file("/app", 0o755, content);
    b.finish().unwrap()
}

fn sample(labels: &[(&str, &str)]) -> Image {
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(layer(b"one"), "gantry: runtime files");
    image.push_layer(layer(b"two"), "gantry: the binary");
    let runtime = image.runtime();
    runtime
        .set_entrypoint(Some(vec!["/app".into()]))
        .set_env(Some(vec!["PATH=/usr/bin".into()]))
        .set_user(Some("65532:65532".into()))
        .set_working_dir(Some("/".into()))
        .set_exposed_ports(Some(vec![
            "8080/tcp".into(),
            "443/tcp".into(),
            "9000/udp".into(),
        ]));
    let map = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    runtime.set_labels(Some(map));
    image.annotate("org.opencontainers.image.revision", "abc");
    image.annotate("org.opencontainers.image.source", "https://example.com/x");
    image
}

const LABELS: [(&str, &str); 4] = [("z", "1"), ("a", "2"), ("m", "3"), ("b", "4")];

#[test]
fn rendering_is_byte_identical_whatever_the_map_order() {
    let first = sample(&LABELS).render().unwrap();
    for _ in 0..20 {
        // Each HashMap gets a fresh random seed, so this exercises many iteration orders.
        let mut labels = LABELS;
        labels.reverse();
        let again = sample(&labels).render().unwrap();
        assert_eq!(again.config, first.config);
        assert_eq!(again.manifest, first.manifest);
        assert_eq!(again.manifest_digest, first.manifest_digest);
    }
}

#[test]
fn config_json_is_compact_with_sorted_keys() {
    let text = String::from_utf8(sample(&LABELS).render().unwrap().config).unwrap();
    assert!(
        !text.contains("\": ") && !text.contains(", ") && !text.contains('\n'),
        "{text}"
    );
    let labels = r#""Labels":{"a":"2","b":"4","m":"3","z":"1"}"#;
    assert!(text.contains(labels), "{text}");
    let ports = r#""ExposedPorts":{"443/tcp":{},"8080/tcp":{},"9000/udp":{}}"#;
    assert!(text.contains(ports), "{text}");
    assert!(
        text.starts_with(r#"{"architecture":"amd64","config":{"Entrypoint":["/app"]"#),
        "{text}"
    );
    assert!(
        text.contains(r#""created":"1970-01-01T00:00:00Z""#),
        "{text}"
    );
}

#[test]
fn config_and_manifest_point_at_the_layers_and_each_other() {
    let image = sample(&[]);
    let rendered = image.render().unwrap();
    let config: ImageConfiguration = serde_json::from_slice(&rendered.config).unwrap();
    let diff_ids: Vec<String> = image
        .layers()
        .iter()
        .map(|l| l.diff_id().to_string())
        .collect();
    assert_eq!(*config.rootfs().diff_ids(), diff_ids);
    assert_eq!(config.history().as_ref().unwrap().len(), 2);

    let manifest: ImageManifest = serde_json::from_slice(&rendered.manifest).unwrap();
    assert_eq!(
        manifest.config().digest().to_string(),
        rendered.config_digest.to_string()
    );
    assert_eq!(manifest.config().size(), rendered.config.len() as u64);
    assert_eq!(*manifest.config().media_type(), MediaType::ImageConfig);
    let layer_digests: Vec<String> = manifest
        .layers()
        .iter()
        .map(|d| d.digest().to_string())
        .collect();
    let expected: Vec<String> = image
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect();
    assert_eq!(layer_digests, expected);
    let annotations = manifest.annotations().as_ref().unwrap();
    assert_eq!(annotations["org.opencontainers.image.revision"], "abc");
    assert_eq!(rendered.manifest_digest, Digest::of(&rendered.manifest));
    assert_eq!(
        rendered.manifest_descriptor().size(),
        rendered.manifest.len() as u64
    );
}

#[test]
fn any_change_to_the_config_changes_the_digest() {
    let base = sample(&[]).digest().unwrap();
    let mut other = sample(&[]);
    other.runtime().set_cmd(Some(vec!["--help".into()]));
    assert_ne!(other.digest().unwrap(), base);
    let mut later = sample(&[]);
    later.set_created(1);
    assert_ne!(later.digest().unwrap(), base);
}

#[test]
fn from_parts_round_trips_and_rejects_mismatched_diff_ids() {
    let image = sample(&LABELS);
    let config = image.config();
    let mut back = Image::from_parts(config.clone(), image.layers().to_vec()).unwrap();
    for (k, v) in image.annotations() {
        back.annotate(k.clone(), v.clone());
    }
    assert_eq!(
        back.render().unwrap().manifest,
        image.render().unwrap().manifest
    );

    let reversed: Vec<Layer> = image.layers().iter().rev().cloned().collect();
    let err = Image::from_parts(config.clone(), reversed).unwrap_err();
    let (first, second) = (image.layers()[0].diff_id(), image.layers()[1].diff_id());
    assert_eq!(
        err.message(),
        format!("layer 0 has diff_id `{second}` but the image config lists `{first}`")
    );
    let err = Image::from_parts(config, image.layers()[..1].to_vec()).unwrap_err();
    assert_eq!(err.message(), "image config lists 2 diff_ids for 1 layers");
}

#[test]
fn rfc3339_formats_utc_dates() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
}

#[test]
fn new_image_takes_the_platform() {
    let platform = Platform::parse("linux/arm64/v8").unwrap();
    let image = Image::new(&platform);
    assert_eq!(image.platform(), platform);
    assert!(image.layers().is_empty());
}

fn healthcheck() -> Healthcheck {
    Healthcheck {
        test: vec![
            "CMD".into(),
            "/probe".into(),
            "tcp".into(),
            "127.0.0.1:1".into(),
        ],
        interval: 1_000_000_000,
        timeout: 2_000_000_000,
        start_period: 0,
        retries: 3,
    }
}

#[test]
fn an_image_without_healthcheck_renders_exactly_as_before() {
    let image = sample(&LABELS);
    assert_eq!(image.healthcheck(), None);
    let rendered = image.render().unwrap();
    // The rendering before healthchecks existed: the oci-spec config, canonical.
    assert_eq!(rendered.config, canonical_json(&image.config()).unwrap());
    assert!(
        !String::from_utf8(rendered.config)
            .unwrap()
            .contains("Healthcheck")
    );
}

#[test]
fn the_healthcheck_goes_into_the_runtime_config_canonically() {
    let mut image = sample(&LABELS);
    let before = image.render().unwrap();
    image.set_healthcheck(Some(healthcheck()));
    let rendered = image.render().unwrap();
    assert_ne!(rendered.manifest_digest, before.manifest_digest);
    let text = String::from_utf8(rendered.config.clone()).unwrap();
    assert!(
        text.contains(r#""Healthcheck":{"Interval":1000000000,"Retries":3,"StartPeriod":0,"Test":["CMD","/probe","tcp","127.0.0.1:1"],"Timeout":2000000000},"Labels""#),
        "{text}"
    );
    // Canonical: rendering again gives the same bytes; clearing it gives the old image back.
    assert_eq!(image.render().unwrap().config, rendered.config);
    image.set_healthcheck(None);
    assert_eq!(image.render().unwrap().config, before.config);
}
