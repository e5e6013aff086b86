//! Resolution against this host (whatever glibc distribution it is) and against fake roots,
//! checked where possible against what the host's own ld.so loads (`ld.so --list`).

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::rootfs::{host_path, walk};
use super::*;
use crate::error::Kind;
use crate::image::elf::fixtures::{HELLO, cc, host_loader, loader_list, shared_lib};
use crate::image::elf::{Abi, ByteOrder};

const ZLIB_USER: &str = "#include <zlib.h>\nint main(void) { return zlibVersion()[0] == 0; }\n";
const SSL_USER: &str =
    "#include <openssl/ssl.h>\nint main(void) { return !OPENSSL_init_ssl(0, 0); }\n";

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

/// The paths the loader opens: interpreter and libraries, as `ld.so --list` prints them.
fn opened(r: &Resolution) -> BTreeSet<PathBuf> {
    r.interpreter
        .iter()
        .chain(&r.libraries)
        .map(|lib| lib.path.clone())
        .collect()
}

fn sonames(r: &Resolution) -> Vec<&str> {
    r.libraries.iter().map(|lib| lib.soname.as_str()).collect()
}

/// Build `r.entries()` into a fresh directory, as an image layer would.
fn materialize(r: &Resolution) -> tempfile::TempDir {
    let image = tempfile::tempdir().unwrap();
    for entry in r.entries() {
        let at = host_path(image.path(), entry.path());
        match entry {
            FsEntry::Dir { .. } => fs_err::create_dir(&at).unwrap(),
            FsEntry::Symlink { target, .. } => symlink(target, &at).unwrap(),
            FsEntry::File { source, .. } => drop(fs_err::copy(source, &at).unwrap()),
        }
    }
    image
}

#[test]
fn ls_resolves_to_what_the_host_loader_loads_at_real_paths() {
    let r = resolve(Path::new("/"), Path::new("/bin/ls")).unwrap();
    let interp = r.interpreter.as_ref().unwrap();
    assert_eq!(interp.path, host_loader());
    assert_eq!(
        interp.real_path,
        fs_err::canonicalize(&interp.path).unwrap()
    );
    assert_eq!(
        interp.soname,
        interp.path.file_name().unwrap().to_str().unwrap()
    );
    // breadth-first: ls's own needs come first, in its order; then theirs
    let ls = ElfInfo::read(Path::new("/bin/ls")).unwrap();
    assert_eq!(sonames(&r)[..ls.needed.len()], ls.needed);
    assert_eq!(opened(&r), loader_list(Path::new("/bin/ls")));
    let conf = conf::conf_dirs(Path::new("/")).unwrap();
    for lib in &r.libraries {
        // found through ld.so.cache where ld.so.conf names the directory, else a default one
        let dir = lib.path.parent().unwrap().to_path_buf();
        let via = match conf.contains(&dir) {
            true => FoundVia::LdSoConf,
            false => FoundVia::DefaultDir,
        };
        assert_eq!(lib.found_via, via, "{lib:?}");
        assert_eq!(lib.real_path, fs_err::canonicalize(&lib.path).unwrap());
        assert!(
            lib.needed_by == fs_err::canonicalize("/bin/ls").unwrap()
                || r.libraries.iter().any(|other| other.path == lib.needed_by),
            "{lib:?}"
        );
    }
    for lib in r.interpreter.iter().chain(&r.libraries) {
        assert!(
            std::fs::symlink_metadata(&lib.real_path).unwrap().is_file(),
            "{lib:?}"
        );
    }
    assert_eq!(r.library_path(), Vec::<PathBuf>::new());
}

