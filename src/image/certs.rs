//! The host's CA certificate bundle, wherever its distribution keeps it. The image always gets
//! it at one path, [`IMAGE_BUNDLE`], which the image's `SSL_CERT_FILE` names.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::ldso::walk_in_root;
use crate::settings::env;

/// Where the bundle goes in the image (Debian's path, which most TLS stacks try first).
pub const IMAGE_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Known host locations of a PEM bundle, first match wins, and who keeps it there.
pub const HOST_BUNDLES: &[(&str, &str)] = &[
    (
        "/etc/ssl/certs/ca-certificates.crt",
        "Debian, Ubuntu, Alpine, Arch",
    ),
    ("/etc/pki/tls/certs/ca-bundle.crt", "Fedora, RHEL"),
    (
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "Fedora, RHEL",
    ),
    ("/var/lib/ca-certificates/ca-bundle.pem", "openSUSE"),
    ("/etc/ssl/ca-bundle.pem", "openSUSE"),
];

/// How to install the bundle, by `/etc/os-release` `ID` (or an `ID_LIKE` entry).
const INSTALL: &[(&str, &str)] = &[
    ("debian", "apt-get install ca-certificates"),
    ("ubuntu", "apt-get install ca-certificates"),
    ("alpine", "apk add ca-certificates"),
    ("arch", "pacman -S ca-certificates"),
    ("fedora", "dnf install ca-certificates"),
    ("rhel", "dnf install ca-certificates"),
    ("suse", "zypper install ca-certificates"),
    ("opensuse", "zypper install ca-certificates"),
];

/// The bundle to copy, as a path on the host: `ssl_cert_file` (the host's `SSL_CERT_FILE`)
/// when set, else the first of [`HOST_BUNDLES`] present in `root`. Paths are followed inside
/// `root` (`/` in production; a fixture root in tests), symlinks included.
pub fn host_bundle(root: &Path, ssl_cert_file: Option<&OsStr>) -> Result<PathBuf> {
    if let Some(file) = ssl_cert_file.filter(|f| !f.is_empty()) {
        return file_in(root, Path::new(file))?.ok_or_else(|| {
            Error::user(format!(
                "`{}={}` does not name a file",
                env::SSL_CERT_FILE,
                Path::new(file).display()
            ))
            .with_hint(format!(
                "point `{}` at a PEM certificate bundle, or unset it to use the system's",
                env::SSL_CERT_FILE
            ))
        });
    }
    for (path, _) in HOST_BUNDLES {
        if let Some(found) = file_in(root, Path::new(path))? {
            return Ok(found);
        }
    }
    let looked: Vec<String> = HOST_BUNDLES
        .iter()
        .map(|(path, who)| format!("`{path}` ({who})"))
        .collect();
    Err(
        Error::user("no CA certificate bundle found on this machine")
            .caused_by(format!("looked at:\n{}", looked.join("\n")))
            .with_hint(install_hint(root)),
    )
}

/// `path` inside `root`, if it leads to a regular file: its real location on the host.
fn file_in(root: &Path, path: &Path) -> Result<Option<PathBuf>> {
    let path = match path.is_absolute() {
        true => path.to_path_buf(),
        // a relative SSL_CERT_FILE means what it means to the user's shell
        false => std::env::current_dir()
            .map_err(|e| Error::io("find", path, e))?
            .join(path),
    };
    let walk = walk_in_root(root, &path)?;
    Ok(walk.filter(|w| !w.is_dir).map(|w| w.host))
}

