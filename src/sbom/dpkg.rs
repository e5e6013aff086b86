//! Which Debian package a runtime file came from, read from the host's dpkg database
//! (`/var/lib/dpkg/info/*.list` and `status`) the way `dpkg -S` answers, plus `/etc/os-release`
//! for the purl namespace. No database (another distribution) means no answer, not an error.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One installed package that provided files of the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct DebPackage {
    pub name: String,
    /// `amd64`, `arm64`, … or `all`.
    pub arch: String,
    pub version: String,
    /// The files of the image it provided, sorted.
    pub files: Vec<String>,
}

impl DebPackage {
    /// `pkg:deb/<os id>/NAME@VERSION?arch=ARCH`, with `distro=` when os-release names one.
    pub fn purl(&self, os: &OsRelease) -> String {
        let mut purl = format!(
            "pkg:deb/{}/{}@{}?arch={}",
            os.id,
            self.name,
            purl_escape(&self.version),
            self.arch
        );
        if let Some(v) = &os.version_id {
            purl.push_str(&format!("&distro={}-{v}", os.id));
        }
        purl
    }
}

/// `ID` and `VERSION_ID` of `/etc/os-release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub version_id: Option<String>,
}

/// What the dpkg database says about `files` (host paths): the packages that own them, and
/// the files no package owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    pub os: Option<OsRelease>,
    pub packages: Vec<DebPackage>,
    pub unowned: Vec<PathBuf>,
}

/// What [`owners`] says, kept in the directory `cache` between builds: the answer depends only
/// on the files asked about and on the dpkg database, and dpkg replaces `status` (a new inode)
/// and the `info/` entries of a package (the directory's mtime) on every install, upgrade and
/// removal. Reading the ~800 `*.list` files of a developer machine costs 10–80 ms, more than
/// anything else in an SBOM. A stored answer that does not parse is worked out again.
pub fn owners_cached(root: &Path, files: &[PathBuf], cache: Option<&Path>) -> Result<Owners> {
    let Some((cache, key)) = cache.and_then(|c| Some((c, database_key(root, files)?))) else {
        return owners(root, files);
    };
    let path = cache.join(format!("{key}.json"));
    if let Some(stored) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Stored>(&b).ok())
    {
        crate::fsutil::touch(&path);
        return Ok(Owners {
            os: os_release(root),
            packages: stored.packages,
            unowned: stored.unowned,
        });
    }
    let found = owners(root, files)?;
    let stored = Stored {
        packages: found.packages.clone(),
        unowned: found.unowned.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec(&stored)
        && crate::fsutil::write_atomic(&path, &bytes).is_ok()
    {
        crate::fsutil::keep_newest(cache, 8);
    }
    Ok(found)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    packages: Vec<DebPackage>,
    unowned: Vec<PathBuf>,
}

/// A hash of the files asked about and the identity of the dpkg database (`status`: inode,
/// size, mtime; `info/`: mtime); `None` without a database.
fn database_key(root: &Path, files: &[PathBuf]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let status = std::fs::metadata(root.join("var/lib/dpkg/status")).ok()?;
    let info = std::fs::metadata(root.join("var/lib/dpkg/info")).ok()?;
    let mut text = format!(
        "gantry dpkg owners v1\n{}\n{} {} {} {}\n{} {}\n",
        root.display(),
        status.ino(),
        status.size(),
        status.mtime(),
        status.mtime_nsec(),
        info.mtime(),
        info.mtime_nsec()
    );
    for file in files {
        text.push_str(&format!("{}\n", file.display()));
    }
    Some(
        crate::oci::digest::Digest::of(text.as_bytes())
            .hex()
            .to_owned(),
    )
}

pub fn owners(root: &Path, files: &[PathBuf]) -> Result<Owners> {
    let info = root.join("var/lib/dpkg/info");
    let os = os_release(root);
    if !info.is_dir() {
        return Ok(Owners {
            os,
            packages: Vec::new(),
            unowned: files.to_vec(),
        });
    }
    // The few names each file may be listed under; the database is searched for those alone
    // (building a map of every listed path costs ~0.1 s on a host with many packages).
    let names: Vec<Vec<String>> = files.iter().map(|f| candidates(root, f)).collect();
    let wanted: HashSet<&str> = names.iter().flatten().map(String::as_str).collect();
    let db = Database::read(root, &info, &wanted)?;
    let mut found: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut unowned = Vec::new();
    for (file, names) in files.iter().zip(&names) {
        match names.iter().find_map(|c| db.owner.get(c.as_str())) {
            Some(owner) => {
                found
                    .entry(owner.clone())
                    .or_default()
                    .insert(file.display().to_string());
            }
            None => unowned.push(file.clone()),
        }
    }
    let packages = found
        .into_iter()
        .map(|((name, arch), files)| DebPackage {
            version: db
                .versions
                .get(&(name.clone(), arch.clone()))
                .cloned()
                .unwrap_or_default(),
            name,
            arch,
            files: files.into_iter().collect(),
        })
        .filter(|p| !p.version.is_empty())
        .collect();
    unowned.sort();
    Ok(Owners {
        os,
        packages,
        unowned,
    })
}

