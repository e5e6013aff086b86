//! `--base`: what the image starts from.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::image::build::Base;
use crate::oci::{self, Platform};

/// Parsed `--base` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSpec {
    Auto,
    Scratch,
    OciLayout { dir: PathBuf, tag: Option<String> },
    DockerArchive { file: PathBuf },
}

impl BaseSpec {
    pub fn parse(s: &str) -> Result<BaseSpec> {
        Ok(match s {
            "auto" => BaseSpec::Auto,
            "scratch" => BaseSpec::Scratch,
            _ if s.starts_with("oci:") => {
                let rest = &s["oci:".len()..];
                // oci:DIR:TAG, as skopeo spells it; a DIR with a colon needs the tag.
                match rest.rsplit_once(':') {
                    Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
                        BaseSpec::OciLayout {
                            dir: dir.into(),
                            tag: Some(tag.to_owned()),
                        }
                    }
                    _ => BaseSpec::OciLayout {
                        dir: rest.into(),
                        tag: None,
                    },
                }
            }
            _ if s.starts_with("docker-archive:") => BaseSpec::DockerArchive {
                file: s["docker-archive:".len()..].into(),
            },
            other => {
                return Err(
                    Error::user(format!("`--base {other}` is not a base gantry can read"))
                        .with_hint(
                            "use `auto`, `scratch`, `oci:DIR[:TAG]` or `docker-archive:FILE` \
                         (`docker save IMAGE -o FILE` makes one)",
                        ),
                );
            }
        })
    }

    /// Load the base; an image base is unpacked into `scratch` to check the binary against it.
    pub fn load(&self, platform: &Platform, scratch: &std::path::Path) -> Result<Base> {
        let (image, reference) = match self {
            BaseSpec::Auto => return Ok(Base::Auto),
            BaseSpec::Scratch => return Ok(Base::Scratch),
            BaseSpec::OciLayout { dir, tag } => {
                let image = oci::layout::read(dir, tag.as_deref(), platform)?;
                (image, format!("oci:{}", dir.display()))
            }
            BaseSpec::DockerArchive { file } => (
                oci::archive::read(file, None)?,
                format!("docker-archive:{}", file.display()),
            ),
        };
        let root = scratch.join("base-rootfs");
        oci::unpack::unpack(&image, &root)?;
        Ok(Base::Image {
            image: Box::new(image),
            root,
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(BaseSpec::parse("auto").unwrap(), BaseSpec::Auto);
        assert_eq!(BaseSpec::parse("scratch").unwrap(), BaseSpec::Scratch);
        assert_eq!(
            BaseSpec::parse("oci:/x/base:v1").unwrap(),
            BaseSpec::OciLayout {
                dir: "/x/base".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            BaseSpec::parse("oci:dir").unwrap(),
            BaseSpec::OciLayout {
                dir: "dir".into(),
                tag: None
            }
        );
        assert_eq!(
            BaseSpec::parse("docker-archive:b.tar").unwrap(),
            BaseSpec::DockerArchive {
                file: "b.tar".into()
            }
        );
        let err = BaseSpec::parse("ubuntu").unwrap_err();
        assert!(err.hint().unwrap().contains("docker save"));
    }
}
