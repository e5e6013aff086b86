//! Which Debian package ships a library, for the hint when a library of another machine is
//! missing: the `-dev:<arch>` package the build used pulls in the runtime package, but a
//! library found only in the host's own directories is of no use to the image.

use crate::image::elf::Abi;
use crate::platforms;

/// sonames of common `-sys` crates' libraries → the Debian runtime package shipping them.
const RUNTIME_PACKAGES: &[(&str, &str, &str)] = &[
    // (soname prefix, runtime package, development package)
    ("libssl.so.", "libssl3", "libssl-dev"),
    ("libcrypto.so.", "libssl3", "libssl-dev"),
    ("libz.so.", "zlib1g", "zlib1g-dev"),
    ("libsqlite3.so.", "libsqlite3-0", "libsqlite3-dev"),
    ("libpq.so.", "libpq5", "libpq-dev"),
    ("libzstd.so.", "libzstd1", "libzstd-dev"),
    ("liblzma.so.", "liblzma5", "liblzma-dev"),
    ("libbz2.so.", "libbz2-1.0", "libbz2-dev"),
    ("libcurl.so.", "libcurl4", "libcurl4-openssl-dev"),
    ("libgcc_s.so.", "libgcc-s1", "libgcc-12-dev"),
    ("libstdc++.so.", "libstdc++6", "libstdc++-12-dev"),
    ("libc.so.", "libc6", "libc6-dev"),
    ("libm.so.", "libc6", "libc6-dev"),
    ("libdl.so.", "libc6", "libc6-dev"),
    ("libpthread.so.", "libc6", "libc6-dev"),
    ("librt.so.", "libc6", "libc6-dev"),
];

/// The hint for `soname` missing for `abi` when that is not the machine gantry runs on.
pub(super) fn foreign_hint(soname: &str, abi: &Abi) -> Option<String> {
    let arch = abi.oci_architecture()?;
    if abi.platform() == Some(std::env::consts::ARCH) {
        return None;
    }
    let row = platforms::TABLE.iter().find(|r| r.docker_arch() == arch)?;
    let deb = row.debian_arch;
    let known = RUNTIME_PACKAGES
        .iter()
        .find(|(prefix, _, _)| soname.starts_with(prefix));
    Some(match known {
        Some((_, runtime, dev)) => format!(
            "install `{runtime}:{deb}` (what `{dev}:{deb}` depends on), after `dpkg \
             --add-architecture {deb}`; gantry copies {arch} libraries only from \
             `/usr/lib/{triplet}`, `/lib/{triplet}`, `/usr/{triplet}` or the base image",
            triplet = row.gnu_triplet
        ),
        None => format!(
            "install the {arch} build of the package that ships `{soname}` (`dpkg -S {soname}` \
             on a machine that has it names it; install it as `PACKAGE:{deb}`), or put the \
             library in `/usr/lib/{}`",
            row.gnu_triplet
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::elf::{ByteOrder, Class};

    #[test]
    fn an_arm64_libssl_names_the_runtime_package_and_a_host_library_names_none() {
        let aarch64 = Abi {
            class: Class::Elf64,
            byte_order: ByteOrder::Little,
            machine: object::elf::EM_AARCH64.0,
        };
        if std::env::consts::ARCH != "aarch64" {
            let hint = foreign_hint("libssl.so.3", &aarch64).unwrap();
            assert!(hint.contains("`libssl3:arm64`"), "{hint}");
            assert!(hint.contains("libssl-dev:arm64"), "{hint}");
            let hint = foreign_hint("libgreet.so.1", &aarch64).unwrap();
            assert!(hint.contains("dpkg -S libgreet.so.1"), "{hint}");
        }
        let host = crate::image::elf::ElfInfo::read(&std::env::current_exe().unwrap()).unwrap();
        assert_eq!(foreign_hint("libssl.so.3", &host.abi), None);
    }
}
