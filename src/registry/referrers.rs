//! OCI 1.1 referrers in a registry: the artifacts whose `subject` is an image manifest (SBOMs,
//! provenance) pushed next to it, and made discoverable.
//!
//! Each artifact goes up like any manifest: its blobs (the empty config `{}` and the one
//! layer), then the manifest by digest. A registry with the referrers API indexes it by its
//! `subject` and says so (`OCI-Subject` on the manifest `PUT`, or a `200` index from
//! `GET /v2/<name>/referrers/<digest>`): nothing more to do. Otherwise the client keeps the
//! list itself, as the distribution spec's referrers tag schema says: an image index tagged
//! `sha256-<hex>` (the subject digest with `:` → `-`) listing one descriptor per referrer.
//! That index is shared with every other tool that attaches artifacts (oras, cosign, buildx),
//! so it is read, completed and written back, never replaced: entries already there are kept
//! byte for byte in meaning, ours are added when missing, and the list is sorted by digest so
//! the same set of referrers always gives the same index. Like cosign's `.sig`, this is
//! read-modify-write: two pushes of referrers to the same image at the same moment can lose one
//! entry (the artifact itself stays, and pushing again puts the entry back).
//!
//! One call handles one image manifest, so an index of platform images attaches each
//! platform's referrers with one call per manifest.

use oci_spec::image::Descriptor;
use serde_json::{Value, json};

use super::artifact::{Access, Repository};
use super::client::ClientOptions;
use super::reference::ImageRef;
use crate::error::{Error, Result};
use crate::oci::Digest;
use crate::oci::artifact::{Artifact, EMPTY_JSON};
use crate::oci::image::canonical_json;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// How the pushed referrers can be found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// The registry serves the referrers API; it lists them itself.
    ReferrersApi,
    /// The fallback index at `tag`, to which `added` entries were added (0: all were there).
    FallbackTag { tag: String, added: usize },
}

/// What [`push_referrers`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferrersReport {
    pub subject: Digest,
    /// The artifact manifests pushed, in the order given.
    pub manifests: Vec<Digest>,
    pub discovery: Discovery,
}

/// `sha256-<hex>`: the tag of the fallback referrers index of `subject` (the spec's referrers
/// tag schema: algorithm and encoded digest joined by `-`, each cut to its limit).
pub fn fallback_tag(subject: &Digest) -> String {
    let (algorithm, encoded) = subject.as_str().split_once(':').unwrap_or(("sha256", ""));
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
                _ => '-',
            })
            .take(max)
            .collect()
    };
    format!("{}-{}", clean(algorithm, 32), clean(encoded, 64))
}

/// Push `artifacts`, each referring to `subject` (the image manifest's descriptor, already in
/// `target`'s repository or about to be), and make them discoverable.
pub fn push_referrers(
    target: &ImageRef,
    subject: &Descriptor,
    artifacts: &[Artifact],
    options: &ClientOptions,
) -> Result<ReferrersReport> {
    let subject_digest = Digest::parse(subject.digest().as_ref())?;
    let repo = Repository::new(
        target,
        Access::PullPush,
        format!(
            "pushing the referrers of `{}`",
            target.with_digest(subject_digest.clone())
        ),
        options,
    )?;
    let mut indexed = true;
    let mut manifests = Vec::new();
    let mut descriptors = Vec::new();
    for artifact in artifacts {
        let rendered = artifact.render(subject)?;
        repo.put_blob(EMPTY_JSON)?;
        repo.put_blob(&artifact.data)?;
        let stored = repo.put_manifest_for(
            rendered.manifest_digest.as_str(),
            OCI_MANIFEST,
            &rendered.manifest,
        )?;
        indexed &= stored.subject.as_ref() == Some(&subject_digest);
        manifests.push(rendered.manifest_digest);
        descriptors.push(rendered.descriptor);
    }
    let report = |discovery| ReferrersReport {
        subject: subject_digest.clone(),
        manifests: manifests.clone(),
        discovery,
    };
    if artifacts.is_empty() {
        return Ok(report(Discovery::ReferrersApi));
    }
    if indexed {
        return Ok(report(Discovery::ReferrersApi));
    }
    let (status, media_type, body) = repo.referrers(&subject_digest)?;
    if api_answer(status, media_type.as_deref(), &body) {
        return Ok(report(Discovery::ReferrersApi));
    }

    let tag = fallback_tag(&subject_digest);
    let existing = repo.manifest(&tag)?;
    if let Some(m) = &existing {
        check_index(m.media_type.as_deref(), &m.bytes).map_err(|e| {
            Error::user(format!(
                "`{}:{tag}` is not a referrers index, so gantry cannot list its referrers there",
                target.name()
            ))
            .caused_by(e)
            .with_hint(
                "that tag is the OCI 1.1 fallback for registries without the referrers API; move whatever is there to another tag",
            )
        })?;
    }
    let merged = merge(existing.as_ref().map(|m| m.bytes.as_slice()), &descriptors)?;
    let added = merged.as_ref().map_or(0, |(_, n)| *n);
    if let Some((bytes, _)) = merged {
        repo.put_manifest(&tag, OCI_INDEX, &bytes)?;
    }
    Ok(report(Discovery::FallbackTag { tag, added }))
}

