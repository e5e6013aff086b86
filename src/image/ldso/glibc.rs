//! Does a base image's glibc run our binary? A binary linked against glibc 2.39 fails to start
//! on 2.36 ("version `GLIBC_2.39' not found"); we refuse at build time instead.

use std::collections::BTreeSet;
use std::path::Path;

use super::search::{Loader, Searched};
use crate::error::{Error, Result};
use crate::image::elf::{Abi, GlibcVersion};

/// The `GLIBC_*` versions defined by the `libc.so.6` that ld.so would load in `root` for `abi`
/// (a base image may hold libraries for several architectures). `None` when there is none:
/// `scratch`, distroless `static`, or a musl-based image such as Alpine.
pub fn provided_glibc_versions(root: &Path, abi: &Abi) -> Result<Option<BTreeSet<String>>> {
    let loader = Loader::new(root, *abi)?;
    let found = loader.find("libc.so.6", loader.system_dirs(), &mut Searched::default())?;
    Ok(found.map(|found| {
        let versions = found.elf.defined_versions.into_iter();
        versions.filter(|v| v.starts_with("GLIBC_")).collect()
    }))
}

/// Refuse when `app`, requiring the `GLIBC_*` versions `required`, would not start on a glibc
/// defining `provided` (`None`: the base has no glibc at all).
pub fn check_glibc(
    app: &str,
    required: &BTreeSet<&str>,
    provided: Option<&BTreeSet<String>>,
) -> Result<()> {
    let needs = GlibcVersion::max_of(required.iter().copied());
    let Some(provided) = provided else {
        return match required.is_empty() {
            true => Ok(()),
            false => Err(Error::user(format!(
                "`{app}` needs glibc but the base image has no `libc.so.6`"
            ))
            .with_hint(HINT_NO_GLIBC)),
        };
    };
    let has = GlibcVersion::max_of(provided.iter().map(String::as_str));
    if let (Some(needs), Some(has)) = (needs, has)
        && needs > has
    {
        return Err(Error::user(format!(
            "`{app}` needs {needs} but the base provides at most {has}"
        ))
        .with_hint(HINT_TOO_OLD));
    }
    // markers such as `GLIBC_ABI_DT_RELR` (packed relocations) are requirements too;
    // `GLIBC_PRIVATE` is only used between glibc's own libraries, which come as a set
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|v| {
            GlibcVersion::parse(v).is_none() && *v != "GLIBC_PRIVATE" && !provided.contains(*v)
        })
        .collect();
    if !missing.is_empty() {
        let missing = missing.join("`, `");
        return Err(Error::user(format!(
            "`{app}` needs `{missing}`, which the base's glibc does not define"
        ))
        .with_hint(HINT_TOO_OLD));
    }
    Ok(())
}

const HINT_TOO_OLD: &str = "build against the base's glibc (e.g. in a `rust:<version>-<base's release>` \
     image), pick a newer base image, or build a static binary for `x86_64-unknown-linux-musl`";

const HINT_NO_GLIBC: &str = "use a glibc-based base image (`debian`, `ubuntu`, `gcr.io/distroless/cc`), \
     or build a static binary (`-C target-feature=+crt-static`, or a `*-linux-musl` target)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use crate::image::elf::ElfInfo;
    use crate::image::elf::fixtures::{host_glibc, versioned_lib};

    fn set(versions: &[&str]) -> BTreeSet<String> {
        versions.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn newer_glibc_than_the_base_is_refused_with_both_versions() {
        let base = set(&["GLIBC_2.2.5", "GLIBC_2.4", "GLIBC_2.36"]);
        let required = BTreeSet::from(["GLIBC_2.4", "GLIBC_2.39", "GLIBC_2.2.5"]);
        let err = check_glibc("app", &required, Some(&base)).unwrap_err();
        assert_eq!(err.kind(), Kind::User);
        assert_eq!(
            err.message(),
            "`app` needs GLIBC_2.39 but the base provides at most GLIBC_2.36"
        );
        assert!(err.hint().unwrap().contains("musl"));
        // 2.4 < 2.36 numerically, although "2.4" > "2.36" as text
        check_glibc(
            "app",
            &BTreeSet::from(["GLIBC_2.4", "GLIBC_2.36"]),
            Some(&base),
        )
        .unwrap();
    }

    #[test]
    fn abi_markers_must_be_defined_and_a_base_without_glibc_is_refused() {
        let base = set(&["GLIBC_2.36"]);
        let err =
            check_glibc("app", &BTreeSet::from(["GLIBC_ABI_DT_RELR"]), Some(&base)).unwrap_err();
        assert_eq!(
            err.message(),
            "`app` needs `GLIBC_ABI_DT_RELR`, which the base's glibc does not define"
        );
        let err = check_glibc("app", &BTreeSet::from(["GLIBC_2.34"]), None).unwrap_err();
        assert_eq!(
            err.message(),
            "`app` needs glibc but the base image has no `libc.so.6`"
        );
        check_glibc("static-app", &BTreeSet::new(), None).unwrap();
    }

    #[test]
    fn host_libc_provides_the_hosts_release_and_satisfies_ls_but_an_empty_root_has_none() {
        let ls = ElfInfo::read(Path::new("/bin/ls")).unwrap();
        let provided = provided_glibc_versions(Path::new("/"), &ls.abi)
            .unwrap()
            .unwrap();
        let newest = GlibcVersion::max_of(provided.iter().map(String::as_str)).unwrap();
        assert_eq!(newest.to_string(), host_glibc());
        assert!(!provided.contains("libc.so.6") && provided.contains("GLIBC_PRIVATE"));
        check_glibc("ls", &ls.required_glibc_versions(), Some(&provided)).unwrap();

        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            provided_glibc_versions(empty.path(), &ls.abi).unwrap(),
            None
        );
    }

    /// A machine whose glibc is not the host's: a root with a `libc.so.6` defining other
    /// versions, older and newer than the host's. The check uses what it finds there.
    #[test]
    fn the_check_uses_the_glibc_found_in_the_root_not_the_hosts() {
        let ls = ElfInfo::read(Path::new("/bin/ls")).unwrap();
        let needs = ls.max_required_glibc().unwrap().to_string();
        for (release, runs) in [("GLIBC_2.1", false), ("GLIBC_2.99", true)] {
            let root = tempfile::tempdir().unwrap();
            let lib = root.path().join("usr/lib");
            fs_err::create_dir_all(&lib).unwrap();
            versioned_lib(&lib, "libc.so.6", &["GLIBC_2.0", release]);
            let provided = provided_glibc_versions(root.path(), &ls.abi)
                .unwrap()
                .unwrap();
            assert_eq!(provided, set(&["GLIBC_2.0", release]));
            let checked = check_glibc("ls", &ls.required_glibc_versions(), Some(&provided));
            assert_eq!(checked.is_ok(), runs, "{release}");
            if !runs {
                assert_eq!(
                    checked.unwrap_err().message(),
                    format!("`ls` needs {needs} but the base provides at most {release}")
                );
            }
        }
    }
}