#[test]
fn entries_rebuild_the_loader_paths_in_an_empty_directory() {
    let r = resolve(Path::new("/"), Path::new("/bin/ls")).unwrap();
    let entries: Vec<_> = r.entries().collect();
    // every symlink on the way to the loader is recreated as it is (merged /usr: `/lib64`)
    let mut at = PathBuf::from("/");
    for name in host_loader().parent().unwrap().iter().skip(1) {
        at.push(name);
        if let Ok(target) = std::fs::read_link(&at) {
            let link = FsEntry::Symlink {
                path: at.clone(),
                target,
            };
            assert!(entries.contains(&&link), "{link:?}");
            break;
        }
    }
    let libc = r
        .libraries
        .iter()
        .find(|l| l.soname == "libc.so.6")
        .unwrap();
    assert!(entries.contains(&&FsEntry::File {
        path: libc.real_path.clone(),
        source: libc.real_path.clone()
    }));
    let image = materialize(&r);
    for lib in r.interpreter.iter().chain(&r.libraries) {
        let walk = walk(image.path(), &lib.path)
            .unwrap()
            .unwrap_or_else(|| panic!("{lib:?}"));
        assert_eq!(walk.real, lib.real_path);
        assert_eq!(
            fs_err::read(&walk.host).unwrap(),
            fs_err::read(&lib.real_path).unwrap()
        );
    }
}

#[test]
fn static_binary_needs_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = resolve(
        Path::new("/"),
        &cc(dir.path(), "static", HELLO, &["-static"]),
    )
    .unwrap();
    assert!(r.interpreter.is_none() && r.libraries.is_empty());
    assert_eq!(r.entries().count(), 0);
}

#[test]
fn zlib_and_openssl_users_resolve_like_the_host_loader() {
    let dir = tempfile::tempdir().unwrap();
    let zlib = cc(dir.path(), "zlib", ZLIB_USER, &["-lz"]);
    let r = resolve(Path::new("/"), &zlib).unwrap();
    assert_eq!(sonames(&r), ["libz.so.1", "libc.so.6"]);
    assert_eq!(opened(&r), loader_list(&zlib));

    let ssl = cc(dir.path(), "ssl", SSL_USER, &["-lssl", "-lcrypto"]);
    let r = resolve(Path::new("/"), &ssl).unwrap();
    assert_eq!(sonames(&r), ["libssl.so.3", "libc.so.6", "libcrypto.so.3"]);
    assert_eq!(opened(&r), loader_list(&ssl));
}

/// The host's copy of `soname` as `binary` (compiled from `source` with `args`) loads it.
fn host_lib(source: &str, args: &[&str], soname: &str) -> PathBuf {
    let dir = tempfile::tempdir().unwrap();
    let r = resolve(Path::new("/"), &cc(dir.path(), "user", source, args)).unwrap();
    let lib = r.libraries.iter().find(|l| l.soname == soname).unwrap();
    lib.real_path.clone()
}

/// Where the fake root keeps the host's loader: under `/usr`, reached through an absolute
/// symlink from the loader's directory (`/lib64 -> /usr/lib64` for x86_64).
fn fake_root_loader() -> PathBuf {
    p("/usr").join(host_loader().strip_prefix("/").unwrap())
}

/// A root with its own ld.so.conf (relative include), ld.so behind an absolute symlink, and
/// libc only in a directory that ld.so.conf names.
fn fake_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let loader_dir = host_loader().parent().unwrap().to_path_buf();
    let real_loader_dir = p("/usr").join(loader_dir.strip_prefix("/").unwrap());
    for dir in ["/etc/ld.so.conf.d", "/opt/mylibs", "/usr/lib"] {
        fs_err::create_dir_all(host_path(r, Path::new(dir))).unwrap();
    }
    fs_err::create_dir_all(host_path(r, &real_loader_dir)).unwrap();
    fs_err::write(
        r.join("etc/ld.so.conf"),
        "# fake\ninclude ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    fs_err::write(r.join("etc/ld.so.conf.d/mylibs.conf"), "/opt/mylibs/\n").unwrap();
    fs_err::write(r.join("etc/ld.so.conf.d/off.conf.disabled"), "/usr/lib\n").unwrap();
    fs_err::copy(
        host_lib(HELLO, &[], "libc.so.6"),
        r.join("opt/mylibs/libc.so.6"),
    )
    .unwrap();
    fs_err::copy(
        fs_err::canonicalize(host_loader()).unwrap(),
        host_path(r, &fake_root_loader()),
    )
    .unwrap();
    // absolute: followed on the host it would reach the host's directory
    symlink(&real_loader_dir, host_path(r, &loader_dir)).unwrap();
    root
}