struct Database<'w> {
    /// A wanted listed path -> (package, arch).
    owner: HashMap<&'w str, (String, String)>,
    /// (package, arch) -> installed version, for the owners found.
    versions: HashMap<(String, String), String>,
}

impl<'w> Database<'w> {
    /// The owners of the `wanted` paths, and the installed versions of those owners.
    fn read(root: &Path, info: &Path, wanted: &HashSet<&'w str>) -> Result<Database<'w>> {
        let mut lists: Vec<PathBuf> = std::fs::read_dir(info)
            .map_err(|e| Error::io("read directory", info, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "list"))
            .collect();
        // Sorted: when two packages list a path (a directory), the first name wins every time.
        lists.sort();
        // A line is looked up only when its length is one of the wanted lengths: most lines
        // are rejected without hashing.
        let lengths: HashSet<usize> = wanted.iter().map(|w| w.len()).collect();
        let mut owner: HashMap<&'w str, String> = HashMap::new();
        for list in lists {
            let stem = list.file_stem().unwrap_or_default().to_string_lossy();
            let Ok(text) = std::fs::read_to_string(&list) else {
                continue;
            };
            for line in text.lines() {
                if !lengths.contains(&line.len()) {
                    continue;
                }
                if let Some(w) = wanted.get(line) {
                    owner.entry(*w).or_insert_with(|| stem.to_string());
                }
            }
        }
        let stems: HashSet<&str> = owner.values().map(String::as_str).collect();
        let names: HashSet<&str> = stems
            .iter()
            .map(|s| s.split_once(':').map_or(*s, |(n, _)| n))
            .collect();
        let status_path = root.join("var/lib/dpkg/status");
        let status = std::fs::read_to_string(&status_path)
            .map_err(|e| Error::io("read", &status_path, e))?;
        let mut versions = HashMap::new();
        let mut archs: HashMap<String, String> = HashMap::new();
        for stanza in status.split("\n\n") {
            let field = |k: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(k)?.strip_prefix(": "))
                    .map(str::to_owned)
            };
            if !field("Package").is_some_and(|n| names.contains(n.as_str())) {
                continue;
            }
            let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
            if let (true, Some(name), Some(arch), Some(version)) = (
                installed,
                field("Package"),
                field("Architecture"),
                field("Version"),
            ) {
                archs.insert(name.clone(), arch.clone());
                versions.insert((name, arch), version);
            }
        }
        let owner = owner
            .into_iter()
            .map(|(path, stem)| {
                let package = match stem.split_once(':') {
                    Some((n, a)) => (n.to_owned(), a.to_owned()),
                    None => {
                        let arch = archs.get(&stem).cloned().unwrap_or_else(|| "all".into());
                        (stem, arch)
                    }
                };
                (path, package)
            })
            .collect();
        Ok(Database { owner, versions })
    }
}

/// The names dpkg may list a file under: as given, resolved, and their `/usr`-merge twins
/// (`/lib/x` is `/usr/lib/x` on a merged system, but the package lists one of them).
fn candidates(root: &Path, file: &Path) -> Vec<String> {
    let mut names = vec![file.to_path_buf()];
    if let Ok(real) = std::fs::canonicalize(root.join(file.strip_prefix("/").unwrap_or(file))) {
        let real = real.strip_prefix(root).map(|r| Path::new("/").join(r));
        names.extend(real.ok());
    }
    let mut all = Vec::new();
    for name in names {
        let s = name.display().to_string();
        all.push(s.clone());
        match s.strip_prefix("/usr") {
            Some(rest)
                if ["/lib", "/bin", "/sbin"]
                    .iter()
                    .any(|d| rest.starts_with(d)) =>
            {
                all.push(rest.to_owned())
            }
            _ => all.push(format!("/usr{s}")),
        }
    }
    all
}

fn os_release(root: &Path) -> Option<OsRelease> {
    let text = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(root.join(p)).ok())?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    };
    Some(OsRelease {
        id: field("ID")?,
        version_id: field("VERSION_ID"),
    })
}