/// The install command for this distribution when `/etc/os-release` says which it is; all of
/// them otherwise.
fn install_hint(root: &Path) -> String {
    let os_release = std::fs::read_to_string(root.join("etc/os-release")).unwrap_or_default();
    let ids: Vec<&str> = os_release
        .lines()
        .filter_map(|l| l.strip_prefix("ID=").or_else(|| l.strip_prefix("ID_LIKE=")))
        .flat_map(|v| v.trim_matches('"').split_whitespace())
        .collect();
    let tail = format!(
        ", or set `{}` to a PEM certificate bundle",
        env::SSL_CERT_FILE
    );
    if let Some((_, command)) = ids
        .iter()
        .find_map(|id| INSTALL.iter().find(|(distro, _)| distro == id))
    {
        return format!("install the CA certificates: `{command}`{tail}");
    }
    let mut commands: Vec<&str> = INSTALL.iter().map(|(_, c)| *c).collect();
    commands.dedup();
    format!(
        "install the `ca-certificates` package (`{}`){tail}",
        commands.join("`, `")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use std::os::unix::fs::symlink;

    /// A root with `files` (path inside the root, contents) and `links` (path, target).
    fn root(files: &[(&str, &str)], links: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let at = |p: &str| root.path().join(p.trim_start_matches('/'));
        for (path, contents) in files {
            fs_err::create_dir_all(at(path).parent().unwrap()).unwrap();
            fs_err::write(at(path), contents).unwrap();
        }
        for (path, target) in links {
            fs_err::create_dir_all(at(path).parent().unwrap()).unwrap();
            symlink(target, at(path)).unwrap();
        }
        root
    }

    fn found(root: &tempfile::TempDir, ssl_cert_file: Option<&str>) -> String {
        let path = host_bundle(root.path(), ssl_cert_file.map(OsStr::new)).unwrap();
        fs_err::read_to_string(path).unwrap()
    }

    #[test]
    fn each_distribution_layout_is_found() {
        for (path, who) in HOST_BUNDLES {
            let r = root(&[(path, who)], &[]);
            assert_eq!(found(&r, None), *who, "{path}");
        }
    }

    #[test]
    fn fedora_symlink_is_followed_inside_the_root() {
        // absolute, as Fedora ships it: followed naively it would read the host's file
        let r = root(
            &[(
                "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                "fedora",
            )],
            &[(
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
            )],
        );
        let path = host_bundle(r.path(), None).unwrap();
        assert_eq!(
            path,
            r.path()
                .join("etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem")
        );
    }

    #[test]
    fn ssl_cert_file_wins_and_a_wrong_one_is_an_error() {
        let r = root(
            &[
                ("/etc/ssl/certs/ca-certificates.crt", "debian"),
                ("/opt/corp/ca.pem", "corp"),
            ],
            &[],
        );
        assert_eq!(found(&r, Some("/opt/corp/ca.pem")), "corp");
        assert_eq!(found(&r, Some("")), "debian");
        let err = host_bundle(r.path(), Some(OsStr::new("/opt/none.pem"))).unwrap_err();
        assert_eq!(err.kind(), Kind::User);
        assert_eq!(
            err.message(),
            "`SSL_CERT_FILE=/opt/none.pem` does not name a file"
        );
    }

    #[test]
    fn no_bundle_lists_where_we_looked_and_hints_this_distributions_package() {
        let r = root(
            &[("/etc/os-release", "NAME=\"Fedora Linux\"\nID=fedora\n")],
            &[],
        );
        let err = host_bundle(r.path(), None).unwrap_err();
        assert_eq!(err.kind(), Kind::User);
        assert_eq!(
            err.message(),
            "no CA certificate bundle found on this machine"
        );
        let cause = &err.causes()[0];
        for (path, _) in HOST_BUNDLES {
            assert!(cause.contains(path), "{path} in {cause}");
        }
        assert_eq!(
            err.hint().unwrap(),
            "install the CA certificates: `dnf install ca-certificates`, or set `SSL_CERT_FILE` \
             to a PEM certificate bundle"
        );

        let like = root(
            &[(
                "/etc/os-release",
                "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n",
            )],
            &[],
        );
        let hint = host_bundle(like.path(), None).unwrap_err();
        assert!(hint.hint().unwrap().contains("`apt-get install"));

        let unknown = root(&[], &[]);
        let hint = host_bundle(unknown.path(), None).unwrap_err();
        let hint = hint.hint().unwrap();
        for command in ["apt-get", "apk", "pacman", "dnf", "zypper"] {
            assert!(hint.contains(command), "{command} in {hint}");
        }
    }

    #[test]
    fn a_directory_is_not_a_bundle() {
        let r = root(&[("/etc/ssl/certs/ca-certificates.crt/x", "")], &[]);
        assert!(host_bundle(r.path(), None).is_err());
    }
}