#[test]
fn a_fake_root_is_searched_through_its_own_ld_so_conf_not_the_hosts() {
    let root = fake_root();
    let bins = tempfile::tempdir().unwrap();
    let r = resolve(root.path(), &cc(bins.path(), "hello", HELLO, &[])).unwrap();
    let interp = r.interpreter.as_ref().unwrap();
    assert_eq!(interp.real_path, fake_root_loader());
    assert_eq!(sonames(&r), ["libc.so.6"]);
    assert_eq!(
        (r.libraries[0].path.as_path(), r.libraries[0].found_via),
        (Path::new("/opt/mylibs/libc.so.6"), FoundVia::LdSoConf)
    );
    for entry in r.entries() {
        if let FsEntry::File { source, .. } = entry {
            assert!(
                source.starts_with(root.path()),
                "{source:?} is outside the root"
            );
        }
    }
    // no ld.so.cache in the image: /opt/mylibs must be on LD_LIBRARY_PATH
    assert_eq!(r.library_path(), [p("/opt/mylibs")]);
}

/// The host's `libz.so.1` with `e_machine` set to another machine (AArch64, or x86_64 on an
/// AArch64 host): ld.so must skip it. Returns that machine's OCI name.
fn write_foreign_libz(path: &Path) -> &'static str {
    let host = ElfInfo::read(&std::env::current_exe().unwrap())
        .unwrap()
        .abi;
    let aarch64 = object::elf::EM_AARCH64.0;
    let other = match host.machine == aarch64 {
        true => object::elf::EM_X86_64.0,
        false => aarch64,
    };
    let mut bytes = fs_err::read(host_lib(ZLIB_USER, &["-lz"], "libz.so.1")).unwrap();
    let field = match host.byte_order {
        ByteOrder::Little => other.to_le_bytes(),
        ByteOrder::Big => other.to_be_bytes(),
    };
    bytes[18..20].copy_from_slice(&field);
    fs_err::write(path, bytes).unwrap();
    let foreign = Abi {
        machine: other,
        ..host
    };
    foreign.oci_architecture().unwrap()
}

#[test]
fn a_missing_library_names_who_needs_it_and_where_we_looked() {
    let root = fake_root();
    let foreign = write_foreign_libz(&root.path().join("opt/mylibs/libz.so.1"));
    let bins = tempfile::tempdir().unwrap();
    let zlib = cc(bins.path(), "zlib", ZLIB_USER, &["-lz"]);
    let err = resolve(root.path(), &zlib).unwrap_err();
    assert_eq!(err.kind(), Kind::User);
    let (root_shown, bin_shown) = (root.path().display(), zlib.display());
    assert_eq!(
        err.message(),
        format!("library `libz.so.1`, needed by `{bin_shown}`, was not found in `{root_shown}`")
    );
    let cause = &err.causes()[0];
    let abi = ElfInfo::read(&zlib).unwrap().abi;
    let searched = std::iter::once(p("/opt/mylibs")).chain(conf::default_dirs(&abi));
    for dir in searched {
        let line = format!("`{}`", dir.display());
        assert!(cause.lines().any(|l| l == line), "{line} in {cause}");
    }
    assert!(
        cause.contains(&format!(
            "skipped `/opt/mylibs/libz.so.1`: built for {foreign}"
        )),
        "{cause}"
    );
    assert!(err.hint().unwrap().contains("apt-file search libz.so.1"));

    // a matching copy in a later directory is the one taken
    fs_err::copy(
        host_lib(ZLIB_USER, &["-lz"], "libz.so.1"),
        root.path().join("usr/lib/libz.so.1"),
    )
    .unwrap();
    let r = resolve(root.path(), &zlib).unwrap();
    assert_eq!(r.libraries[0].real_path, p("/usr/lib/libz.so.1"));
    assert_eq!(r.libraries[0].found_via, FoundVia::DefaultDir);
}

