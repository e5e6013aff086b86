//! OCI 1.1 referrers pushed with an image. Debian's distribution (2.8) has no referrers API, so
//! the fallback index tagged `sha256-<hex>` is what is checked here, over plain HTTP.

use cargo_gantry::oci::{Artifact, Digest};
use cargo_gantry::registry::{self, Access, Discovery, ImageRef, Repository};
use serde_json::{Value, json};

use super::{client_options, options, random_image};
use crate::support::registry::TestRegistry;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn get(url: &str, accept: &str) -> Option<Vec<u8>> {
    let mut resp = ureq::get(url).header("accept", accept).call().ok()?;
    Some(resp.body_mut().read_to_vec().unwrap())
}

/// The fallback index of `digest` in `repo`, fetched without gantry's client.
pub fn fallback_index(host: &str, repo: &str, digest: &str) -> Value {
    let tag = digest.replace(':', "-");
    let bytes = get(&format!("http://{host}/v2/{repo}/manifests/{tag}"), INDEX)
        .unwrap_or_else(|| panic!("no fallback tag `{tag}` in `{repo}`"));
    serde_json::from_slice(&bytes).unwrap()
}

pub fn manifest(host: &str, repo: &str, digest: &str) -> Value {
    let bytes = get(
        &format!("http://{host}/v2/{repo}/manifests/{digest}"),
        MANIFEST,
    )
    .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// What another tool (oras, say) leaves in the fallback index of `team/app`: its own artifact
/// manifest for the image, listed with annotations gantry knows nothing of.
pub fn another_tools_entry(host: &str, subject: &Digest, subject_size: usize) -> Value {
    let repo = Repository::new(
        &ImageRef::parse(&format!("{host}/team/app")).unwrap(),
        Access::PullPush,
        "testing".into(),
        &client_options(),
    )
    .unwrap();
    let config = repo.put_blob(b"{}").unwrap();
    let layer = repo.put_blob(b"signed by someone else").unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": "application/vnd.example.notary",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.as_str(), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer.as_str(), "size": 22}],
        "subject": {"mediaType": MANIFEST, "digest": subject.as_str(), "size": subject_size},
    }))
    .unwrap();
    let digest = repo
        .put_manifest(Digest::of(&manifest).as_str(), MANIFEST, &manifest)
        .unwrap();
    let entry = json!({
        "size": manifest.len(),
        "mediaType": MANIFEST,
        "digest": digest.as_str(),
        "artifactType": "application/vnd.example.notary",
        "annotations": {"org.example.tool": "other", "org.example.signed-at": "2026-01-01T00:00:00Z"},
    });
    // Appended at the end, unsorted, the way a tool that knows nothing of gantry would.
    let tag = registry::fallback_tag(subject);
    let mut index = get(&format!("http://{host}/v2/team/app/manifests/{tag}"), INDEX)
        .map(|b| serde_json::from_slice::<Value>(&b).unwrap())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": []}));
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(entry.clone());
    repo.put_manifest(&tag, INDEX, &serde_json::to_vec(&index).unwrap())
        .unwrap();
    entry
}

fn types(index: &Value) -> Vec<String> {
    let mut t: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["artifactType"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

#[test]
fn the_fallback_index_keeps_another_tools_entry_across_pushes() {
    let Some(reg) = TestRegistry::start() else {
        return;
    };
    let host = reg.host();
    let mut image = random_image(70, &[1500]);
    let rendered = image.render().unwrap();
    let subject = rendered.manifest_digest.clone();
    // The other tool was first.
    let theirs = another_tools_entry(&host, &subject, rendered.manifest.len());

    image.attach(Artifact::new(
        "application/spdx+json",
        b"{\"spdx\":1}".to_vec(),
    ));
    image.attach(Artifact::new(
        "application/vnd.in-toto+json",
        b"{\"_type\":\"https://in-toto.io/Statement/v1\"}".to_vec(),
    ));
    let target = ImageRef::parse(&format!("{host}/team/app:1")).unwrap();
    let report = registry::push(&image, &target, &options()).unwrap();
    let referrers = report.referrers.unwrap();
    assert_eq!(
        referrers.discovery,
        Discovery::FallbackTag {
            tag: format!("sha256-{}", subject.hex()),
            added: 2
        }
    );

    let index = fallback_index(&host, "team/app", subject.as_str());
    assert_eq!(index["mediaType"], INDEX);
    assert!(
        index["manifests"].as_array().unwrap().contains(&theirs),
        "{index:#}"
    );
    assert_eq!(
        types(&index),
        [
            "application/spdx+json",
            "application/vnd.example.notary",
            "application/vnd.in-toto+json"
        ]
    );
    for entry in index["manifests"].as_array().unwrap() {
        let m = manifest(&host, "team/app", entry["digest"].as_str().unwrap());
        assert_eq!(m["subject"]["digest"], subject.as_str());
        assert_eq!(m["artifactType"], entry["artifactType"]);
    }

    // Pushed again with one more referrer: added, and nobody's entry lost.
    image.attach(Artifact::new(
        "application/vnd.cyclonedx+json",
        b"{\"bomFormat\":\"CycloneDX\"}".to_vec(),
    ));
    let again = registry::push(&image, &target, &options()).unwrap();
    assert!(matches!(
        again.referrers.unwrap().discovery,
        Discovery::FallbackTag { added: 1, .. }
    ));
    let index = fallback_index(&host, "team/app", subject.as_str());
    assert!(
        index["manifests"].as_array().unwrap().contains(&theirs),
        "{index:#}"
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), 4);
    let digests: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    let mut sorted = digests.clone();
    sorted.sort();
    assert_eq!(digests, sorted, "sorted by digest");

    // Nothing new: nothing written, the index is the same.
    let third = registry::push(&image, &target, &options()).unwrap();
    assert!(matches!(
        third.referrers.unwrap().discovery,
        Discovery::FallbackTag { added: 0, .. }
    ));
    assert_eq!(fallback_index(&host, "team/app", subject.as_str()), index);
}
