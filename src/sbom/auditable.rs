//! cargo-auditable's data in the binary: the crates of [`Crates`] as zlib-compressed JSON in a
//! `.dep-v0` section (the format `cargo audit bin`, `rust-audit-info`, syft and trivy read).
//!
//! gantry writes a relocatable object holding the section and links it into the binary with
//! `-C link-arg`, which needs the list before the final link: it comes from `cargo metadata`,
//! which resolves without building.

use std::io::Write;
use std::path::Path;

use object::write::{Object, StandardSegment, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind};
use serde::Serialize;

use crate::error::{Context, Error, Result};
use crate::platforms::Row;
use crate::sbom::graph::{Crates, Source};

/// The section cargo-auditable's readers look for.
pub const SECTION: &str = ".dep-v0";
/// A symbol in the section, named on the link line so `--gc-sections` keeps it.
pub const SYMBOL: &str = "_GANTRY_AUDITABLE_VERSION_INFO";

#[derive(Serialize)]
struct VersionInfo<'a> {
    packages: Vec<AuditPackage<'a>>,
    /// Format 1: from `cargo metadata`, proc-macros not recorded as runtime dependencies.
    format: u32,
}

#[derive(Serialize)]
struct AuditPackage<'a> {
    name: &'a str,
    version: &'a str,
    source: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: &'a Vec<usize>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    root: bool,
}

/// The JSON document, compact, packages in the graph's (sorted) order.
pub fn json(crates: &Crates) -> Result<Vec<u8>> {
    let packages = crates
        .crates
        .iter()
        .enumerate()
        .map(|(i, c)| AuditPackage {
            name: &c.name,
            version: &c.version,
            source: match c.source {
                Source::CratesIo => "crates.io",
                Source::Registry(_) => "registry",
                Source::Git { .. } => "git",
                Source::Local => "local",
            },
            dependencies: &c.dependencies,
            root: i == crates.root,
        })
        .collect();
    serde_json::to_vec(&VersionInfo {
        packages,
        format: 1,
    })
    .context(|| "failed to serialize the auditable data".into())
}

/// zlib at a fixed level: the same list gives the same bytes, so the binary stays reproducible.
pub fn compressed(crates: &Crates) -> Result<Vec<u8>> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
    z.write_all(&json(crates)?)
        .and_then(|()| z.finish())
        .context(|| "failed to compress the auditable data".into())
}

/// An ELF object for `platform` with the compressed list in [`SECTION`].
pub fn object(crates: &Crates, platform: &Row) -> Result<Vec<u8>> {
    let (arch, endian, e_flags) = architecture(platform)?;
    let mut obj = Object::new(BinaryFormat::Elf, arch, endian);
    // The linker refuses objects whose ABI flags differ from the rest of the binary's.
    obj.flags = object::FileFlags::Elf {
        os_abi: object::elf::ELFOSABI_NONE,
        abi_version: 0,
        e_flags: object::elf::FileFlags(e_flags),
    };
    let data = compressed(crates)?;
    let segment = obj.segment_name(StandardSegment::Data).to_vec();
    let section = obj.add_section(
        segment,
        SECTION.as_bytes().to_vec(),
        SectionKind::ReadOnlyData,
    );
    let offset = obj.append_section_data(section, &data, 1);
    obj.add_symbol(Symbol {
        name: SYMBOL.as_bytes().to_vec(),
        value: offset,
        size: data.len() as u64,
        kind: SymbolKind::Data,
        scope: object::SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    });
    obj.write()
        .map_err(|e| Error::failure("failed to write the auditable object file").caused_by(e))
}

/// Write the object to `path` and return the rustflags that link it in.
pub fn link_flags(crates: &Crates, platform: &Row, path: &Path) -> Result<Vec<String>> {
    let bytes = object(crates, platform)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    // Rewritten only when it changed: the path is in the rustflags, the content is not, and
    // every change of the list comes with a changed dependency, which relinks the binary.
    if std::fs::read(path).ok().as_deref() != Some(bytes.as_slice()) {
        std::fs::write(path, &bytes).map_err(|e| Error::io("write", path, e))?;
    }
    Ok(vec![
        format!("-Clink-arg={}", path.display()),
        format!("-Clink-arg=-Wl,--undefined={SYMBOL}"),
    ])
}

