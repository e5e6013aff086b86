//! CycloneDX 1.6 JSON. `metadata.component` is the binary's package; crates, Debian packages,
//! loose runtime files and the base image are components; `dependencies` holds the graph.
//! `serialNumber` is a UUID made from a hash of the rest of the document.

use serde::Serialize;

use super::{Sbom, TOOL, TOOL_VERSION, base_purl, id_safe, to_json};
use crate::error::Result;
use crate::oci::Digest;
use crate::oci::image::rfc3339;
use crate::sbom::graph::{Crate, Source};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: &'static str,
    spec_version: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "String::is_empty")]
    bom_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<Supplier>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<License>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Supplier {
    name: &'static str,
    url: Vec<&'static str>,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct License {
    expression: String,
}

#[derive(Serialize)]
struct ExternalReference {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

fn sha256(hex: &str) -> Vec<Hash> {
    vec![Hash {
        alg: "SHA-256",
        content: hex.to_owned(),
    }]
}

fn crate_component(c: &Crate, bom_ref: &str, kind: &'static str) -> Component {
    let mut refs = Vec::new();
    if let Some(url) = c.download_url().filter(|u| u.starts_with("https://")) {
        refs.push(ExternalReference {
            kind: "distribution",
            url,
        });
    }
    if let Some(repo) = c.repository.clone().filter(|r| r.starts_with("http")) {
        refs.push(ExternalReference {
            kind: "vcs",
            url: repo,
        });
    }
    let mut properties = Vec::new();
    if c.source == Source::Local {
        properties.push(Property {
            name: "cargo-gantry:source",
            value: "local".into(),
        });
    }
    Component {
        kind,
        bom_ref: bom_ref.to_owned(),
        supplier: (c.source == Source::CratesIo).then(|| Supplier {
            name: "crates.io",
            url: vec!["https://crates.io"],
        }),
        name: c.name.clone(),
        version: Some(c.version.clone()),
        description: c
            .description
            .as_ref()
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" ")),
        hashes: c.checksum.as_deref().map(sha256).unwrap_or_default(),
        licenses: c
            .license
            .iter()
            .map(|l| License {
                expression: l.clone(),
            })
            .collect(),
        purl: Some(c.purl()),
        external_references: refs,
        properties,
    }
}

pub(super) fn render(sbom: &Sbom) -> Result<Vec<u8>> {
    let ids = sbom.crate_ids();
    let root = sbom.crates.root;
    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    let mut runtime = Vec::new();
    for deb in &sbom.debs {
        let bom_ref = format!("deb-{}", id_safe(&format!("{}-{}", deb.name, deb.arch)));
        components.push(Component {
            kind: "library",
            bom_ref: bom_ref.clone(),
            name: deb.name.clone(),
            version: Some(deb.version.clone()),
            purl: sbom.os.as_ref().map(|os| deb.purl(os)),
            properties: deb
                .files
                .iter()
                .map(|f| Property {
                    name: "cargo-gantry:file",
                    value: f.clone(),
                })
                .collect(),
            ..Component::default()
        });
        runtime.push(bom_ref);
    }
    for file in &sbom.files {
        let bom_ref = format!("file-{}", id_safe(file.path.trim_start_matches('/')));
        components.push(Component {
            kind: "file",
            bom_ref: bom_ref.clone(),
            name: file.path.clone(),
            hashes: sha256(&file.sha256),
            ..Component::default()
        });
        runtime.push(bom_ref);
    }
    if let Some(base) = &sbom.base {
        components.push(Component {
            kind: "container",
            bom_ref: "base-image".into(),
            name: base.reference.clone(),
            version: Some(base.digest.to_string()),
            hashes: sha256(base.digest.hex()),
            purl: Some(base_purl(base)),
            ..Component::default()
        });
        runtime.push("base-image".into());
    }
    for (i, c) in sbom.crates.crates.iter().enumerate() {
        if i != root {
            components.push(crate_component(c, &ids[i], "library"));
        }
        let mut depends_on: Vec<String> = c.dependencies.iter().map(|&d| ids[d].clone()).collect();
        if i == root {
            depends_on.extend(runtime.iter().cloned());
        }
        dependencies.push(Dependency {
            reference: ids[i].clone(),
            depends_on,
        });
    }
    for r in &runtime {
        dependencies.push(Dependency {
            reference: r.clone(),
            depends_on: Vec::new(),
        });
    }
    components.sort_by(|a, b| a.bom_ref.cmp(&b.bom_ref));
    dependencies.sort_by(|a, b| a.reference.cmp(&b.reference));
    let mut bom = Bom {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: String::new(),
        version: 1,
        metadata: Metadata {
            timestamp: rfc3339(sbom.created),
            tools: Tools {
                components: vec![Component {
                    kind: "application",
                    name: TOOL.into(),
                    version: Some(TOOL_VERSION.into()),
                    ..Component::default()
                }],
            },
            component: crate_component(sbom.crates.root(), &ids[root], "application"),
        },
        components,
        dependencies,
    };
    bom.serial_number = uuid_urn(&Digest::of(&to_json(&bom)?));
    to_json(&bom)
}

/// `urn:uuid:` in the shape of a name-based (version 5) UUID, from a content hash.
fn uuid_urn(digest: &Digest) -> String {
    let h = digest.hex();
    let variant = ["8", "9", "a", "b"][usize::from_str_radix(&h[16..17], 16).unwrap_or(0) % 4];
    format!(
        "urn:uuid:{}-{}-5{}-{variant}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
