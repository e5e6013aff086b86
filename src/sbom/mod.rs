//! Software bills of materials for one image: the crates compiled into the binary
//! ([`graph::Crates`]), the runtime files gantry copied and the Debian packages they came from
//! ([`dpkg`]), and the base image by digest. Rendered as SPDX 2.3 JSON or CycloneDX 1.6 JSON,
//! deterministically: sorted, no wall-clock time, identifiers derived from the content.
//!
//! The documents are written with our own serde structs: the crates on crates.io either target
//! older spec versions or pull in large generated models for the handful of fields used here.
//! `auditable` puts the same crate list into the binary in cargo-auditable's format.

pub mod auditable;
mod cyclonedx;
pub mod dpkg;
pub mod graph;
mod spdx;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::oci::Digest;
pub use dpkg::{DebPackage, OsRelease};
pub use graph::{Crate, Crates, Source};

/// The tool named in every document.
pub const TOOL: &str = "cargo-gantry";
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// An SBOM format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Spdx,
    CycloneDx,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "spdx" | "spdx-json" => Ok(Format::Spdx),
            "cyclonedx" | "cyclonedx-json" | "cdx" => Ok(Format::CycloneDx),
            other => Err(
                Error::user(format!("unknown SBOM format `{other}`")).with_hint(
                    "use `spdx` (SPDX 2.3 JSON), `cyclonedx` (CycloneDX 1.6 JSON) or `none`",
                ),
            ),
        }
    }

    /// The media type of the document, also the `artifactType` of its OCI artifact.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Spdx => "spdx",
            Format::CycloneDx => "cyclonedx",
        }
    }
}

/// The formats of a `--sbom`/`sbom = [...]` list; `none` (alone) turns SBOMs off. Sorted,
/// each once: the image's referrers do not depend on the order they were named in.
pub fn formats(names: &[String]) -> Result<Vec<Format>> {
    let mut out = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if name == "none" {
            continue;
        }
        out.push(Format::parse(name)?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A host file in the image that no package database accounts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFile {
    /// Its path in the image (the same as on the host).
    pub path: String,
    pub sha256: String,
}

/// The image gantry built on, as `--base` named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub reference: String,
    pub digest: Digest,
}

/// Everything an SBOM of one image says.
#[derive(Debug, Clone)]
pub struct Sbom {
    pub crates: Crates,
    pub os: Option<OsRelease>,
    pub debs: Vec<DebPackage>,
    pub files: Vec<HostFile>,
    pub base: Option<BaseImage>,
    /// Seconds since the epoch (SOURCE_DATE_EPOCH, or 0).
    pub created: u64,
}

impl Sbom {
    /// Only the crates (`cargo gantry sbom`, a binary without its image).
    pub fn of_crates(crates: Crates, created: u64) -> Sbom {
        Sbom {
            crates,
            os: None,
            debs: Vec::new(),
            files: Vec::new(),
            base: None,
            created,
        }
    }

    /// Add the runtime files copied from this machine: owned ones as their packages, the rest
    /// as files with their checksums. `cache`: a directory where the package lookup is kept.
    pub fn with_runtime_files(
        mut self,
        root: &std::path::Path,
        files: &[PathBuf],
        cache: Option<&std::path::Path>,
    ) -> Result<Sbom> {
        let owners = dpkg::owners_cached(root, files, cache)?;
        self.os = owners.os;
        self.debs = owners.packages;
        for path in owners.unowned {
            let host = root.join(path.strip_prefix("/").unwrap_or(&path));
            if !host.is_file() {
                continue;
            }
            let bytes = std::fs::read(&host).map_err(|e| Error::io("read", &host, e))?;
            self.files.push(HostFile {
                path: path.display().to_string(),
                sha256: Digest::of(&bytes).hex().to_owned(),
            });
        }
        Ok(self)
    }

    pub fn render(&self, format: Format) -> Result<Vec<u8>> {
        match format {
            Format::Spdx => spdx::render(self),
            Format::CycloneDx => cyclonedx::render(self),
        }
    }

    /// One identifier per crate, readable and unique: `crate-NAME-VERSION`, with the index
    /// appended when two sources provide the same name and version.
    fn crate_ids(&self) -> Vec<String> {
        let crates = &self.crates.crates;
        crates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let twin = crates
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.name == c.name && o.version == c.version);
                let id = id_safe(&format!("crate-{}-{}", c.name, c.version));
                if twin { format!("{id}-{i}") } else { id }
            })
            .collect()
    }
}

/// `[A-Za-z0-9.-]` only: what SPDX identifiers allow (and fine as CycloneDX bom-refs).
fn id_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Pretty JSON with keys in a fixed order (struct order), ending in a newline.
fn to_json(value: &impl Serialize) -> Result<Vec<u8>> {
    let mut out =
        serde_json::to_vec_pretty(value).context(|| "failed to serialize the SBOM".into())?;
    out.push(b'\n');
    Ok(out)
}

/// The purl of a base image: `pkg:oci/NAME@sha256%3A…`.
fn base_purl(base: &BaseImage) -> String {
    let reference = base.reference.trim_end_matches('/');
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let last = last.rsplit(':').next_back().unwrap_or(last);
    let name = last
        .split(['@', ':'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("base");
    format!(
        "pkg:oci/{}@{}",
        name.to_lowercase(),
        base.digest.as_str().replace(':', "%3A")
    )
}

#[cfg(test)]
mod tests;
