//! A multi-platform image: one [`Target`] per platform, each compiled for its Rust target and
//! assembled from that platform's base and libraries, then one [`Index`].
//!
//! Order of work: every platform's toolchain and base are checked first (cheap), so a missing
//! std or linker on the last platform is reported before the first compile. Compiles run one
//! after the other into the same target directory: cargo locks it anyway, and sharing it means
//! build scripts and proc-macros (host code) are compiled once for all platforms; each compile
//! already uses every core through cargo's jobserver. Measured (bench/multiarch.sh, 153
//! packages, 2 cores on a shared machine): both platforms take 1.55× the amd64 build; two
//! concurrent builds in separate directories took 0.84× of that, but only by taking a larger
//! share of an oversubscribed machine while compiling the host units twice.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::image::{self, Inputs, Summary};
use crate::oci::{Image, Index};
use crate::project::Project;
use crate::registry::PullOptions;
use crate::resolve::Target;

/// What is shared by every platform of the build.
pub struct MultiInputs<'a> {
    pub project: &'a Project,
    /// With `platforms` listing at least two rows.
    pub target: &'a Target,
    /// Where bases are unpacked (one directory per platform inside).
    pub scratch: &'a Path,
    pub pull: &'a PullOptions,
    pub created: u64,
    pub extra_files: &'a [(PathBuf, String)],
    /// The name the provenance's subject carries (the repository pushed to, else the tag's).
    pub subject: String,
    /// Signs each platform's provenance (DSSE) when given.
    pub sign_key: Option<&'a crate::sign::SigningKey>,
}

/// One platform of the index.
pub struct PlatformImage {
    pub target: Target,
    pub image: Image,
    pub summary: Summary,
}

impl PlatformImage {
    /// This platform's part of `build --message-format json`.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "platform": self.target.platform.platform,
            "rust_target": self.target.cargo.target,
            "digest": self.image.digest().map(|d| d.to_string()).unwrap_or_default(),
            "size": self.image.layers().iter().map(|l| l.size()).sum::<u64>(),
            "linking": format!("{:?}", self.summary.linking).to_lowercase(),
            "libraries": self.summary.libraries,
            "max_glibc": self.summary.max_glibc,
        })
    }
}

pub fn build_index(inp: &MultiInputs<'_>) -> Result<(Index, Vec<PlatformImage>)> {
    let mut planned = Vec::new();
    for row in &inp.target.platforms {
        let within = format!("for `{}`", row.platform);
        let target = inp
            .target
            .for_platform(row)
            .map_err(|e| e.within(&within))?;
        image::compile::cross_toolchain(inp.project, &target).map_err(|e| e.within(&within))?;
        let scratch = inp.scratch.join(row.debian_arch);
        let base = target
            .base
            .load(&row.oci(), &scratch, inp.pull)
            .map_err(|e| e.within(&within))?;
        planned.push((target, base));
    }
    let cache = crate::oci::layer::LayerCache::new(image::cache_dir(&inp.project.target_directory));
    let mut built = Vec::new();
    let mut found: Option<crate::provenance::Found> = None;
    for (target, base) in planned {
        let within = format!("for `{}`", target.platform.platform);
        eprintln!("    Platform `{}`", target.platform.platform);
        let compiled = image::compile(inp.project, &target).map_err(|e| e.within(&within))?;
        let labels = target.image_labels();
        let probe = match &target.image.healthcheck {
            Some(_) => Some(
                crate::probe::build(
                    target.cargo.target.as_deref(),
                    &inp.project.target_directory.join("gantry").join("probe"),
                    &inp.project.root,
                )
                .map_err(|e| e.within(&within))?,
            ),
            None => None,
        };
        let (mut image, summary) = image::build(&Inputs {
            binary: &compiled.executable,
            bin: &target.bin,
            settings: &target.image,
            labels: &labels,
            base: &base,
            created: inp.created,
            extra_files: inp.extra_files,
            probe: probe.as_deref(),
            cache: Some(&cache),
        })
        .map_err(|e| e.within(&within))?;
        // One SBOM per platform: each binary has its own crates and runtime files.
        let formats = crate::sbom::formats(&target.image.sbom)?;
        if !formats.is_empty() {
            let dpkg = image::cache_dir(&inp.project.target_directory).join("dpkg");
            let sbom = sbom_of(&compiled, &summary, &base, inp.created, Some(&dpkg))?;
            for format in formats {
                let document = sbom.render(format)?;
                image.attach(crate::oci::Artifact::new(format.media_type(), document));
            }
        }
        // And one provenance per platform: it names that platform's manifest. What it records
        // of the checkout is read once, after the first compile (which writes a missing
        // Cargo.lock).
        if target.image.provenance {
            let found = match &found {
                Some(f) => f,
                None => found.insert(crate::provenance::Found::read(
                    inp.project,
                    crate::provenance::statement_time(inp.created),
                )?),
            };
            let p = crate::provenance::Provenance::of_target(
                &target,
                inp.subject.clone(),
                image.digest()?,
                &base,
                found.clone(),
            )?;
            image.attach(p.artifact(inp.sign_key)?);
        }
        built.push(PlatformImage {
            target,
            image,
            summary,
        });
    }
    let index = Index::new(built.iter().map(|b| b.image.clone()).collect())?;
    Ok((index, built))
}

/// The SBOM of an image: the binary's crates, the runtime files copied from this machine (by
/// Debian package when dpkg knows them; `cache` keeps that lookup) and the base image by digest.
pub fn sbom_of(
    built: &image::Built,
    summary: &image::Summary,
    base: &image::Base,
    created: u64,
    cache: Option<&std::path::Path>,
) -> Result<crate::sbom::Sbom> {
    let mut sbom = crate::sbom::Sbom::of_crates(built.crates.clone(), created).with_runtime_files(
        std::path::Path::new("/"),
        &summary.host_files,
        cache,
    )?;
    if let image::Base::Image {
        image, reference, ..
    } = base
    {
        sbom.base = Some(crate::sbom::BaseImage {
            reference: reference.clone(),
            digest: image.digest()?,
        });
    }
    Ok(sbom)
}