#[test]
fn a_missing_interpreter_names_the_loader_this_machine_uses() {
    let root = tempfile::tempdir().unwrap();
    let bins = tempfile::tempdir().unwrap();
    let hello = cc(bins.path(), "hello", HELLO, &[]);
    let err = resolve(root.path(), &hello).unwrap_err();
    assert_eq!(err.kind(), Kind::User);
    assert!(
        err.message().starts_with(&format!(
            "the interpreter `{}` of ",
            host_loader().display()
        )),
        "{}",
        err.message()
    );
    let hint = err.hint().unwrap();
    assert!(
        hint.contains(&format!(
            "installs `{}",
            arch::loaders(&ElfInfo::read(&hello).unwrap().abi)[0]
        )),
        "{hint}"
    );
}

/// `app/bin/main` → `app/lib/libfoo.so` → `app/lib/libbar.so`, the binary asking for
/// `$ORIGIN/../lib` with new (RUNPATH) or old (RPATH) tags.
fn origin_app(dir: &Path, dtags: &str) -> PathBuf {
    let (bin, lib) = (dir.join("app/bin"), dir.join("app/lib"));
    fs_err::create_dir_all(&bin).unwrap();
    fs_err::create_dir_all(&lib).unwrap();
    shared_lib(&lib, "bar", &[], &[]);
    shared_lib(&lib, "foo", &["bar"], &["-L.", "-lbar"]);
    let (search, link) = (
        format!("-L{}", lib.display()),
        format!("-Wl,-rpath-link,{}", lib.display()),
    );
    let args = [
        search.as_str(),
        "-lfoo",
        link.as_str(),
        dtags,
        "-Wl,-rpath,$ORIGIN/../lib",
    ];
    cc(
        &bin,
        "main",
        "int foo(void);\nint main(void) { return foo(); }\n",
        &args,
    )
}

#[test]
fn runpath_with_origin_serves_only_direct_dependencies_as_in_ld_so() {
    let dir = tempfile::tempdir().unwrap();
    let main = origin_app(dir.path(), "-Wl,--enable-new-dtags");
    let err = resolve(Path::new("/"), &main).unwrap_err();
    let lib = dir.path().join("app/bin/../lib");
    let foo = lib.join("libfoo.so").display().to_string();
    assert_eq!(
        err.message(),
        format!("library `libbar.so`, needed by `{foo}`, was not found")
    );
    // the real loader agrees
    let out = std::process::Command::new(&main).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("libbar.so: cannot open shared object file"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let main = origin_app(dir.path(), "-Wl,--disable-new-dtags");
    let r = resolve(Path::new("/"), &main).unwrap();
    let lib = dir.path().join("app/bin/../lib");
    assert_eq!(
        (r.libraries[0].path.clone(), r.libraries[0].found_via),
        (lib.join("libfoo.so"), FoundVia::Rpath)
    );
    assert_eq!(sonames(&r), ["libfoo.so", "libc.so.6", "libbar.so"]);
    assert_eq!(opened(&r), loader_list(&main));
}

#[test]
fn absolute_symlinks_in_a_base_never_reach_the_hosts_files() {
    // a hostile base: the loader, libc and ld.so.conf are links to where the host keeps them
    let host = resolve(Path::new("/"), Path::new("/bin/ls")).unwrap();
    let libc = host
        .libraries
        .iter()
        .find(|l| l.soname == "libc.so.6")
        .unwrap();
    let interp = host.interpreter.as_ref().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let links = [
        (interp.path.clone(), interp.real_path.clone()),
        (libc.path.clone(), libc.real_path.clone()),
        (
            p("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            libc.real_path.clone(),
        ),
        (p("/etc/ld.so.conf"), p("/etc/ld.so.conf")),
    ];
    for (link, target) in &links {
        let at = host_path(r, link);
        fs_err::create_dir_all(at.parent().unwrap()).unwrap();
        symlink(target, &at).unwrap();
    }

    let abi = host.binary.abi;
    assert!(
        provided_glibc_versions(Path::new("/"), &abi)
            .unwrap()
            .is_some()
    );
    assert_eq!(provided_glibc_versions(r, &abi).unwrap(), None);
    assert!(!super::conf::conf_dirs(Path::new("/")).unwrap().is_empty());
    assert_eq!(super::conf::conf_dirs(r).unwrap(), Vec::<PathBuf>::new());
    let err = resolve(r, Path::new("/bin/ls")).unwrap_err();
    assert!(err.message().contains("interpreter"), "{}", err.render());
}
