//! Which builder image to start from: the toolchain file's channel, else the package's
//! `rust-version`, else the newest stable. A pinned tag means the toolchain is already in the
//! image, so no toolchain is downloaded at build time.

use crate::error::{Error, Result};
use crate::project::ProjectFile;

/// The Debian release of the builder (and of a glibc runtime: they must match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Bookworm,
    Trixie,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Bookworm => "bookworm",
            Suite::Trixie => "trixie",
        }
    }
    pub fn number(self) -> u32 {
        match self {
            Suite::Bookworm => 12,
            Suite::Trixie => 13,
        }
    }
    pub fn glibc(self) -> &'static str {
        match self {
            Suite::Bookworm => "2.36",
            Suite::Trixie => "2.41",
        }
    }
    /// Trixie renamed libraries in the 64-bit time_t transition (`libssl3t64`).
    pub fn t64(self) -> bool {
        self == Suite::Trixie
    }
}

/// What the toolchain file asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolchainFile {
    pub channel: Option<String>,
    pub components: Vec<String>,
    pub targets: Vec<String>,
}

impl ToolchainFile {
    /// `rust-toolchain.toml`, or the legacy `rust-toolchain` (TOML or a bare channel name).
    pub fn parse(file: &ProjectFile) -> Result<ToolchainFile> {
        let text = file.contents.trim();
        if !text.contains('[') && !text.contains('=') {
            return Ok(ToolchainFile {
                channel: Some(text.to_owned()).filter(|c| !c.is_empty()),
                ..ToolchainFile::default()
            });
        }
        let table = text.parse::<toml::Table>().map_err(|e| {
            Error::user(format!("failed to parse `{}`", file.rel))
                .caused_by(e)
                .with_hint("rustup reads the same file; fix its TOML syntax")
        })?;
        let tc = table.get("toolchain").and_then(|t| t.as_table());
        let list = |key: &str| -> Vec<String> {
            tc.and_then(|t| t.get(key))
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        Ok(ToolchainFile {
            channel: tc
                .and_then(|t| t.get("channel"))
                .and_then(|c| c.as_str())
                .map(str::to_owned),
            components: list("components"),
            targets: list("targets"),
        })
    }
}

/// The oldest Rust that builds cargo-gantry itself (its dependencies' `rust-version`), for the
/// stage that runs `cargo install cargo-gantry`.
const GANTRY_RUST: &str = "1.91";

/// The oldest cargo that reads a Cargo.lock of this `version = N` (3: 1.53, 4: 1.78).
pub fn lockfile_cargo(lockfile: &str) -> Option<&'static str> {
    let version = lockfile
        .parse::<toml::Table>()
        .ok()?
        .get("version")?
        .as_integer()?;
    match version {
        3 => Some("1.53"),
        4 => Some("1.78"),
        _ => None,
    }
}

/// The builder image and what rustup still has to do in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    pub image: String,
    /// Where `cargo install cargo-gantry` runs: the builder, or the same suite at the oldest
    /// Rust that compiles gantry when the builder is older.
    pub gantry_image: String,
    pub suite: Suite,
    /// Where the tag came from, for the Dockerfile comment.
    pub reason: String,
    /// The toolchain file names a toolchain the image does not have: rustup installs it.
    pub install_toolchain: bool,
    pub components: Vec<String>,
    pub targets: Vec<String>,
}

impl Builder {
    /// Anything here downloads from the rustup dist server at build time.
    pub fn needs_rustup(&self) -> bool {
        self.install_toolchain || !self.components.is_empty() || !self.targets.is_empty()
    }
}

