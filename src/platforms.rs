//! The platforms gantry builds for, one row each: the OCI platform of the image, the Rust
//! targets that produce its binaries, and the Debian names of its architecture (for cross
//! packages like `libssl-dev:arm64` and multiarch library directories).

use crate::error::{Error, Result};
use crate::oci::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// `os/arch[/variant]` as OCI and Docker's `--platform` spell it.
    pub platform: &'static str,
    /// The glibc Rust target.
    pub gnu: &'static str,
    /// The musl Rust target (static binaries).
    pub musl: &'static str,
    /// dpkg's name of the architecture (`dpkg --print-architecture`).
    pub debian_arch: &'static str,
    /// The GNU triplet of the multiarch directories and cross tools (`aarch64-linux-gnu-gcc`).
    pub gnu_triplet: &'static str,
}

pub const TABLE: &[Row] = &[
    Row {
        platform: "linux/amd64",
        gnu: "x86_64-unknown-linux-gnu",
        musl: "x86_64-unknown-linux-musl",
        debian_arch: "amd64",
        gnu_triplet: "x86_64-linux-gnu",
    },
    Row {
        platform: "linux/arm64",
        gnu: "aarch64-unknown-linux-gnu",
        musl: "aarch64-unknown-linux-musl",
        debian_arch: "arm64",
        gnu_triplet: "aarch64-linux-gnu",
    },
    Row {
        platform: "linux/arm/v7",
        gnu: "armv7-unknown-linux-gnueabihf",
        musl: "armv7-unknown-linux-musleabihf",
        debian_arch: "armhf",
        gnu_triplet: "arm-linux-gnueabihf",
    },
    Row {
        platform: "linux/riscv64",
        gnu: "riscv64gc-unknown-linux-gnu",
        musl: "riscv64gc-unknown-linux-musl",
        debian_arch: "riscv64",
        gnu_triplet: "riscv64-linux-gnu",
    },
    Row {
        platform: "linux/s390x",
        gnu: "s390x-unknown-linux-gnu",
        musl: "s390x-unknown-linux-musl",
        debian_arch: "s390x",
        gnu_triplet: "s390x-linux-gnu",
    },
    Row {
        platform: "linux/ppc64le",
        gnu: "powerpc64le-unknown-linux-gnu",
        musl: "powerpc64le-unknown-linux-musl",
        debian_arch: "ppc64el",
        gnu_triplet: "powerpc64le-linux-gnu",
    },
];

impl Row {
    pub fn oci(&self) -> Platform {
        Platform::parse(self.platform).expect("the table holds valid platforms")
    }

    /// Docker's `TARGETARCH` build argument for this platform (`amd64`, `arm64`, `arm`…).
    pub fn docker_arch(&self) -> &'static str {
        self.platform.split('/').nth(1).unwrap_or("")
    }

    /// Docker's `TARGETVARIANT` (`v7`), empty when the platform has none.
    pub fn docker_variant(&self) -> &'static str {
        self.platform.split('/').nth(2).unwrap_or("")
    }
}

/// The row of a Rust target triple (glibc or musl).
pub fn by_triple(triple: &str) -> Option<&'static Row> {
    TABLE.iter().find(|r| r.gnu == triple || r.musl == triple)
}

/// The row of an OCI platform (`linux/arm64` matches a row without variant).
pub fn by_platform(platform: &Platform) -> Option<&'static Row> {
    TABLE.iter().find(|r| {
        let row = r.oci();
        row.os == platform.os
            && row.architecture == platform.architecture
            && (platform.variant.is_none() || row.variant == platform.variant)
    })
}

/// The row of the machine gantry runs on: what a build without `--target` produces.
pub fn host() -> Result<&'static Row> {
    let prefix = match std::env::consts::ARCH {
        "x86_64" => "x86_64-",
        "aarch64" => "aarch64-",
        "arm" => "armv7-",
        "riscv64" => "riscv64gc-",
        "s390x" => "s390x-",
        "powerpc64" => "powerpc64le-",
        other => {
            return Err(Error::user(format!(
                "gantry does not know the container platform of a `{other}` host"
            ))
            .with_hint("pass --target with one of the triples in the README's platform table"));
        }
    };
    Ok(TABLE
        .iter()
        .find(|r| r.gnu.starts_with(prefix))
        .expect("every host prefix has a row"))
}

/// The platform a build for `target` (None: the host) produces.
pub fn of_target(target: Option<&str>) -> Result<&'static Row> {
    match target {
        None => host(),
        Some(t) => by_triple(t).ok_or_else(|| {
            let known: Vec<String> = TABLE.iter().map(|r| format!("`{}`", r.gnu)).collect();
            Error::user(format!(
                "target `{t}` does not run in a Linux container gantry knows"
            ))
            .with_hint(format!(
                "use one of {} (or their `-musl` twins)",
                known.join(", ")
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_consistent() {
        for row in TABLE {
            assert_eq!(by_triple(row.gnu), Some(row));
            assert_eq!(by_triple(row.musl), Some(row));
            assert_eq!(by_platform(&row.oci()), Some(row));
            assert!(row.musl.contains("musl") && !row.gnu.contains("musl"));
        }
    }

    #[test]
    fn arm64_is_aarch64_and_arm_has_a_variant() {
        let arm64 = by_platform(&Platform::parse("linux/arm64").unwrap()).unwrap();
        assert_eq!(arm64.gnu, "aarch64-unknown-linux-gnu");
        assert_eq!(arm64.docker_arch(), "arm64");
        let arm = by_triple("armv7-unknown-linux-gnueabihf").unwrap();
        assert_eq!((arm.docker_arch(), arm.docker_variant()), ("arm", "v7"));
    }

    #[test]
    fn the_host_row_matches_the_architecture_gantry_was_built_for() {
        let host = host().unwrap();
        let arch = std::env::consts::ARCH;
        let prefix = host.gnu.split('-').next().unwrap();
        assert!(
            prefix.starts_with(arch) || (arch == "arm" && prefix == "armv7"),
            "{prefix} vs {arch}"
        );
    }

    #[test]
    fn unknown_targets_are_refused_with_the_table() {
        let err = of_target(Some("wasm32-unknown-unknown")).unwrap_err();
        assert!(err.hint().unwrap().contains("aarch64-unknown-linux-gnu"));
    }
}
