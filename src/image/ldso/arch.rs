//! What glibc's loader looks like on each machine: the `PT_INTERP` paths it is installed under
//! and the library directories compiled into it. One row per machine, so a new platform is a
//! new row, not a new `if`.
//!
//! Resolution itself reads `PT_INTERP` from the binary and never needs `loaders`; they are here
//! so a base image (or a test) can be checked for the loader its machine's binaries ask for.

use std::path::PathBuf;

use crate::image::elf::{Abi, Class};

/// One machine's glibc conventions.
pub(crate) struct Arch {
    /// The OCI architecture (`Abi::oci_architecture`) this row is for.
    pub oci: &'static str,
    /// glibc's loader paths for this machine's ABIs (hard-float first where there is a choice).
    pub loaders: &'static [&'static str],
    /// glibc's own library directories (`slibdir`, then under `/usr`), relative to `/`, searched
    /// after Debian's multiarch directories and before `lib`. Empty where glibc uses plain `lib`.
    pub lib_dirs: &'static [&'static str],
}

pub(crate) const ARCHES: &[Arch] = &[
    Arch {
        oci: "amd64",
        loaders: &["/lib64/ld-linux-x86-64.so.2"],
        lib_dirs: &["lib64"],
    },
    Arch {
        oci: "arm64",
        loaders: &["/lib/ld-linux-aarch64.so.1"],
        lib_dirs: &["lib64"],
    },
    Arch {
        oci: "arm",
        loaders: &["/lib/ld-linux-armhf.so.3", "/lib/ld-linux.so.3"],
        lib_dirs: &[],
    },
    Arch {
        oci: "riscv64",
        // the lp64d ABI (what every distribution ships) puts glibc in its own subdirectory;
        // Fedora uses plain lib64
        loaders: &[
            "/lib/ld-linux-riscv64-lp64d.so.1",
            "/lib/ld-linux-riscv64-lp64.so.1",
        ],
        lib_dirs: &["lib64/lp64d", "lib64"],
    },
    Arch {
        oci: "s390x",
        loaders: &["/lib/ld64.so.1"],
        lib_dirs: &["lib64"],
    },
    Arch {
        oci: "ppc64le",
        loaders: &["/lib64/ld64.so.2"],
        lib_dirs: &["lib64"],
    },
    Arch {
        oci: "386",
        loaders: &["/lib/ld-linux.so.2"],
        lib_dirs: &[],
    },
];

/// The row for `abi`, if we have one.
pub(crate) fn of(abi: &Abi) -> Option<&'static Arch> {
    let oci = abi.oci_architecture()?;
    ARCHES.iter().find(|arch| arch.oci == oci)
}

/// glibc's library directories for `abi`, relative to `/`: the row's, or for a machine without
/// a row, `lib64` for 64-bit ones (glibc's default there).
pub(crate) fn lib_dirs(abi: &Abi) -> Vec<&'static str> {
    match of(abi) {
        Some(arch) => arch.lib_dirs.to_vec(),
        None if abi.class == Class::Elf64 => vec!["lib64"],
        None => vec![],
    }
}

/// The directories glibc searches last, compiled into ld.so: Debian-style multiarch ones first,
/// then glibc's own, then `/lib` and `/usr/lib`. A union over distributions: a directory a
/// distribution does not have is simply not there to search.
pub(crate) fn default_dirs(abi: &Abi) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut add = |dir: &str| {
        dirs.push(PathBuf::from(format!("/{dir}")));
        dirs.push(PathBuf::from(format!("/usr/{dir}")));
    };
    if let Some(triplet) = abi.multiarch_triplet() {
        add(&format!("lib/{triplet}"));
    }
    lib_dirs(abi).into_iter().for_each(&mut add);
    add("lib");
    dirs
}

/// glibc's loader paths for `abi`; empty for a machine without a row.
pub(crate) fn loaders(abi: &Abi) -> &'static [&'static str] {
    of(abi).map_or(&[], |arch| arch.loaders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::elf::ByteOrder;
    use object::elf;

    fn abi(machine: u16, class: Class) -> Abi {
        Abi {
            class,
            byte_order: ByteOrder::Little,
            machine,
        }
    }

    fn dirs(abi: &Abi) -> Vec<String> {
        default_dirs(abi)
            .iter()
            .map(|d| d.display().to_string())
            .collect()
    }

    #[test]
    fn x86_64_keeps_multiarch_then_lib64_then_lib() {
        let x86_64 = abi(elf::EM_X86_64.0, Class::Elf64);
        assert_eq!(
            dirs(&x86_64),
            [
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib64",
                "/usr/lib64",
                "/lib",
                "/usr/lib"
            ]
        );
        assert_eq!(loaders(&x86_64), ["/lib64/ld-linux-x86-64.so.2"]);
    }

    #[test]
    fn each_machine_has_its_own_loader_and_directories() {
        let aarch64 = abi(elf::EM_AARCH64.0, Class::Elf64);
        assert_eq!(loaders(&aarch64), ["/lib/ld-linux-aarch64.so.1"]);
        assert_eq!(
            dirs(&aarch64)[..3],
            [
                "/lib/aarch64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu",
                "/lib64"
            ]
        );

        let arm = abi(elf::EM_ARM.0, Class::Elf32);
        assert_eq!(loaders(&arm)[0], "/lib/ld-linux-armhf.so.3");
        assert!(!dirs(&arm).iter().any(|d| d.contains("lib64")));

        let riscv64 = abi(elf::EM_RISCV.0, Class::Elf64);
        assert_eq!(loaders(&riscv64)[0], "/lib/ld-linux-riscv64-lp64d.so.1");
        assert!(dirs(&riscv64).contains(&"/usr/lib64/lp64d".to_owned()));

        let s390x = Abi {
            byte_order: ByteOrder::Big,
            ..abi(elf::EM_S390.0, Class::Elf64)
        };
        assert_eq!(loaders(&s390x), ["/lib/ld64.so.1"]);
        assert_eq!(dirs(&s390x)[0], "/lib/s390x-linux-gnu");
    }

    #[test]
    fn every_row_is_an_oci_architecture_we_map_and_loaders_are_absolute() {
        for arch in ARCHES {
            assert!(!arch.loaders.is_empty(), "{}", arch.oci);
            assert!(
                arch.loaders.iter().all(|l| l.starts_with('/')),
                "{}",
                arch.oci
            );
        }
        // a machine without a row still gets glibc's generic directories
        let loong = abi(elf::EM_LOONGARCH.0, Class::Elf64);
        assert!(loaders(&loong).is_empty());
        assert!(dirs(&loong).contains(&"/usr/lib64".to_owned()));
    }
}