/// Debian versions may hold `:` (epochs) and `+`; purl wants them percent-encoded.
fn purl_escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace(':', "%3A")
        .replace('+', "%2B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_attributed_through_the_usr_merge_and_versions_come_from_status() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let info = r.join("var/lib/dpkg/info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            info.join("libc6:amd64.list"),
            "/lib/x86_64-linux-gnu/libc.so.6\n",
        )
        .unwrap();
        std::fs::write(info.join("tzdata.list"), "/usr/share/zoneinfo\n").unwrap();
        std::fs::write(
            r.join("var/lib/dpkg/status"),
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u7\n\n\
             Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n",
        )
        .unwrap();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        let files = [
            PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            PathBuf::from("/usr/share/zoneinfo"),
            PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
        ];
        let found = owners(r, &files).unwrap();
        let os = found.os.clone().unwrap();
        let purls: Vec<String> = found.packages.iter().map(|p| p.purl(&os)).collect();
        assert_eq!(
            purls,
            [
                "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12",
                "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12",
            ]
        );
        assert_eq!(
            found.unowned,
            [PathBuf::from("/etc/ssl/certs/ca-certificates.crt")]
        );
    }

    #[test]
    fn the_first_list_in_name_order_owns_a_shared_path_and_only_wanted_paths_are_owned() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let info = r.join("var/lib/dpkg/info");
        std::fs::create_dir_all(&info).unwrap();
        // Both list the directory; `base-files` sorts first. `zlib1g:arm64` is multiarch.
        std::fs::write(
            info.join("zlib1g:arm64.list"),
            "/usr/lib\n/usr/lib/aarch64-linux-gnu/libz.so.1\n",
        )
        .unwrap();
        std::fs::write(info.join("base-files.list"), "/usr/lib\n/etc/issue\n").unwrap();
        std::fs::write(
            r.join("var/lib/dpkg/status"),
            "Package: zlib1g\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1:1.2.13\n\n\
             Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n\n\
             Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n",
        )
        .unwrap();
        let files = [
            PathBuf::from("/usr/lib"),
            PathBuf::from("/usr/lib/aarch64-linux-gnu/libz.so.1"),
        ];
        let found = owners(r, &files).unwrap();
        let owned: Vec<(&str, &str, &str, Vec<String>)> = found
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.arch.as_str(),
                    p.version.as_str(),
                    p.files.clone(),
                )
            })
            .collect();
        assert_eq!(
            owned,
            [
                ("base-files", "amd64", "12.4", vec!["/usr/lib".to_owned()]),
                (
                    "zlib1g",
                    "arm64",
                    "1:1.2.13",
                    vec!["/usr/lib/aarch64-linux-gnu/libz.so.1".to_owned()]
                ),
            ]
        );
        assert!(found.unowned.is_empty());
    }

    #[test]
    fn cached_owners_follow_dpkg_replacing_its_status_and_survive_a_damaged_entry() {
        let root = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let r = root.path();
        let info = r.join("var/lib/dpkg/info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            info.join("libc6:amd64.list"),
            "/usr/lib/x86_64-linux-gnu/libc.so.6\n",
        )
        .unwrap();
        let status = |version: &str| {
            // As dpkg does: a new file renamed over the old one.
            let new = r.join("var/lib/dpkg/status-new");
            std::fs::write(
                &new,
                format!("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"),
            )
            .unwrap();
            std::fs::rename(&new, r.join("var/lib/dpkg/status")).unwrap();
        };
        status("2.36-9");
        let files = [PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6")];
        let versions = |o: &Owners| {
            o.packages
                .iter()
                .map(|p| p.version.clone())
                .collect::<Vec<_>>()
        };
        let first = owners_cached(r, &files, Some(cache.path())).unwrap();
        assert_eq!(first, owners(r, &files).unwrap());
        assert_eq!(versions(&first), ["2.36-9"]);
        // Stored: an in-place edit of a list (which dpkg never makes) is not seen.
        std::fs::write(info.join("libc6:amd64.list"), "/elsewhere\n").unwrap();
        assert_eq!(owners_cached(r, &files, Some(cache.path())).unwrap(), first);
        std::fs::write(
            info.join("libc6:amd64.list"),
            "/usr/lib/x86_64-linux-gnu/libc.so.6\n",
        )
        .unwrap();
        // An upgrade replaces status: asked again.
        status("2.36-10");
        let upgraded = owners_cached(r, &files, Some(cache.path())).unwrap();
        assert_eq!(versions(&upgraded), ["2.36-10"]);
        // A damaged entry is worked out again.
        for e in std::fs::read_dir(cache.path()).unwrap() {
            std::fs::write(e.unwrap().path(), "{").unwrap();
        }
        assert_eq!(
            owners_cached(r, &files, Some(cache.path())).unwrap(),
            upgraded
        );
    }
}
