//! `Platform`: `os/arch[/variant]`, e.g. `linux/amd64` or `linux/arm64/v8`.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::{Arch, Os};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: Os,
    pub architecture: Arch,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform picked from a multi-platform base image when none is asked for.
    pub fn linux_amd64() -> Platform {
        Platform {
            os: Os::Linux,
            architecture: Arch::Amd64,
            variant: None,
        }
    }

    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: Os::from(*os),
                architecture: Arch::from(*arch),
                variant: parts
                    .get(2)
                    .filter(|v| !v.is_empty())
                    .map(|v| v.to_string()),
            }),
            _ => Err(Error::user(format!("invalid platform `{s}`"))
                .with_hint("write it as `os/arch` or `os/arch/variant`, e.g. `linux/amd64`")),
        }
    }

    /// Whether an index entry's platform is this one. A variant we did not ask for is accepted
    /// (`linux/arm64` matches `linux/arm64/v8`); one we asked for must be present.
    pub fn matches(&self, other: &oci_spec::image::Platform) -> bool {
        self.os == *other.os()
            && self.architecture == *other.architecture()
            && (self.variant.is_none() || self.variant == *other.variant())
    }
}

impl From<&oci_spec::image::Platform> for Platform {
    fn from(p: &oci_spec::image::Platform) -> Self {
        let (os, architecture) = (p.os().clone(), p.architecture().clone());
        Platform {
            os,
            architecture,
            variant: p.variant().clone(),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Platform> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"] {
            assert_eq!(Platform::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Platform::parse("linux/amd64").unwrap(),
            Platform::linux_amd64()
        );
    }

    #[test]
    fn malformed_platforms_are_user_errors_with_a_hint() {
        for s in ["", "linux", "linux/", "/amd64", "a/b/c/d"] {
            let err = Platform::parse(s).unwrap_err();
            assert_eq!(err.message(), format!("invalid platform `{s}`"));
            assert!(err.hint().unwrap().contains("linux/amd64"));
        }
    }

    #[test]
    fn a_requested_variant_must_match_but_an_unrequested_one_is_fine() {
        let entry: oci_spec::image::Platform =
            serde_json::from_str(r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#)
                .unwrap();
        assert!(Platform::parse("linux/arm64").unwrap().matches(&entry));
        assert!(Platform::parse("linux/arm64/v8").unwrap().matches(&entry));
        assert!(!Platform::parse("linux/arm64/v9").unwrap().matches(&entry));
        assert!(!Platform::linux_amd64().matches(&entry));
    }
}
