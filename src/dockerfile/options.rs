//! The choices a user names (strategy, runtime, registry mirror) and the package lists that
//! follow from them.

use crate::error::{Error, Result};
use crate::project::ProjectFile;
use crate::resolve::DockerSettings;
use crate::settings::Runtime;

use super::native::{self, NativeDep};
use super::toolchain::Suite;

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
    settings: &DockerSettings,
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
    build.extend(settings.native_packages.iter().cloned());
    run.extend(settings.runtime_packages.iter().cloned());
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

/// The linker tools a project's cargo config asks for, which the builder image lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkerNeeds {
    pub packages: Vec<String>,
    pub why: Option<String>,
}

/// Read `linker = …` and `-fuse-ld=…` / `-C link-arg=-fuse-ld=…` in every `[target.*]` and
/// `[build]` table: a config that links with clang and lld fails at link time in a builder
/// that only has gcc.
pub fn linker_packages(configs: &[ProjectFile]) -> LinkerNeeds {
    let mut found: Vec<(String, String)> = Vec::new();
    for config in configs {
        let Ok(table) = config.contents.parse::<toml::Table>() else {
            continue;
        };
        let mut tables: Vec<&toml::Table> = table
            .get("build")
            .and_then(|b| b.as_table())
            .into_iter()
            .collect();
        if let Some(targets) = table.get("target").and_then(|t| t.as_table()) {
            tables.extend(targets.values().filter_map(|v| v.as_table()));
        }
        for t in tables {
            if let Some(linker) = t.get("linker").and_then(|l| l.as_str()) {
                let name = linker.rsplit('/').next().unwrap_or(linker);
                if let Some(pkg) = tool_package(name) {
                    found.push((pkg, format!("`linker = \"{linker}\"` in `{}`", config.rel)));
                }
            }
            let flags: Vec<String> = match t.get("rustflags") {
                Some(toml::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
                Some(toml::Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            for flag in &flags {
                if let Some(ld) = flag.split("-fuse-ld=").nth(1) {
                    let ld = ld.rsplit('/').next().unwrap_or(ld);
                    if let Some(pkg) = tool_package(ld) {
                        found.push((pkg, format!("`-fuse-ld={ld}` in `{}`", config.rel)));
                    }
                }
            }
        }
    }
    let mut packages: Vec<String> = found.iter().map(|(p, _)| p.clone()).collect();
    packages.sort();
    packages.dedup();
    let mut reasons: Vec<String> = found.into_iter().map(|(_, why)| why).collect();
    reasons.dedup();
    LinkerNeeds {
        why: (!packages.is_empty()).then(|| reasons.join(", ")),
        packages,
    }
}

/// The Debian/Alpine package of a linker or linker driver (same names on both).
fn tool_package(name: &str) -> Option<String> {
    let name = name.trim();
    match name {
        "clang" | "clang++" => Some("clang".to_owned()),
        "lld" | "ld.lld" | "ld64.lld" | "rust-lld" => {
            (name != "rust-lld").then(|| "lld".to_owned())
        }
        "mold" | "ld.mold" => Some("mold".to_owned()),
        n if n.starts_with("clang-") && n[6..].chars().all(|c| c.is_ascii_digit()) => {
            Some(n.to_owned())
        }
        n if n.starts_with("lld-") && n[4..].chars().all(|c| c.is_ascii_digit()) => {
            Some(n.to_owned())
        }
        _ => None,
    }
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
            &DockerSettings::default(),
            Suite::Trixie,
            false,
        );
        assert_eq!(rt, Runtime::Debian);
        assert!(why.unwrap().contains("`libpq5`"));
        assert!(build.contains(&"libpq-dev".to_owned()));
        assert_eq!(run, ["ca-certificates", "libpq5"]);
    }

    #[test]
    fn clang_and_lld_from_a_cargo_config_are_installed() {
        let config = ProjectFile {
            rel: ".cargo/config.toml".into(),
            contents: "[target.x86_64-unknown-linux-gnu]\nlinker = \"clang\"\n\
                       rustflags = [\"-C\", \"link-arg=-fuse-ld=lld\"]\n"
                .into(),
        };
        let needs = linker_packages(&[config]);
        assert_eq!(needs.packages, ["clang", "lld"]);
        let why = needs.why.unwrap();
        assert!(
            why.contains("`linker = \"clang\"`") && why.contains("-fuse-ld=lld"),
            "{why}"
        );
        let plain = ProjectFile {
            rel: ".cargo/config.toml".into(),
            contents: "[build]\nrustflags = \"-C target-cpu=native\"\n".into(),
        };
        assert_eq!(linker_packages(&[plain]), LinkerNeeds::default());
    }
}
