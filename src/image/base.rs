//! `--base`: what the image starts from.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::image::build::Base;
use crate::oci::{self, Platform};
use crate::registry::{self, ImageRef, PullOptions};

/// Parsed `--base` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSpec {
    Auto,
    Scratch,
    OciLayout {
        dir: PathBuf,
        tag: Option<String>,
    },
    DockerArchive {
        file: PathBuf,
    },
    /// `REGISTRY/REPO[:TAG|@DIGEST]`, pulled (and cached by digest).
    Registry(ImageRef),
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
            other => BaseSpec::Registry(ImageRef::parse(other).map_err(|e| {
                Error::user(format!("`--base {other}` is not a base gantry can read"))
                    .caused_by(e)
                    .with_hint(
                        "use `auto`, `scratch`, `oci:DIR[:TAG]`, `docker-archive:FILE` or \
                         `REGISTRY/REPO[:TAG|@DIGEST]`",
                    )
            })?),
        })
    }

    /// Load the base; an image base is unpacked into `scratch` to check the binary against it.
    pub fn load(
        &self,
        platform: &Platform,
        scratch: &std::path::Path,
        pull: &PullOptions,
    ) -> Result<Base> {
        let (image, reference) = match self {
            BaseSpec::Auto => return Ok(Base::Auto),
            BaseSpec::Scratch => return Ok(Base::Scratch),
            BaseSpec::OciLayout { dir, tag } => {
                let image = oci::layout::read(dir, tag.as_deref(), platform).map_err(|e| {
                    Error::user(format!("failed to read the base `oci:{}`", dir.display()))
                        .caused_by(e)
                        .with_hint("`--base oci:DIR[:TAG]` names an OCI image layout directory, e.g. one written by `skopeo copy … oci:DIR:TAG` or `cargo gantry build --oci-layout DIR`")
                })?;
                (image, format!("oci:{}", dir.display()))
            }
            BaseSpec::Registry(reference) => (
                registry::pull(reference, platform, pull)?,
                reference.to_string(),
            ),
            BaseSpec::DockerArchive { file } => (
                oci::archive::read(file, None).map_err(|e| {
                    Error::user(format!("failed to read the base `docker-archive:{}`", file.display()))
                        .caused_by(e)
                        .with_hint("`--base docker-archive:FILE` names a tar written by `docker save IMAGE -o FILE`")
                })?,
                format!("docker-archive:{}", file.display()),
            ),
        };
        // a single-platform base says in its config what it is for; an index was narrowed above
        let has = image.platform();
        let stated = !has.architecture.to_string().is_empty();
        let same = has.os == platform.os
            && has.architecture == platform.architecture
            && (platform.variant.is_none() || has.variant == platform.variant);
        if stated && !same {
            return Err(Error::user(format!(
                "the base `{reference}` is a `{has}` image, not `{platform}`"
            ))
            .with_hint(format!(
                "use a multi-platform base (an index with a `{platform}` image), or drop                  `{platform}` from --platform"
            )));
        }
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
    use crate::oci::testutil::{Raw, image_of};

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
        let BaseSpec::Registry(r) = BaseSpec::parse("ubuntu").unwrap() else {
            panic!()
        };
        assert_eq!(r.to_string(), "docker.io/library/ubuntu:latest");
        let err = BaseSpec::parse("Not A Ref!").unwrap_err();
        assert!(
            err.hint().unwrap().contains("REGISTRY/REPO"),
            "{}",
            err.render()
        );
    }

    #[test]
    fn a_hostile_oci_layout_base_is_refused_and_the_host_is_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs_err::create_dir_all(&outside).unwrap();
        fs_err::write(outside.join("keep"), "keep").unwrap();
        // `lib` leads to the host directory for a plain join; the hard link would copy the
        // host's file into the root, the whiteout would delete it
        let image = image_of(&[
            &[Raw::Symlink("lib", outside.to_str().unwrap())],
            &[Raw::File("lib/.wh.keep", 0o644, b"")],
            &[Raw::Hardlink("stolen", "lib/keep")],
        ]);
        let layout = tmp.path().join("layout");
        oci::layout::write(&layout, &image, "evil").unwrap();
        let spec = BaseSpec::parse(&format!("oci:{}:evil", layout.display())).unwrap();
        let scratch = tmp.path().join("scratch");
        let pull = PullOptions::default();
        let err = match spec.load(&Platform::linux_amd64(), &scratch, &pull) {
            Ok(_) => panic!("the hostile base was accepted"),
            Err(err) => err.render(),
        };
        assert_eq!(
            fs_err::read_to_string(outside.join("keep")).unwrap(),
            "keep"
        );
        let digest = image.layers()[2].digest();
        assert!(err.contains(&format!("layer 2 (`{digest}`)")), "{err}");
        assert!(
            err.contains("`stolen`") && err.contains("`lib/keep`"),
            "{err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
}
