//! Which machine an ELF file is for, and the names other tools use for that machine.

use object::elf;

/// ELF class: the width of addresses, hence which loader and libraries can go with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Elf32,
    Elf64,
}

/// Byte order of the file's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    Little,
    Big,
}

/// What must match between an object and a library for ld.so to accept the library:
/// glibc's loader skips a candidate of another class, byte order or machine and keeps searching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Abi {
    pub class: Class,
    pub byte_order: ByteOrder,
    /// `e_machine`, e.g. 62 (`EM_X86_64`).
    pub machine: u16,
}

impl Abi {
    /// The architecture as OCI image configs (and Go's GOARCH) spell it, if we know one.
    pub fn oci_architecture(&self) -> Option<&'static str> {
        use {ByteOrder::*, Class::*};
        let arch = match (elf::Machine(self.machine), self.class, self.byte_order) {
            (elf::EM_X86_64, Elf64, _) => "amd64",
            (elf::EM_386, Elf32, _) => "386",
            (elf::EM_AARCH64, Elf64, _) => "arm64",
            (elf::EM_ARM, Elf32, _) => "arm",
            (elf::EM_PPC64, Elf64, Little) => "ppc64le",
            (elf::EM_PPC64, Elf64, Big) => "ppc64",
            (elf::EM_S390, Elf64, _) => "s390x",
            (elf::EM_RISCV, Elf64, _) => "riscv64",
            (elf::EM_LOONGARCH, Elf64, _) => "loong64",
            (elf::EM_MIPS, Elf64, Little) => "mips64le",
            _ => return None,
        };
        Some(arch)
    }

    /// Debian's multiarch directory name (`/usr/lib/<triplet>`), where Debian and Ubuntu keep
    /// libraries; other distributions simply do not have these directories.
    pub fn multiarch_triplet(&self) -> Option<&'static str> {
        let triplet = match self.oci_architecture()? {
            "amd64" => "x86_64-linux-gnu",
            "386" => "i386-linux-gnu",
            "arm64" => "aarch64-linux-gnu",
            // armel binaries exist too, but every current Debian-based image is armhf
            "arm" => "arm-linux-gnueabihf",
            "ppc64le" => "powerpc64le-linux-gnu",
            "ppc64" => "powerpc64-linux-gnu",
            "s390x" => "s390x-linux-gnu",
            "riscv64" => "riscv64-linux-gnu",
            "loong64" => "loongarch64-linux-gnu",
            "mips64le" => "mips64el-linux-gnuabi64",
            _ => return None,
        };
        Some(triplet)
    }

    /// What ld.so substitutes for `$PLATFORM`. The kernel's AT_PLATFORM names the machine;
    /// older glibc on x86 replaced it with a CPU model ("haswell"), which depends on the host
    /// CPU and cannot be known for an image that runs elsewhere, so we use the machine name.
    pub fn platform(&self) -> Option<&'static str> {
        let platform = match self.oci_architecture()? {
            "amd64" => "x86_64",
            "386" => "i686",
            "arm64" => "aarch64",
            "arm" => "v7l",
            "ppc64le" => "ppc64le",
            "ppc64" => "ppc64",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loong64" => "loongarch64",
            "mips64le" => "mips64",
            _ => return None,
        };
        Some(platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_maps_to_amd64_and_its_multiarch_dir() {
        let abi = Abi {
            class: Class::Elf64,
            byte_order: ByteOrder::Little,
            machine: 62,
        };
        assert_eq!(abi.oci_architecture(), Some("amd64"));
        assert_eq!(abi.multiarch_triplet(), Some("x86_64-linux-gnu"));
        assert_eq!(abi.platform(), Some("x86_64"));
    }

    #[test]
    fn x32_has_no_oci_architecture() {
        // x86-64 instructions with 32-bit pointers: no registry publishes images for it
        let abi = Abi {
            class: Class::Elf32,
            byte_order: ByteOrder::Little,
            machine: 62,
        };
        assert_eq!(abi.oci_architecture(), None);
    }
}