/// The ELF machine, byte order and `e_flags` of the platform's Linux ABI.
fn architecture(platform: &Row) -> Result<(Architecture, Endianness, u32)> {
    use object::elf;
    Ok(match platform.platform {
        "linux/amd64" => (Architecture::X86_64, Endianness::Little, 0),
        "linux/arm64" => (Architecture::Aarch64, Endianness::Little, 0),
        "linux/arm/v7" => (
            Architecture::Arm,
            Endianness::Little,
            elf::EF_ARM_EABI_VER5.0 | elf::EF_ARM_ABI_FLOAT_HARD,
        ),
        "linux/riscv64" => (
            Architecture::Riscv64,
            Endianness::Little,
            elf::EF_RISCV_RVC.0 | elf::EF_RISCV_FLOAT_ABI_DOUBLE.0,
        ),
        "linux/s390x" => (Architecture::S390x, Endianness::Big, 0),
        "linux/ppc64le" => (Architecture::PowerPc64, Endianness::Little, 2),
        other => {
            return Err(Error::user(format!(
                "gantry cannot write cargo-auditable data for `{other}`"
            ))
            .with_hint("set `auditable = false` in [package.metadata.gantry]"));
        }
    })
}

/// gantry as cargo's `RUSTC_WORKSPACE_WRAPPER`: rustc runs as it would, and the link of each bin
/// named in `links` (crate name → rustc arguments) gets that binary's own auditable object. One
/// cargo run can then build several binaries, each with exactly its dependency list, and the
/// registry crates' flags (and so their fingerprints) stay untouched.
pub mod wrapper {
    use std::collections::BTreeMap;
    use std::ffi::OsString;
    use std::os::unix::process::CommandExt;

    use crate::error::{Error, Result};
    use crate::settings::env;

    /// The environment for cargo that makes `gantry` the wrapper for `links`.
    pub fn environment(links: &BTreeMap<String, Vec<String>>) -> Result<Vec<(String, OsString)>> {
        let exe = std::env::current_exe()
            .map_err(|e| Error::failure("failed to find gantry's own executable").caused_by(e))?;
        let json = serde_json::to_string(links).expect("a map of strings serializes");
        let mut vars = vec![
            (
                env::RUSTC_WORKSPACE_WRAPPER.to_owned(),
                exe.into_os_string(),
            ),
            (env::AUDITABLE_LINKS.to_owned(), json.into()),
        ];
        if let Some(inner) =
            std::env::var_os(env::RUSTC_WORKSPACE_WRAPPER).filter(|v| !v.is_empty())
        {
            vars.push((env::INNER_WORKSPACE_WRAPPER.to_owned(), inner));
        }
        Ok(vars)
    }

    /// `args` as cargo passed them to the wrapper: `[gantry, rustc, rustc args…]`. Never
    /// returns on success (rustc replaces this process).
    pub fn run(args: Vec<OsString>, links: &str) -> Result<()> {
        let links: BTreeMap<String, Vec<String>> = serde_json::from_str(links).map_err(|e| {
            Error::failure(format!("`{}` is not gantry's JSON", env::AUDITABLE_LINKS)).caused_by(e)
        })?;
        let mut rest = args.into_iter().skip(1);
        let rustc = rest.next().ok_or_else(|| {
            Error::failure("gantry ran as rustc's wrapper without a rustc to run")
        })?;
        let rest: Vec<OsString> = rest.collect();
        let extra = extra_args(&rest, &links);
        let mut cmd = match std::env::var_os(env::INNER_WORKSPACE_WRAPPER) {
            Some(inner) => {
                let mut c = std::process::Command::new(inner);
                c.arg(&rustc);
                c
            }
            None => std::process::Command::new(&rustc),
        };
        cmd.args(&rest).args(extra);
        let err = cmd.exec();
        Err(Error::failure(format!("failed to run `{}`", rustc.to_string_lossy())).caused_by(err))
    }

    /// The extra arguments for this rustc invocation: only a bin crate named in `links` gets any.
    pub(crate) fn extra_args(
        args: &[OsString],
        links: &BTreeMap<String, Vec<String>>,
    ) -> Vec<String> {
        let text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let value = |flag: &str| {
            text.iter()
                .position(|a| a == flag)
                .and_then(|i| text.get(i + 1))
                .cloned()
        };
        let is_bin = value("--crate-type").as_deref() == Some("bin");
        match value("--crate-name") {
            Some(name) if is_bin => links.get(&name).cloned().unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_the_named_bin_gets_its_object() {
            let links =
                BTreeMap::from([("my_app".to_owned(), vec!["-Clink-arg=/o/app.o".to_owned()])]);
            let call = |args: &[&str]| {
                let args: Vec<OsString> = args.iter().map(OsString::from).collect();
                extra_args(&args, &links)
            };
            assert_eq!(
                call(&[
                    "--crate-name",
                    "my_app",
                    "--edition=2021",
                    "--crate-type",
                    "bin",
                    "src/main.rs"
                ]),
                ["-Clink-arg=/o/app.o"]
            );
            // The library of the same package, and other bins, are left alone.
            assert!(call(&["--crate-name", "my_app", "--crate-type", "lib"]).is_empty());
            assert!(call(&["--crate-name", "other", "--crate-type", "bin"]).is_empty());
            assert!(call(&["-vV"]).is_empty());
        }
    }
}
