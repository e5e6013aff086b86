//! What an ELF file tells the image builder: which machine it is for, whether it needs a
//! loader at all, which libraries it names, where it asks to find them, and which symbol
//! versions it requires from them or defines itself.

mod abi;
#[cfg(test)]
pub(crate) mod fixtures;
mod glibc;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use object::elf::{self, FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind, ReadCache, ReadRef};

pub use abi::{Abi, ByteOrder, Class};
pub use glibc::GlibcVersion;

use crate::error::{Error, Result};

/// How an executable gets its code at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// No interpreter and no `DT_NEEDED`: runs on an empty filesystem.
    Static,
    /// Static and position-independent (`-static-pie`; Rust's `+crt-static` on gnu targets):
    /// it relocates itself, so it has a dynamic section but still needs no file at all.
    StaticPie,
    /// Has a `PT_INTERP` or `DT_NEEDED`: needs the loader and its libraries in the image.
    Dynamic,
}

/// The parts of an ELF file that the loader and the image builder care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub path: PathBuf,
    pub abi: Abi,
    pub linking: Linking,
    /// `PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interpreter: Option<PathBuf>,
    /// `DT_NEEDED`, in file order (the loader's search order).
    pub needed: Vec<String>,
    /// `DT_RPATH` split on `:`, tokens like `$ORIGIN` left unexpanded.
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` split on `:`, tokens left unexpanded.
    pub runpath: Vec<String>,
    pub soname: Option<String>,
    /// `.gnu.version_r`: library soname → versions required from it (`libc.so.6` → `GLIBC_2.34`…).
    pub required_versions: BTreeMap<String, BTreeSet<String>>,
    /// `.gnu.version_d`: versions this object defines, without the base entry (its own soname).
    pub defined_versions: BTreeSet<String>,
}

impl ElfInfo {
    /// Read the ELF file at `path`. Only the headers and the dynamic, string and version
    /// tables are read, not the whole file (a release binary with debug info is tens of MB).
    pub fn read(path: &Path) -> Result<ElfInfo> {
        let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
        ElfInfo::parse_from(path, &ReadCache::new(file))
    }

    /// Parse `data`, the contents of `path` (named in errors).
    pub fn parse(path: &Path, data: &[u8]) -> Result<ElfInfo> {
        ElfInfo::parse_from(path, data)
    }

    fn parse_from<'data, R: ReadRef<'data>>(path: &Path, data: R) -> Result<ElfInfo> {
        match FileKind::parse(data) {
            Ok(FileKind::Elf32) => parse_elf::<FileHeader32<Endianness>, R>(path, data, Class::Elf32),
            Ok(FileKind::Elf64) => parse_elf::<FileHeader64<Endianness>, R>(path, data, Class::Elf64),
            _ => Err(Error::user(format!("`{}` is not an ELF file", path.display())).with_hint(
                "gantry packages Linux executables; pass the compiled binary, not a script or source file",
            )),
        }
    }

    /// Every `GLIBC_*` version this object requires, from whichever glibc library.
    pub fn required_glibc_versions(&self) -> BTreeSet<&str> {
        let all = self.required_versions.values().flatten();
        all.filter(|v| v.starts_with("GLIBC_"))
            .map(String::as_str)
            .collect()
    }

    /// The newest numeric glibc version this object requires, e.g. `GLIBC_2.34`.
    pub fn max_required_glibc(&self) -> Option<GlibcVersion> {
        GlibcVersion::max_of(self.required_glibc_versions())
    }
}

fn parse_elf<'data, Elf, R>(path: &Path, data: R, class: Class) -> Result<ElfInfo>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let malformed = |e: object::read::Error| {
        Error::user(format!("`{}` is not a valid ELF file", path.display())).caused_by(e)
    };
    let header = Elf::parse(data).map_err(malformed)?;
    let endian = header.endian().map_err(malformed)?;
    let byte_order = if header.is_big_endian() {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
    let abi = Abi {
        class,
        byte_order,
        machine: header.e_machine(endian).0,
    };

    let mut interpreter = None;
    for segment in header.program_headers(endian, data).map_err(malformed)? {
        if let Some(interp) = segment.interpreter(endian, data).map_err(malformed)? {
            interpreter = Some(PathBuf::from(OsStr::from_bytes(interp)));
        }
    }

    // Section headers, not PT_DYNAMIC: the version tables are only reachable through them, and
    // linkers and `strip` keep them (only tools like `sstrip` remove them).
    let sections = header.sections(endian, data).map_err(malformed)?;
    let dynamic = sections.dynamic_table(endian, data).map_err(malformed)?;
    let (mut needed, mut rpath, mut runpath, mut soname, mut pie) =
        (vec![], vec![], vec![], None, false);
    for entry in dynamic.iter() {
        let string = || dynamic.string(entry).map(text).map_err(malformed);
        match entry.tag {
            elf::DT_NEEDED => needed.push(string()?),
            elf::DT_RPATH => rpath = split_path(&string()?),
            elf::DT_RUNPATH => runpath = split_path(&string()?),
            elf::DT_SONAME => soname = Some(string()?),
            elf::DT_FLAGS_1 => pie = entry.val & elf::DF_1_PIE.0 != 0,
            _ => {}
        }
    }
    let linking = match (&interpreter, needed.is_empty()) {
        (None, true) if pie || header.e_type(endian) == elf::ET_DYN => Linking::StaticPie,
        (None, true) => Linking::Static,
        _ => Linking::Dynamic,
    };

    let mut required_versions = BTreeMap::<String, BTreeSet<String>>::new();
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data).map_err(malformed)? {
        let strings = sections.strings(endian, data, link).map_err(malformed)?;
        while let Some((need, mut aux)) = needs.next().map_err(malformed)? {
            let file = text(need.file(endian, strings).map_err(malformed)?);
            let versions = required_versions.entry(file).or_default();
            while let Some(version) = aux.next().map_err(malformed)? {
                versions.insert(text(version.name(endian, strings).map_err(malformed)?));
            }
        }
    }

    let mut defined_versions = BTreeSet::new();
    if let Some((mut defs, link)) = sections.gnu_verdef(endian, data).map_err(malformed)? {
        let strings = sections.strings(endian, data, link).map_err(malformed)?;
        while let Some((def, mut aux)) = defs.next().map_err(malformed)? {
            // the base entry names the file itself (`libc.so.6`), not a version
            if def.vd_flags.get(endian).0 & elf::VER_FLG_BASE.0 != 0 {
                continue;
            }
            // the first aux entry is the version's name; later ones name its parents
            if let Some(name) = aux.next().map_err(malformed)? {
                defined_versions.insert(text(name.name(endian, strings).map_err(malformed)?));
            }
        }
    }

    Ok(ElfInfo {
        path: path.to_path_buf(),
        abi,
        linking,
        interpreter,
        needed,
        rpath,
        runpath,
        soname,
        required_versions,
        defined_versions,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Empty elements are dropped: glibc would read them as the current directory, which means
/// nothing in an image whose working directory we do not control.
fn split_path(list: &str) -> Vec<String> {
    list.split(':')
        .filter(|dir| !dir.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::fixtures::{HELLO, cc, host_glibc, host_loader, shared_lib, versioned_lib};
    use super::*;
    use crate::error::Kind;

    /// A zlib user linked here: dynamic, for this machine, with the host's loader.
    #[test]
    fn a_dynamic_binary_names_the_host_loader_its_libraries_and_glibc_versions() {
        let dir = tempfile::tempdir().unwrap();
        let args = ["-Wl,--no-as-needed", "-lz"];
        let bin = ElfInfo::read(&cc(dir.path(), "zlib", HELLO, &args)).unwrap();
        let this = ElfInfo::read(&std::env::current_exe().unwrap()).unwrap();
        assert_eq!(bin.abi, this.abi);
        assert_eq!(bin.linking, Linking::Dynamic);
        assert_eq!(bin.interpreter, Some(host_loader()));
        assert!(
            crate::image::ldso::glibc_loaders(&bin.abi)
                .iter()
                .any(|l| bin.interpreter.as_deref() == Some(Path::new(l))),
            "{:?} is not in the loader table",
            bin.interpreter
        );
        assert_eq!(bin.needed, ["libz.so.1", "libc.so.6"]);
        // whatever glibc this is, the binary needs no newer glibc than the one it was linked to
        let needs = bin.max_required_glibc().unwrap();
        assert!(
            needs <= GlibcVersion::parse(&host_glibc()).unwrap(),
            "{needs}"
        );
        assert!(bin.required_versions["libc.so.6"].contains(&needs.to_string()));
    }

    #[test]
    fn libc_defines_its_versions_but_not_its_base_entry() {
        let dir = tempfile::tempdir().unwrap();
        let hello = cc(dir.path(), "hello", HELLO, &[]);
        let resolved = crate::image::ldso::resolve(Path::new("/"), &hello).unwrap();
        let libc = &resolved.libraries[0].elf;
        assert_eq!(libc.soname.as_deref(), Some("libc.so.6"));
        let loader = host_loader();
        let loader = loader.file_name().unwrap().to_str().unwrap();
        assert_eq!(libc.needed, [loader]);
        assert!(libc.defined_versions.contains("GLIBC_PRIVATE"));
        assert!(!libc.defined_versions.contains("libc.so.6"));
        // the newest version it defines is the host's glibc release
        let newest = GlibcVersion::max_of(libc.defined_versions.iter().map(String::as_str));
        assert_eq!(newest.unwrap().to_string(), host_glibc());
    }

    #[test]
    fn a_libc_of_another_release_is_read_for_what_it_defines() {
        let dir = tempfile::tempdir().unwrap();
        let fake = versioned_lib(dir.path(), "libc.so.6", &["GLIBC_2.17", "GLIBC_2.99"]);
        let libc = ElfInfo::read(&fake).unwrap();
        assert_eq!(
            libc.defined_versions,
            BTreeSet::from(["GLIBC_2.17".into(), "GLIBC_2.99".into()])
        );
    }

    #[test]
    fn static_and_static_pie_binaries_need_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let plain = ElfInfo::read(&cc(dir.path(), "plain", HELLO, &["-static"])).unwrap();
        assert_eq!(plain.linking, Linking::Static);
        let pie = ElfInfo::read(&cc(dir.path(), "pie", HELLO, &["-static-pie"])).unwrap();
        assert_eq!(pie.linking, Linking::StaticPie);
        // what `cargo gantry` users get from `-C target-feature=+crt-static` on a gnu target
        fs_err::write(dir.path().join("main.rs"), "fn main() {}\n").unwrap();
        let mut rustc = crate::process::command("rustc", dir.path());
        rustc.args(["-C", "target-feature=+crt-static", "main.rs", "-o", "rust"]);
        crate::process::output(&mut rustc).unwrap_or_else(|e| panic!("{}", e.render()));
        let rust = ElfInfo::read(&dir.path().join("rust")).unwrap();
        assert_eq!(rust.linking, Linking::StaticPie);
        for info in [plain, pie, rust] {
            assert_eq!((info.interpreter, info.needed), (None, vec![]));
        }
    }

    #[test]
    fn rpath_runpath_and_soname_are_split_and_kept_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let old = [
            "-Wl,--disable-new-dtags",
            "-Wl,-rpath,$ORIGIN/../lib:/opt/x",
        ];
        let rpath = ElfInfo::read(&cc(dir.path(), "rpath", HELLO, &old)).unwrap();
        assert_eq!(
            (rpath.rpath, rpath.runpath),
            (vec!["$ORIGIN/../lib".into(), "/opt/x".into()], vec![])
        );
        let new = ["-Wl,--enable-new-dtags", "-Wl,-rpath,/a::/b"];
        let runpath = ElfInfo::read(&cc(dir.path(), "runpath", HELLO, &new)).unwrap();
        assert_eq!(
            (runpath.rpath, runpath.runpath),
            (vec![], vec!["/a".into(), "/b".into()])
        );
        // Debian links `--as-needed`; keep the unused libraries so the order is visible
        let args = ["-Wl,--no-as-needed", "-lz", "-lc"];
        let lib = ElfInfo::read(&shared_lib(dir.path(), "foo", &[], &args)).unwrap();
        assert_eq!(lib.soname.as_deref(), Some("libfoo.so"));
        assert_eq!(lib.needed, ["libz.so.1", "libc.so.6"]);
    }

    #[test]
    fn a_file_that_is_not_elf_is_a_user_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run.sh");
        fs_err::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        let err = ElfInfo::read(&script).unwrap_err();
        assert_eq!(err.kind(), Kind::User);
        assert_eq!(
            err.message(),
            format!("`{}` is not an ELF file", script.display())
        );
        // a truncated ELF is named as well, with the parser's reason as the cause
        let truncated = dir.path().join("truncated");
        fs_err::write(&truncated, &std::fs::read("/bin/ls").unwrap()[..40]).unwrap();
        let err = ElfInfo::read(&truncated).unwrap_err();
        assert!(
            err.message()
                .contains(&format!("`{}`", truncated.display())),
            "{}",
            err.render()
        );
    }
}