/// One entry of a referrers list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    pub digest: Digest,
    pub artifact_type: Option<String>,
}

/// The referrers of `subject` in `repo`: the registry's list when it has the referrers API,
/// else the fallback index (empty when neither has any).
pub fn referrers_of(repo: &Repository, subject: &Digest) -> Result<Vec<Referrer>> {
    let (status, media_type, body) = repo.referrers(subject)?;
    let index = if api_answer(status, media_type.as_deref(), &body) {
        body
    } else {
        match repo.manifest(&fallback_tag(subject))? {
            Some(m) if check_index(m.media_type.as_deref(), &m.bytes).is_ok() => m.bytes,
            _ => return Ok(Vec::new()),
        }
    };
    let value: Value = serde_json::from_slice(&index)
        .map_err(|e| Error::user("the referrers index is not JSON").caused_by(e))?;
    let entries = value["manifests"].as_array().cloned().unwrap_or_default();
    Ok(entries
        .iter()
        .filter_map(|e| {
            Some(Referrer {
                digest: Digest::parse(e.get("digest")?.as_str()?).ok()?,
                artifact_type: e
                    .get("artifactType")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        })
        .collect())
}

/// Whether an answer to `GET /v2/<name>/referrers/<digest>` shows the referrers API: a `200`
/// with an image index. A registry without the API answers `404` (distribution 2.x: no such
/// route), sometimes `400`/`405`, or a `200` with something else (an HTML page from a proxy).
pub fn api_answer(status: u16, media_type: Option<&str>, body: &[u8]) -> bool {
    status == 200 && check_index(media_type, body).is_ok()
}

/// An image index: `manifests` is an array and the media type, where given, is the index's.
fn check_index(media_type: Option<&str>, body: &[u8]) -> Result<()> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::user("the document is not JSON").caused_by(e))?;
    let essence = |m: &str| m.split(';').next().unwrap_or_default().trim().to_owned();
    let said = value
        .get("mediaType")
        .and_then(Value::as_str)
        .map(essence)
        .or_else(|| media_type.map(essence));
    match said.as_deref() {
        Some(OCI_INDEX) | None if value.get("manifests").is_some_and(Value::is_array) => Ok(()),
        Some(other) => Err(Error::user(format!(
            "it is a `{other}`, not an image index"
        ))),
        None => Err(Error::user("it has no `manifests` list")),
    }
}

