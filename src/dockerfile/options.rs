//! The choices a user names (strategy, runtime, registry mirror) and the package lists that
//! follow from them.

use crate::error::{Error, Result};
use crate::project::ProjectFile;
use crate::settings::Layer;

use super::native::{self, NativeDep};
use super::toolchain::Suite;

/// How dependencies are cached between builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// prepare → recipe, cook into an image layer, then the real build.
    Chef,
    /// `cargo vendor`ed sources in the context, source replacement, offline build.
    Vendor,
    /// BuildKit cache mounts for the registry, git db and target dir.
    Mounts,
}

impl Strategy {
    pub fn parse(s: Option<&str>) -> Result<Strategy> {
        match s.unwrap_or("chef") {
            "chef" => Ok(Strategy::Chef),
            "vendor" => Ok(Strategy::Vendor),
            "mounts" => Ok(Strategy::Mounts),
            other => Err(Error::user(format!("unknown strategy `{other}`"))
                .with_hint("choose one of `chef` (default), `vendor`, `mounts`")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Chef => "chef",
            Strategy::Vendor => "vendor",
            Strategy::Mounts => "mounts",
        }
    }
}

/// The image the binary runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Distroless,
    Static,
    Scratch,
    Alpine,
    Debian,
}

impl Runtime {
    pub fn parse(s: Option<&str>) -> Result<Runtime> {
        match s.unwrap_or("distroless") {
            "distroless" => Ok(Runtime::Distroless),
            "static" => Ok(Runtime::Static),
            "scratch" => Ok(Runtime::Scratch),
            "alpine" => Ok(Runtime::Alpine),
            "debian" => Ok(Runtime::Debian),
            other => Err(Error::user(format!("unknown runtime `{other}`")).with_hint(
                "choose one of `distroless` (default), `static`, `scratch`, `alpine`, `debian`",
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Distroless => "distroless",
            Runtime::Static => "static",
            Runtime::Scratch => "scratch",
            Runtime::Alpine => "alpine",
            Runtime::Debian => "debian",
        }
    }
}

/// A registry that stands in for crates.io.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The index URL as cargo's `registry = …` wants it (`sparse+https://…` or a git URL).
    pub index: String,
    pub sparse: bool,
}

impl Mirror {
    /// `sparse+URL` and plain http(s) URLs are sparse indexes; `git+URL`, `ssh://`, `git://` and
    /// `….git` are git indexes.
    pub fn parse(url: &str) -> Result<Mirror> {
        let url = url.trim();
        if url.contains('\'') || url.contains('"') || url.contains(char::is_whitespace) {
            return Err(Error::user(format!("registry mirror `{url}` is not a URL"))
                .with_hint("pass an index URL such as `https://mirror.example/index/`"));
        }
        if let Some(rest) = url.strip_prefix("git+") {
            return Ok(Mirror {
                index: rest.to_owned(),
                sparse: false,
            });
        }
        if url.starts_with("sparse+") {
            return Ok(Mirror {
                index: url.to_owned(),
                sparse: true,
            });
        }
        if url.starts_with("ssh://") || url.starts_with("git://") || url.ends_with(".git") {
            return Ok(Mirror {
                index: url.to_owned(),
                sparse: false,
            });
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            let slash = if url.ends_with('/') { "" } else { "/" };
            return Ok(Mirror {
                index: format!("sparse+{url}{slash}"),
                sparse: true,
            });
        }
        Err(Error::user(format!("registry mirror `{url}` is not a URL"))
            .with_hint("use `https://…` (sparse index), `sparse+https://…` or `git+https://….git`"))
    }
}

/// The runtime actually used (with the reason when it changed), builder packages and runtime
/// packages, sorted and without duplicates.
pub fn packages(
    asked: Runtime,
    rows: &[&'static NativeDep],
    layer: &Layer,
    suite: Suite,
    musl: bool,
) -> (Runtime, Option<String>, Vec<String>, Vec<String>) {
    let alpine = asked == Runtime::Alpine;
    let deb = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|n| native::deb_name(n, suite.t64()))
            .collect()
    };
    let mut build: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for row in rows {
        if alpine {
            build.extend(row.apk_build.iter().map(|s| s.to_string()));
            run.extend(row.apk_runtime.iter().map(|s| s.to_string()));
        } else {
            build.extend(deb(row.deb_build));
            run.extend(deb(row.deb_runtime));
        }
    }
    if alpine {
        build.push("musl-dev".to_owned());
    } else if musl {
        build.push("musl-tools".to_owned());
    }
    build.extend(layer.native_packages.clone().unwrap_or_default());
    run.extend(layer.runtime_packages.clone().unwrap_or_default());
    for list in [&mut build, &mut run] {
        list.sort();
        list.dedup();
    }
    let (runtime, switch) = match asked {
        // Nothing can be installed into a static or scratch image: native libraries are linked
        // statically into the binary instead.
        Runtime::Static | Runtime::Scratch => {
            run.clear();
            (asked, None)
        }
        Runtime::Distroless => {
            let has = deb(native::DISTROLESS_CC_HAS);
            let missing: Vec<&String> = run.iter().filter(|p| !has.contains(p)).collect();
            if missing.is_empty() {
                run.clear();
                (asked, None)
            } else {
                let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
                let why = format!(
                    "distroless has no {} and no package manager to add it",
                    names.join(", ")
                );
                (Runtime::Debian, Some(why))
            }
        }
        Runtime::Alpine | Runtime::Debian => (asked, None),
    };
    if matches!(runtime, Runtime::Debian | Runtime::Alpine)
        && !run.iter().any(|p| p == "ca-certificates")
    {
        // TLS clients need the CA roots that distroless images carry and slim bases do not.
        run.push("ca-certificates".to_owned());
        run.sort();
    }
    (runtime, switch, build, run)
}

/// Whether one of the project's cargo configs already replaces crates.io.
pub fn replaces_crates_io(configs: &[ProjectFile]) -> bool {
    configs.iter().any(|c| {
        c.contents
            .parse::<toml::Table>()
            .ok()
            .and_then(|t| {
                t.get("source")?
                    .get("crates-io")?
                    .get("replace-with")
                    .cloned()
            })
            .is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls_become_sparse_or_git_indexes() {
        let m = Mirror::parse("https://m.example/index").unwrap();
        assert_eq!(m.index, "sparse+https://m.example/index/");
        assert!(
            !Mirror::parse("git+https://m.example/index.git")
                .unwrap()
                .sparse
        );
        assert!(Mirror::parse("ftp://x").is_err());
    }

    #[test]
    fn distroless_switches_to_debian_for_libpq() {
        let pq = native::TABLE.iter().find(|r| r.krate == "pq-sys").unwrap();
        let (rt, why, build, run) = packages(
            Runtime::Distroless,
            &[pq],
            &Layer::default(),
            Suite::Trixie,
            false,
        );
        assert_eq!(rt, Runtime::Debian);
        assert!(why.unwrap().contains("`libpq5`"));
        assert!(build.contains(&"libpq-dev".to_owned()));
        assert_eq!(run, ["ca-certificates", "libpq5"]);
    }
}
