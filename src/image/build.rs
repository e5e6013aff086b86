//! Assemble the runtime image for one built binary: base layers (if any) | runtime files and the
//! exact shared libraries the binary links | the application. A code change touches only the
//! last, small layer.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::healthcheck::PROBE_PATH;
use crate::image::certs;
use crate::image::elf::{ElfInfo, Linking};
use crate::image::ldso::{self, FsEntry};
use crate::oci::layer::cache::{self as layer_cache, LayerCache, Lookup};
use crate::oci::{Image, LayerBuilder, Platform};
use crate::settings::{ImageSettings, env};
use crate::timings;

/// Where the binary lives in the image.
pub const APP_DIR: &str = "/usr/local/bin";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the image starts from.
pub enum Base {
    /// Nothing but what the binary needs, taken from this machine (`--base auto`).
    Auto,
    /// Nothing at all: the binary must be static (`--base scratch`).
    Scratch,
    /// An existing image, unpacked at `root` so the binary's needs can be checked against it.
    Image {
        image: Box<Image>,
        root: PathBuf,
        reference: String,
    },
}

pub struct Inputs<'a> {
    pub binary: &'a Path,
    pub bin: &'a str,
    pub settings: &'a ImageSettings,
    pub labels: &'a BTreeMap<String, String>,
    pub base: &'a Base,
    /// Seconds since the epoch for every timestamp (SOURCE_DATE_EPOCH, or 0).
    pub created: u64,
    /// Host files to add, by their path in the image.
    pub extra_files: &'a [(PathBuf, String)],
    /// `gantry-probe` for this image's platform: required exactly when the settings have a
    /// healthcheck (see [`crate::probe::build`]).
    pub probe: Option<&'a Path>,
    /// Where layers that do not depend on the edit are kept between builds (`None`: no cache).
    pub cache: Option<&'a LayerCache>,
}

/// What the build found out, for progress lines and the JSON summary.
#[derive(Debug, Clone)]
pub struct Summary {
    pub linking: Linking,
    pub libraries: Vec<String>,
    pub max_glibc: Option<String>,
    /// Files copied from this machine into the runtime layer (loader, libraries, CA bundle,
    /// tzdata), by path, for the SBOM.
    pub host_files: Vec<PathBuf>,
}

