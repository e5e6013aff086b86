//! glibc symbol versions (`GLIBC_2.34`): a binary built against a newer glibc than the one in
//! the image fails at start with "version `GLIBC_2.39' not found", so we compare them up front.

use std::fmt;

/// A numeric glibc symbol version such as `GLIBC_2.2.5`.
///
/// Ordered by number, not by text: `GLIBC_2.39` is newer than `GLIBC_2.4`. Non-numeric
/// versions (`GLIBC_PRIVATE`, `GLIBC_ABI_DT_RELR`) are not `GlibcVersion`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    // field order gives the numeric ordering through `derive(Ord)`
    major: u32,
    minor: u32,
    patch: u32,
}

impl GlibcVersion {
    /// Parse a version name from `.gnu.version_r`/`.gnu.version_d`, e.g. `GLIBC_2.2.5`.
    pub fn parse(name: &str) -> Option<GlibcVersion> {
        let mut numbers = name.strip_prefix("GLIBC_")?.split('.');
        let mut next = |required: bool| match numbers.next() {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
            None if !required => Some(0),
            _ => None,
        };
        let version = GlibcVersion {
            major: next(true)?,
            minor: next(true)?,
            patch: next(false)?,
        };
        // a fourth component is not a glibc version we know how to compare
        numbers.next().is_none().then_some(version)
    }

    /// The highest numeric glibc version among `names`; other names are ignored.
    pub fn max_of<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<GlibcVersion> {
        names.into_iter().filter_map(GlibcVersion::parse).max()
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GLIBC_{}.{}", self.major, self.minor)?;
        if self.patch != 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str) -> GlibcVersion {
        GlibcVersion::parse(name).unwrap()
    }

    #[test]
    fn versions_compare_by_number_not_text() {
        assert!(v("GLIBC_2.39") > v("GLIBC_2.4"));
        assert!(v("GLIBC_2.39") > v("GLIBC_2.36"));
        assert!(v("GLIBC_2.36") > v("GLIBC_2.4"));
        assert!(v("GLIBC_2.3.4") > v("GLIBC_2.3"));
        assert!(v("GLIBC_2.3.4") < v("GLIBC_2.4"));
    }

    #[test]
    fn max_of_ignores_non_numeric_versions() {
        let names = [
            "GLIBC_2.4",
            "GLIBC_PRIVATE",
            "GLIBC_2.39",
            "GLIBC_ABI_DT_RELR",
            "GLIBC_2.36",
        ];
        assert_eq!(GlibcVersion::max_of(names), Some(v("GLIBC_2.39")));
        assert_eq!(
            GlibcVersion::max_of(["GLIBC_PRIVATE", "OPENSSL_3.0.0"]),
            None
        );
    }

    #[test]
    fn parse_rejects_what_is_not_a_glibc_version_and_displays_round_trip() {
        for bad in [
            "GLIBC_",
            "GLIBC_2",
            "GLIBC_2.",
            "GLIBC_2.x",
            "GCC_3.0",
            "GLIBC_2.1.2.3",
        ] {
            assert_eq!(GlibcVersion::parse(bad), None, "{bad}");
        }
        for good in ["GLIBC_2.2.5", "GLIBC_2.39", "GLIBC_2.4"] {
            assert_eq!(v(good).to_string(), good);
        }
    }
}