/// The fallback index `existing` (or a new one) with the descriptors of `add` that it lacks,
/// sorted by digest; `None` when it already lists them all (nothing to write). Everything else
/// in it (other tools' entries, their annotations, the index's own fields) is kept.
pub fn merge(existing: Option<&[u8]>, add: &[Descriptor]) -> Result<Option<(Vec<u8>, usize)>> {
    let mut index = match existing {
        Some(bytes) => serde_json::from_slice::<Value>(bytes)
            .map_err(|e| Error::user("the referrers index is not JSON").caused_by(e))?,
        None => json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [] }),
    };
    let Some(list) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
        return Err(Error::user("the referrers index has no `manifests` list"));
    };
    let digest_of = |v: &Value| v.get("digest").and_then(Value::as_str).map(str::to_owned);
    let mut added = 0;
    for descriptor in add {
        let value = serde_json::to_value(descriptor)
            .map_err(|e| Error::failure("failed to serialize JSON").caused_by(e))?;
        if !list.iter().any(|e| digest_of(e) == digest_of(&value)) {
            list.push(value);
            added += 1;
        }
    }
    if added == 0 && existing.is_some() {
        return Ok(None);
    }
    list.sort_by_key(|e| digest_of(e).unwrap_or_default());
    Ok(Some((canonical_json(&index)?, added)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use oci_spec::image::MediaType;

    use super::*;

    fn descriptor(seed: &[u8], artifact_type: &str) -> Descriptor {
        let mut d = Descriptor::new(MediaType::ImageManifest, 100, &Digest::of(seed));
        d.set_artifact_type(Some(MediaType::Other(artifact_type.into())));
        d.set_annotations(Some(HashMap::from([(
            "org.example/kind".to_owned(),
            artifact_type.to_owned(),
        )])));
        d
    }

    #[test]
    fn the_fallback_tag_is_the_digest_with_a_dash() {
        let d = Digest::of(b"x");
        assert_eq!(fallback_tag(&d), format!("sha256-{}", d.hex()));
    }

    #[test]
    fn a_referrers_index_shows_the_api_and_a_404_or_a_page_does_not() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(api_answer(200, Some(OCI_INDEX), index));
        // The media type may come from the header only, with parameters.
        let bare = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(api_answer(
            200,
            Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
            bare
        ));
        assert!(api_answer(200, None, bare));
        // distribution 2.8: no such route.
        assert!(!api_answer(
            404,
            Some("text/plain; charset=utf-8"),
            b"404 page not found\n"
        ));
        assert!(!api_answer(405, None, b""));
        // A proxy's login page, and a manifest where an index should be.
        assert!(!api_answer(200, Some("text/html"), b"<html>sign in</html>"));
        let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
        assert!(!api_answer(200, Some(OCI_MANIFEST), manifest));
    }

    #[test]
    fn merging_keeps_other_entries_adds_ours_once_and_sorts_by_digest() {
        let foreign = json!({
            "mediaType": OCI_MANIFEST,
            "digest": Digest::of(b"theirs").as_str(),
            "size": 7,
            "artifactType": "application/vnd.example.sig",
            "annotations": {"org.example/tool": "other", "org.example/extra": {"nested": true}}
        });
        let existing = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "annotations": {"org.example/index": "kept"},
            "manifests": [foreign.clone()],
        }))
        .unwrap();
        let ours = [
            descriptor(b"sbom", "application/spdx+json"),
            descriptor(b"prov", "application/vnd.in-toto+json"),
        ];
        let (bytes, added) = merge(Some(&existing), &ours).unwrap().unwrap();
        assert_eq!(added, 2);
        let index: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index["annotations"]["org.example/index"], "kept");
        let list = index["manifests"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        assert!(list.contains(&foreign), "{index:#}");
        let digests: Vec<&str> = list.iter().map(|e| e["digest"].as_str().unwrap()).collect();
        let mut sorted = digests.clone();
        sorted.sort();
        assert_eq!(digests, sorted);
        let sbom = list
            .iter()
            .find(|e| e["artifactType"] == "application/spdx+json")
            .unwrap();
        assert_eq!(
            sbom["annotations"]["org.example/kind"],
            "application/spdx+json"
        );

        // Everything listed already: nothing to write.
        assert!(merge(Some(&bytes), &ours).unwrap().is_none());
        // The same set in another order gives the same bytes.
        let reversed = [ours[1].clone(), ours[0].clone()];
        assert_eq!(merge(Some(&existing), &reversed).unwrap().unwrap().0, bytes);
    }

    /// A registry with the referrers API, as far as pushing referrers goes: every blob exists,
    /// every manifest `PUT` is answered with `OCI-Subject: <subject>`. Records what was asked.
    fn fake_registry(subject: Digest) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = header.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request: Vec<&str> = line.split_whitespace().take(2).collect();
                log.lock().unwrap().push(request.join(" "));
                let head = match request[..] {
                    ["PUT", path] if path.contains("/manifests/") => format!(
                        "HTTP/1.1 201 Created\r\nOCI-Subject: {subject}\r\nDocker-Content-Digest: {}\r\n",
                        Digest::of(&body)
                    ),
                    ["HEAD", _] => "HTTP/1.1 200 OK\r\n".to_owned(),
                    _ => "HTTP/1.1 404 Not Found\r\n".to_owned(),
                };
                let _ = stream.write_all(
                    format!("{head}Content-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                );
            }
        });
        (host, seen)
    }

    #[test]
    fn a_registry_that_answers_oci_subject_gets_no_fallback_tag() {
        let subject = Descriptor::new(MediaType::ImageManifest, 10, &Digest::of(b"image"));
        let digest = Digest::of(b"image");
        let (host, seen) = fake_registry(digest.clone());
        let target = ImageRef::parse(&format!("{host}/team/app:1")).unwrap();
        let options = ClientOptions {
            credentials: crate::registry::CredentialSource::Anonymous,
            ..ClientOptions::default()
        };
        let artifacts = [Artifact::new("application/spdx+json", b"{}".to_vec())];
        let report = push_referrers(&target, &subject, &artifacts, &options).unwrap();
        assert_eq!(report.discovery, Discovery::ReferrersApi);
        assert_eq!(report.subject, digest);
        let seen = seen.lock().unwrap().clone();
        let put = format!("PUT /v2/team/app/manifests/{}", report.manifests[0]);
        assert!(seen.contains(&put), "{seen:?}");
        // Neither the referrers endpoint nor the fallback tag was needed.
        assert!(
            seen.iter()
                .all(|r| !r.contains("referrers") && !r.contains("sha256-")),
            "{seen:?}"
        );
    }

    #[test]
    fn a_new_fallback_index_is_an_oci_index() {
        let (bytes, added) = merge(None, &[descriptor(b"a", "t")]).unwrap().unwrap();
        assert_eq!(added, 1);
        let index: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index["schemaVersion"], 2);
        assert_eq!(index["mediaType"], OCI_INDEX);
        assert!(check_index(None, &bytes).is_ok());
    }
}