pub fn build(inp: &Inputs<'_>) -> Result<(Image, Summary)> {
    // A healthcheck that runs a program the image lacks would fail forever.
    match (&inp.settings.healthcheck, inp.probe) {
        (Some(_), None) => {
            return Err(Error::failure(
                "the image has a healthcheck but no `gantry-probe` to run it",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::failure("`gantry-probe` given without a healthcheck"));
        }
        _ => {}
    }
    let elf = timings::time("elf", || ElfInfo::read(inp.binary))?;
    let arch = elf.abi.oci_architecture().ok_or_else(|| {
        Error::user(format!(
            "`{}` is built for an architecture OCI has no name for",
            inp.binary.display()
        ))
    })?;
    let platform = Platform::parse(&format!("linux/{arch}"))?;
    let dynamic = elf.linking == Linking::Dynamic;
    let mut summary = Summary {
        linking: elf.linking,
        libraries: Vec::new(),
        max_glibc: elf.max_required_glibc().map(|v| v.to_string()),
        host_files: Vec::new(),
    };
    let entrypoint = format!("{APP_DIR}/{}", inp.bin);

    let mut image = match inp.base {
        Base::Image {
            image,
            root,
            reference,
        } => {
            let resolution = timings::time("libraries", || ldso::resolve(root, inp.binary));
            let resolution = resolution.map_err(|e| {
                Error::user(format!("the base `{reference}` cannot run `{}`", inp.bin))
                    .caused_by(e)
                    .with_hint(
                        "pick a base with the libraries the binary links, or use --base auto",
                    )
            })?;
            if dynamic {
                let provided = ldso::provided_glibc_versions(root, &elf.abi)?;
                let required = elf.required_glibc_versions();
                ldso::check_glibc(inp.bin, &required, provided.as_ref())?;
            }
            summary.libraries = resolution
                .libraries
                .iter()
                .map(|l| l.soname.clone())
                .collect();
            Image::clone(image)
        }
        Base::Scratch => {
            if dynamic {
                return Err(Error::user(format!(
                    "`{}` is dynamically linked, and a scratch image has no loader or libraries",
                    inp.bin
                ))
                .with_hint(
                    "use --base auto (the default), or build a static binary (+crt-static)",
                ));
            }
            Image::new(&platform)
        }
        Base::Auto => {
            let mut image = Image::new(&platform);
            let mut layer = LayerBuilder::new(inp.created);
            summary.host_files = system_files(&mut layer, inp.settings.tzdata)?;
            if dynamic {
                let resolution =
                    timings::time("libraries", || runtime_libraries(inp.binary, &elf, inp.bin))?;
                for entry in resolution.entries() {
                    add_entry(&mut layer, entry)?;
                    if let FsEntry::File { source, .. } = entry {
                        summary.host_files.push(source.clone());
                    }
                }
                let extra: Vec<String> = resolution
                    .library_path()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                if !extra.is_empty() {
                    image_env(&mut image, "LD_LIBRARY_PATH", &extra.join(":"));
                }
                summary.libraries = resolution
                    .libraries
                    .iter()
                    .map(|l| l.soname.clone())
                    .collect();
            }
            let what = if dynamic {
                "runtime files and shared libraries"
            } else {
                "runtime files"
            };
            let started = std::time::Instant::now();
            let (layer, lookup) = layer_cache::finish(inp.cache, layer)?;
            let hit = if lookup == Lookup::Hit {
                " (cached)"
            } else {
                ""
            };
            timings::record(format!("layer runtime{hit}"), started.elapsed());
            image.push_layer(layer, &format!("gantry: {what}"));
            image_env(&mut image, env::SSL_CERT_FILE, certs::IMAGE_BUNDLE);
            image
        }
    };

    let mut app = LayerBuilder::new(inp.created);
    if let Some(cache) = inp.cache {
        // Written next to the outputs, so that they link it instead of copying it.
        app.scratch_dir(cache.scratch()?);
    }
    app.file(&entrypoint, 0o755, inp.binary);
    for (host, in_image) in inp.extra_files {
        add_host_path(&mut app, host, in_image)?;
    }
    if let Some(probe) = inp.probe {
        app.file(PROBE_PATH, 0o755, probe);
    }
    let app = timings::time("layer app", || app.finish())?;
    image.push_layer(app, &format!("gantry: {entrypoint}"));

    configure(&mut image, inp, &entrypoint);
    Ok((image, summary))
}

/// The loader and libraries of a dynamic binary from this machine: for the host's own
/// architecture its root, `/`; for another, the roots that hold that machine's libraries —
/// Debian's multiarch directories (`/usr/lib/aarch64-linux-gnu`, found from `/` by the
/// loader's default directories for that machine), then cross sysroots (`/usr/<triplet>`).
/// Libraries of the host's machine are never candidates: the search skips other machines'
/// files, and every library picked is checked again here.
fn runtime_libraries(binary: &Path, elf: &ElfInfo, bin: &str) -> Result<ldso::Resolution> {
    let host = crate::platforms::host()?;
    let arch = elf.abi.oci_architecture().unwrap_or_default();
    let row = crate::platforms::TABLE
        .iter()
        .find(|r| r.docker_arch() == arch);
    let mut roots = vec![PathBuf::from("/")];
    if let Some(row) = row.filter(|r| *r != host) {
        let sysroots = crate::cross::sysroots(Path::new("/"), row);
        roots.extend(sysroots.into_iter().map(|s| Path::new("/").join(s)));
    }
    let mut first_error = None;
    for root in &roots {
        let resolution = match ldso::resolve(root, binary) {
            Ok(r) => r,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        // the self-check: a library of another machine would not load in the container
        let picked = resolution.interpreter.iter().chain(&resolution.libraries);
        if let Some(wrong) = picked.into_iter().find(|l| l.elf.abi != elf.abi) {
            return Err(Error::failure(format!(
                "`{}` picked for `{bin}` is built for `{}`, not `{arch}`",
                wrong.path.display(),
                wrong
                    .elf
                    .abi
                    .oci_architecture()
                    .unwrap_or("another machine")
            )));
        }
        let provided = ldso::provided_glibc_versions(root, &elf.abi)?;
        ldso::check_glibc(bin, &elf.required_glibc_versions(), provided.as_ref())?;
        if root != Path::new("/") {
            eprintln!(
                "   Libraries for `{bin}` ({arch}) from `{}`",
                root.display()
            );
        }
        return Ok(resolution);
    }
    Err(first_error.expect("at least one root was tried"))
}

fn configure(image: &mut Image, inp: &Inputs<'_>, entrypoint: &str) {
    if !has_env(image, "PATH") {
        image_env(image, "PATH", PATH);
    }
    for (k, v) in &inp.settings.env {
        image_env(image, k, v);
    }
    let workdir = inp
        .settings
        .workdir
        .clone()
        .or_else(|| matches!(inp.base, Base::Auto).then(|| "/home/nonroot".to_owned()));
    let rt = image.runtime();
    rt.set_entrypoint(Some(vec![entrypoint.to_owned()]));
    rt.set_cmd(None);
    rt.set_user(Some(inp.settings.user.clone()));
    if let Some(w) = workdir {
        rt.set_working_dir(Some(w));
    }
    if !inp.settings.expose.is_empty() {
        let ports = inp
            .settings
            .expose
            .iter()
            .map(|p| format!("{p}/tcp"))
            .collect();
        rt.set_exposed_ports(Some(ports));
    }
    let healthcheck = inp.settings.healthcheck.as_ref().map(|h| h.docker_config());
    let mut labels = rt.labels().clone().unwrap_or_default();
    let created = crate::oci::image::rfc3339(inp.created);
    labels.extend(inp.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels.insert("org.opencontainers.image.created".into(), created);
    rt.set_labels(Some(labels.clone()));
    image.set_healthcheck(healthcheck);
    image.set_created(inp.created);
    for (k, v) in labels {
        image.annotate(k, v);
    }
}

fn has_env(image: &mut Image, key: &str) -> bool {
    let prefix = format!("{key}=");
    image
        .runtime()
        .env()
        .iter()
        .flatten()
        .any(|e| e.starts_with(&prefix))
}

/// Set `key=value`, replacing an earlier value (a base image's, say).
fn image_env(image: &mut Image, key: &str, value: &str) {
    let rt = image.runtime();
    let prefix = format!("{key}=");
    let mut env: Vec<String> = rt
        .env()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.starts_with(&prefix))
        .collect();
    env.push(format!("{key}={value}"));
    rt.set_env(Some(env));
}

/// What every program expects to find, as distroless provides it: CA certificates, users root and
/// nonroot (65532) for a numeric USER to have a name and a home, name service order, /tmp.
/// Returns the host files it copied.
fn system_files(layer: &mut LayerBuilder, tzdata: bool) -> Result<Vec<PathBuf>> {
    let ssl_cert_file = std::env::var_os(env::SSL_CERT_FILE);
    let ca = certs::host_bundle(Path::new("/"), ssl_cert_file.as_deref())?;
    let mut copied = vec![ca.clone()];
    layer.file(certs::IMAGE_BUNDLE, 0o644, ca);
    layer.file(
        "/etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
            .as_slice(),
    );
    layer.file(
        "/etc/group",
        0o644,
        b"root:x:0:\nnonroot:x:65532:\n".as_slice(),
    );
    layer.file(
        "/etc/nsswitch.conf",
        0o644,
        b"passwd: files\ngroup: files\nhosts: files dns\n".as_slice(),
    );
    layer.dir("/tmp", 0o1777);
    layer.dir("/root", 0o700);
    layer.dir("/home/nonroot", 0o700);
    layer.chown("/home/nonroot", 65532, 65532);
    if tzdata {
        let zoneinfo = Path::new("/usr/share/zoneinfo");
        if !zoneinfo.is_dir() {
            return Err(Error::user(
                "tzdata was asked for, but `/usr/share/zoneinfo` does not exist here",
            )
            .with_hint("install the `tzdata` package"));
        }
        add_host_path(layer, zoneinfo, "/usr/share/zoneinfo")?;
        copied.push(zoneinfo.to_owned());
    }
    Ok(copied)
}

fn add_entry(layer: &mut LayerBuilder, entry: &FsEntry) -> Result<()> {
    match entry {
        FsEntry::Dir { path } => {
            layer.dir(&path.to_string_lossy(), 0o755);
        }
        FsEntry::Symlink { path, target } => {
            layer.symlink(&path.to_string_lossy(), &target.to_string_lossy());
        }
        FsEntry::File { path, source } => {
            layer.file(&path.to_string_lossy(), mode_of(source)?, source.as_path());
        }
    }
    Ok(())
}

/// A host file or directory tree, at `in_image`. Symlinks are kept as symlinks.
fn add_host_path(layer: &mut LayerBuilder, host: &Path, in_image: &str) -> Result<()> {
    let meta = std::fs::symlink_metadata(host).map_err(|e| Error::io("read", host, e))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(host).map_err(|e| Error::io("read", host, e))?;
        layer.symlink(in_image, &target.to_string_lossy());
    } else if meta.is_dir() {
        layer.dir(in_image, 0o755);
        let mut entries: Vec<_> = std::fs::read_dir(host)
            .map_err(|e| Error::io("read", host, e))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for name in entries {
            let child = format!(
                "{}/{}",
                in_image.trim_end_matches('/'),
                name.to_string_lossy()
            );
            add_host_path(layer, &host.join(&name), &child)?;
        }
    } else {
        layer.file(in_image, mode_of(host)?, host);
    }
    Ok(())
}

/// Only whether the file is executable survives: 0755 or 0644, never the host's other bits.
fn mode_of(path: &Path) -> Result<u32> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    Ok(if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::healthcheck::Spec;
    use crate::settings::Layer;

    #[test]
    fn healthcheck_and_probe_come_together_or_not_at_all() {
        let layer = Layer {
            healthcheck: Some(Spec::from_url("tcp://127.0.0.1:1").unwrap()),
            ..Layer::default()
        };
        let with = ImageSettings::from_layer(&layer);
        let without = ImageSettings::from_layer(&Layer::default());
        let probe = Path::new("/nonexistent/gantry-probe");
        for (settings, probe, says) in [
            (&with, None, "no `gantry-probe` to run it"),
            (&without, Some(probe), "without a healthcheck"),
        ] {
            let err = build(&Inputs {
                binary: Path::new("/nonexistent/app"),
                bin: "app",
                settings,
                labels: &BTreeMap::new(),
                base: &Base::Scratch,
                created: 0,
                extra_files: &[],
                probe,
                cache: None,
            })
            .err()
            .unwrap();
            assert!(err.message().contains(says), "{}", err.render());
        }
    }
}