/// Choose the builder for a glibc (`musl == false`) or musl build.
/// `image` (the `builder` setting) replaces the derived tag. `lockfile_cargo` (see
/// [`lockfile_cargo`]) raises a `rust-version` that is too old to read the lockfile.
pub fn builder(
    toolchain: Option<&ProjectFile>,
    rust_version: Option<&str>,
    lockfile_cargo: Option<&str>,
    musl: bool,
    image_setting: Option<&str>,
) -> Result<Builder> {
    let file = toolchain.map(ToolchainFile::parse).transpose()?;
    let channel = file.as_ref().and_then(|f| f.channel.clone());
    let (tag, reason, exact) = match (&channel, rust_version) {
        (Some(c), _) if c.starts_with("nightly") => (
            None,
            format!(
                "`{}` asks for {c}",
                toolchain.map_or("", |t| t.rel.as_str())
            ),
            c == "nightly",
        ),
        (Some(c), _) if is_version(c) => (
            Some(c.clone()),
            format!("pinned by `{}`", toolchain.map_or("", |t| t.rel.as_str())),
            c.split('.').count() == 3,
        ),
        (Some(c), _) => (
            Some("1".to_owned()),
            format!(
                "`{}` names `{c}`: rustup installs it at build time (pin `channel = \"1.x.y\"` to avoid that)",
                toolchain.map_or("", |t| t.rel.as_str())
            ),
            false,
        ),
        // rust-version is a minimum: cargo older than the lockfile format cannot even start.
        (None, Some(v)) => match lockfile_cargo.filter(|l| older(v, l)) {
            Some(l) => (
                Some(l.to_owned()),
                format!(
                    "the package's `rust-version = \"{v}\"`, raised to {l}: older cargo cannot \
                     read this Cargo.lock's format"
                ),
                true,
            ),
            None => (
                Some(v.to_owned()),
                format!("the package's `rust-version = \"{v}\"`"),
                true,
            ),
        },
        (None, None) => (
            Some("1".to_owned()),
            "the newest stable (pin with rust-toolchain.toml or `rust-version`)".to_owned(),
            true,
        ),
    };
    // Official rust images have trixie tags from 1.90 on; older releases only bookworm.
    let suite = match &tag {
        Some(v) if minor(v).is_some_and(|m| m < 90) => Suite::Bookworm,
        _ => Suite::Trixie,
    };
    let image_of = |tag: Option<&str>| match (tag, musl) {
        (None, false) => format!("rustlang/rust:nightly-{}-slim", suite.name()),
        (None, true) => "rustlang/rust:nightly-alpine".to_owned(),
        (Some(v), false) => format!("rust:{v}-slim-{}", suite.name()),
        (Some(v), true) => format!("rust:{v}-alpine"),
    };
    let image = image_of(tag.as_deref());
    // Same suite (gantry runs in the builder, on its glibc), new enough to compile gantry.
    let gantry_image = match tag.as_deref() {
        Some(v) if is_version(v) && older(v, GANTRY_RUST) => image_of(Some(GANTRY_RUST)),
        _ => image.clone(),
    };
    let (image, gantry_image, suite, reason) = match image_setting {
        // The suite follows the tag: the runtime must match the builder's glibc.
        Some(i) if i.contains("bookworm") => {
            (i.to_owned(), i.to_owned(), Suite::Bookworm, given(i))
        }
        Some(i) => (i.to_owned(), i.to_owned(), Suite::Trixie, given(i)),
        None => (image, gantry_image, suite, reason),
    };
    let (components, targets) = file.map(|f| (f.components, f.targets)).unwrap_or_default();
    Ok(Builder {
        image,
        gantry_image,
        suite,
        reason,
        install_toolchain: channel.is_some() && !exact,
        components,
        targets,
    })
}

fn given(image: &str) -> String {
    format!("set by the `builder` setting (`{image}`)")
}

fn is_version(c: &str) -> bool {
    let parts: Vec<&str> = c.split('.').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| p.parse::<u32>().is_ok())
}

fn minor(v: &str) -> Option<u32> {
    v.split('.').nth(1)?.parse().ok()
}

/// `a < b` for `1.x[.y]` versions (a missing patch is 0).
fn older(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) < parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ProjectFile {
        ProjectFile {
            rel: "rust-toolchain.toml".into(),
            contents: text.into(),
        }
    }

    #[test]
    fn pinned_channel_selects_the_exact_image_without_rustup() {
        let b = builder(
            Some(&file("[toolchain]\nchannel = \"1.95.0\"\n")),
            None,
            None,
            false,
            None,
        )
        .unwrap();
        assert_eq!(b.image, "rust:1.95.0-slim-trixie");
        assert!(!b.needs_rustup());
    }

    #[test]
    fn nightly_uses_the_nightly_image_and_keeps_components() {
        let tc = file("[toolchain]\nchannel = \"nightly\"\ncomponents = [\"rust-src\"]\n");
        let b = builder(Some(&tc), Some("1.80"), None, true, None).unwrap();
        assert_eq!(b.image, "rustlang/rust:nightly-alpine");
        assert_eq!(b.components, ["rust-src"]);
        assert!(!b.install_toolchain);
    }

    #[test]
    fn old_rust_version_falls_back_to_bookworm() {
        let b = builder(None, Some("1.80"), None, false, None).unwrap();
        assert_eq!(b.image, "rust:1.80-slim-bookworm");
        assert_eq!(b.suite.glibc(), "2.36");
    }

    #[test]
    fn rust_version_older_than_the_lockfile_format_is_raised_and_gantry_installs_on_its_own_rust() {
        assert_eq!(lockfile_cargo("version = 4\n"), Some("1.78"));
        let b = builder(None, Some("1.70.0"), Some("1.78"), false, None).unwrap();
        assert_eq!(b.image, "rust:1.78-slim-bookworm");
        assert!(b.reason.contains("raised to 1.78"), "{}", b.reason);
        assert_eq!(b.gantry_image, "rust:1.91-slim-bookworm");
        let newer = builder(None, Some("1.80"), Some("1.78"), false, None).unwrap();
        assert_eq!(newer.image, "rust:1.80-slim-bookworm");
        let pinned = builder(None, Some("1.95.0"), Some("1.78"), false, None).unwrap();
        assert_eq!(pinned.gantry_image, pinned.image);
    }

    #[test]
    fn legacy_plain_file_is_a_channel() {
        let b = builder(Some(&file("stable\n")), None, None, false, None).unwrap();
        assert_eq!(b.image, "rust:1-slim-trixie");
        assert!(b.install_toolchain);
    }

    #[test]
    fn builder_setting_wins_and_its_tag_decides_the_suite() {
        let b = builder(
            None,
            Some("1.71"),
            None,
            false,
            Some("rust:1.88-slim-bookworm"),
        )
        .unwrap();
        assert_eq!(b.image, "rust:1.88-slim-bookworm");
        assert_eq!(b.suite, Suite::Bookworm);
        assert!(b.reason.contains("`builder` setting"));
    }
}
