//! SPDX 2.3 JSON. The document describes the binary's package; crates, Debian packages, loose
//! runtime files and the base image are packages, linked by `DEPENDS_ON`.
//! `documentNamespace` ends in a hash of the rest of the document: unique per content, and
//! the same for the same content.

use serde::Serialize;

use super::{Sbom, TOOL, TOOL_VERSION, base_purl, id_safe, to_json};
use crate::error::Result;
use crate::oci::Digest;
use crate::oci::image::rfc3339;
use crate::sbom::graph::Source;

const NOASSERTION: &str = "NOASSERTION";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<Package>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<String>,
    download_location: String,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    homepage: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    primary_package_purpose: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

fn purl(locator: String) -> Vec<ExternalRef> {
    vec![ExternalRef {
        reference_category: "PACKAGE-MANAGER",
        reference_type: "purl",
        reference_locator: locator,
    }]
}

fn sha256(hex: &str) -> Vec<Checksum> {
    vec![Checksum {
        algorithm: "SHA256",
        checksum_value: hex.to_owned(),
    }]
}

fn depends(from: &str, to: &str) -> Relationship {
    Relationship {
        spdx_element_id: from.to_owned(),
        relationship_type: "DEPENDS_ON",
        related_spdx_element: to.to_owned(),
    }
}

pub(super) fn render(sbom: &Sbom) -> Result<Vec<u8>> {
    let ids: Vec<String> = sbom
        .crate_ids()
        .iter()
        .map(|id| format!("SPDXRef-{id}"))
        .collect();
    let root = &sbom.crates.root();
    let root_id = &ids[sbom.crates.root];
    let mut packages = Vec::new();
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: root_id.clone(),
    }];
    for (i, c) in sbom.crates.crates.iter().enumerate() {
        let local = c.source == Source::Local;
        packages.push(Package {
            spdx_id: ids[i].clone(),
            name: c.name.clone(),
            version_info: Some(c.version.clone()),
            supplier: (c.source == Source::CratesIo).then(|| "Organization: crates.io".into()),
            download_location: c.download_url().unwrap_or_else(|| NOASSERTION.into()),
            files_analyzed: false,
            homepage: c.repository.clone().filter(|r| r.starts_with("http")),
            checksums: c.checksum.as_deref().map(sha256).unwrap_or_default(),
            license_concluded: NOASSERTION,
            license_declared: c.license.clone().unwrap_or_else(|| NOASSERTION.into()),
            copyright_text: NOASSERTION,
            summary: c.description.as_ref().map(|d| one_line(d)),
            comment: local.then(|| "a package of the project (path dependency)".into()),
            external_refs: purl(c.purl()),
            primary_package_purpose: if i == sbom.crates.root {
                "APPLICATION"
            } else {
                "LIBRARY"
            },
        });
        for &d in &c.dependencies {
            relationships.push(depends(&ids[i], &ids[d]));
        }
    }
    for deb in &sbom.debs {
        let id = format!(
            "SPDXRef-deb-{}",
            id_safe(&format!("{}-{}", deb.name, deb.arch))
        );
        packages.push(Package {
            spdx_id: id.clone(),
            name: deb.name.clone(),
            version_info: Some(deb.version.clone()),
            supplier: None,
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            homepage: None,
            checksums: Vec::new(),
            license_concluded: NOASSERTION,
            license_declared: NOASSERTION.into(),
            copyright_text: NOASSERTION,
            summary: None,
            comment: Some(format!("provides in the image: {}", deb.files.join(", "))),
            external_refs: sbom
                .os
                .as_ref()
                .map(|os| purl(deb.purl(os)))
                .unwrap_or_default(),
            primary_package_purpose: "LIBRARY",
        });
        relationships.push(depends(root_id, &id));
    }
    for file in &sbom.files {
        let id = format!(
            "SPDXRef-file-{}",
            id_safe(file.path.trim_start_matches('/'))
        );
        packages.push(Package {
            spdx_id: id.clone(),
            name: file.path.clone(),
            version_info: None,
            supplier: None,
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            homepage: None,
            checksums: sha256(&file.sha256),
            license_concluded: NOASSERTION,
            license_declared: NOASSERTION.into(),
            copyright_text: NOASSERTION,
            summary: None,
            comment: Some("copied from the build machine; no package database owns it".into()),
            external_refs: Vec::new(),
            primary_package_purpose: "FILE",
        });
        relationships.push(depends(root_id, &id));
    }
    if let Some(base) = &sbom.base {
        let id = "SPDXRef-base-image".to_owned();
        packages.push(Package {
            spdx_id: id.clone(),
            name: base.reference.clone(),
            version_info: Some(base.digest.to_string()),
            supplier: None,
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            homepage: None,
            checksums: sha256(base.digest.hex()),
            license_concluded: NOASSERTION,
            license_declared: NOASSERTION.into(),
            copyright_text: NOASSERTION,
            summary: None,
            comment: Some("the base image (--base)".into()),
            external_refs: purl(base_purl(base)),
            primary_package_purpose: "CONTAINER",
        });
        relationships.push(depends(root_id, &id));
    }
    relationships[1..].sort();
    let name = format!("{}-{}", root.name, root.version);
    let mut doc = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: name.clone(),
        document_namespace: String::new(),
        creation_info: CreationInfo {
            created: rfc3339(sbom.created),
            creators: vec![format!("Tool: {TOOL}-{TOOL_VERSION}")],
        },
        packages,
        relationships,
    };
    let content = Digest::of(&to_json(&doc)?);
    doc.document_namespace = format!(
        "https://spdx.org/spdxdocs/{TOOL}/{}-{}",
        id_safe(&name),
        content.hex()
    );
    to_json(&doc)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
