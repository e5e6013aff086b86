//! Resolve: Project + settings → one [`Target`]: the package, the binary, the cargo flags, the
//! platform, the image settings and labels. Every command that builds something takes this one
//! value, so `build` and `dockerfile` cannot disagree on which binary, which flags or which
//! labels. Pure: no I/O, every rule is unit-tested.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::image::BaseSpec;
use crate::platforms::{self, Row};
use crate::project::{LocalPackage, Project};
use crate::settings::{CargoBuild, ImageSettings, Layer, Runtime, Strategy};

/// What the user asked for before the package is known.
#[derive(Debug, Clone)]
pub struct Request {
    /// Command-line flags over `GANTRY_*` variables.
    pub layer: Layer,
    /// The cargo flags exactly as typed.
    pub cargo: CargoBuild,
    /// Whether the command line chose the profile (else settings may).
    pub profile_given: bool,
}

/// A file of the project copied into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    /// Relative to the package directory, as written in the setting.
    pub host: String,
    /// Absolute path in the image.
    pub image: String,
}

/// The settings only `cargo gantry dockerfile` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerSettings {
    pub strategy: Strategy,
    pub runtime: Runtime,
    pub builder: Option<String>,
    pub registry_mirror: Option<String>,
    pub native_packages: Vec<String>,
    pub runtime_packages: Vec<String>,
    pub allocator_feature: Option<String>,
}

/// Everything decided about one binary and its image.
#[derive(Debug, Clone)]
pub struct Target {
    pub package: String,
    /// The package directory relative to the workspace root.
    pub package_dir: String,
    pub version: String,
    pub bin: String,
    /// The cargo flags of the build: always `-p PACKAGE --bin BIN`, so that cargo unifies
    /// features over the same packages in `cook`, in the Dockerfile and on the host.
    pub cargo: CargoBuild,
    /// The platform the binary runs on (the host's unless `--target` or `--platform` names
    /// another).
    pub platform: &'static Row,
    /// The platforms `--platform` asked for, in order: two or more make a multi-platform image,
    /// each built by [`Target::for_platform`]; one is `platform` itself. Empty without
    /// `--platform`.
    pub platforms: Vec<&'static Row>,
    pub base: BaseSpec,
    pub image: ImageSettings,
    pub extra_files: Vec<ExtraFile>,
    /// OCI labels from the package metadata, then the user's labels (which win).
    pub labels: BTreeMap<String, String>,
    /// The git commit of the checkout, for the `revision` label of images built here.
    pub revision: Option<String>,
    /// `NAME:TAG` for outputs that carry a name.
    pub tag: String,
    pub docker: DockerSettings,
}

pub fn resolve(project: &Project, req: &Request) -> Result<Target> {
    // The binary may be named on the command line, in the environment or in workspace metadata.
    let ws_layer = req.layer.clone().or(project.settings.clone());
    let (pkg, bin) = select(project, &req.cargo, &ws_layer)?;
    let layer = req
        .layer
        .clone()
        .or(pkg.settings.clone())
        .or(project.settings.clone());
    let mut cargo = req.cargo.clone().with_layer(
        &Layer {
            // Chosen above, from every layer at once.
            bin: None,
            package: None,
            ..layer.clone()
        },
        req.profile_given,
    );
    cargo.bins = vec![bin.clone()];
    cargo.packages = vec![pkg.name.clone()];
    let mut platform = platforms::of_target(cargo.target.as_deref())?;
    let platforms = requested_platforms(layer.platforms.as_deref().unwrap_or_default())?;
    if let [only] = platforms[..] {
        // one platform is an ordinary single-platform image, for that platform
        cargo.target = target_triple(cargo.target.as_deref(), only)?;
        platform = only;
    }
    let image = ImageSettings::from_layer(&layer);
    let base = BaseSpec::parse(&image.base)?;
    let extra_files = image
        .extra_files
        .iter()
        .map(|spec| extra_file(spec, &bin))
        .collect::<Result<Vec<_>>>()?;
    let mut labels = metadata_labels(pkg);
    labels.extend(image.labels.clone());
    let tag = image
        .tag
        .clone()
        .unwrap_or_else(|| format!("{bin}:{}", pkg.version));
    Ok(Target {
        package: pkg.name.clone(),
        package_dir: pkg.dir.clone(),
        version: pkg.version.clone(),
        bin,
        cargo,
        platform,
        platforms,
        base,
        image,
        extra_files,
        labels,
        revision: project.revision.clone(),
        tag,
        docker: DockerSettings {
            strategy: layer.strategy.unwrap_or_default(),
            runtime: layer.runtime.unwrap_or_default(),
            builder: layer.builder.clone(),
            registry_mirror: layer.registry_mirror.clone(),
            native_packages: layer.native_packages.clone().unwrap_or_default(),
            runtime_packages: layer.runtime_packages.clone().unwrap_or_default(),
            allocator_feature: layer.allocator_feature.clone(),
        },
    })
}

/// Every binary asked for: `--bin a --bin b`, or `--workspace` (every binary of every member);
/// otherwise the one [`resolve`] picks. Each is resolved on its own, with its package's settings.
pub fn resolve_all(project: &Project, req: &Request) -> Result<Vec<Target>> {
    let bins: Vec<String> = if req.cargo.workspace {
        project
            .members()
            .flat_map(|p| p.bins().map(|t| t.name.clone()))
            .collect()
    } else if req.cargo.bins.len() > 1 {
        req.cargo.bins.clone()
    } else {
        return Ok(vec![resolve(project, req)?]);
    };
    if bins.is_empty() {
        return Err(
            Error::user("this workspace has no binary to put into an image")
                .with_hint("add a `[[bin]]` target (or `src/main.rs`) to a workspace member"),
        );
    }
    let mut targets: Vec<Target> = Vec::new();
    for bin in bins {
        if targets.iter().any(|t| t.bin == bin) {
            continue;
        }
        let one = Request {
            cargo: CargoBuild {
                bins: vec![bin],
                packages: Vec::new(),
                workspace: false,
                ..req.cargo.clone()
            },
            ..req.clone()
        };
        targets.push(resolve(project, &one)?);
    }
    Ok(targets)
}

/// One cargo invocation for several targets: their flags, with every package and binary. Shared
/// dependencies then compile once; cargo unifies features over all the selected packages, as
/// `cargo build -p a -p b` always does.
pub fn combined_cargo(targets: &[Target]) -> Result<CargoBuild> {
    let first = targets.first().expect("at least one target");
    let strip = |c: &CargoBuild| CargoBuild {
        packages: Vec::new(),
        bins: Vec::new(),
        ..c.clone()
    };
    if let Some(other) = targets
        .iter()
        .find(|t| strip(&t.cargo) != strip(&first.cargo))
    {
        return Err(Error::user(format!(
            "binaries `{}` and `{}` need different cargo flags, so one cargo build cannot make both",
            first.bin, other.bin
        ))
        .with_hint("build them separately, or give their packages the same profile, features and target settings"));
    }
    let mut cargo = first.cargo.clone();
    cargo.packages = Vec::new();
    cargo.bins = Vec::new();
    for t in targets {
        if !cargo.packages.contains(&t.package) {
            cargo.packages.push(t.package.clone());
        }
        cargo.bins.push(t.bin.clone());
    }
    Ok(cargo)
}

impl Target {
    /// Whether this is a multi-platform image (an index).
    pub fn is_multi_platform(&self) -> bool {
        self.platforms.len() > 1
    }

    /// This target for one platform of a multi-platform image: the Rust target of that
    /// platform (glibc, or musl when `--target` asked for musl), none for the host's own
    /// platform without `--target`, so that the host's image is the one a plain build makes.
    pub fn for_platform(&self, row: &'static Row) -> Result<Target> {
        let mut one = self.clone();
        one.cargo.target = target_triple(self.cargo.target.as_deref(), row)?;
        one.platform = row;
        one.platforms = vec![row];
        Ok(one)
    }

    /// The labels of an image built from this checkout: the git revision unless a label sets it.
    pub fn image_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        if let Some(rev) = &self.revision {
            labels
                .entry("org.opencontainers.image.revision".into())
                .or_insert_with(|| rev.clone());
        }
        labels
    }
}

/// `--platform` values → rows of [`platforms::TABLE`], each once, in the order given.
fn requested_platforms(values: &[String]) -> Result<Vec<&'static Row>> {
    let mut rows: Vec<&'static Row> = Vec::new();
    for value in values {
        let parsed = crate::oci::Platform::parse(value)?;
        let row = platforms::by_platform(&parsed).ok_or_else(|| {
            let known: Vec<String> = platforms::TABLE
                .iter()
                .map(|r| format!("`{}`", r.platform))
                .collect();
            Error::user(format!("gantry cannot build for the platform `{value}`"))
                .with_hint(format!("use one of {}", known.join(", ")))
        })?;
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The `--target` for `row`, given the `--target` the user typed: musl when they asked for
/// musl, none for the host's platform when they named no target.
fn target_triple(typed: Option<&str>, row: &'static Row) -> Result<Option<String>> {
    let musl = typed.is_some_and(|t| t.contains("musl"));
    if typed.is_none() && platforms::host()? == row {
        return Ok(None);
    }
    Ok(Some(if musl { row.musl } else { row.gnu }.to_owned()))
}

/// `HOST[:/PATH/IN/IMAGE]`, HOST relative to the package; the image path defaults to
/// `/usr/share/<bin>/HOST`.
fn extra_file(spec: &str, bin: &str) -> Result<ExtraFile> {
    let (host, image) = match spec.split_once(':') {
        Some((h, i)) => (h, i.to_owned()),
        None => (
            spec,
            format!(
                "/usr/share/{bin}/{}",
                spec.trim_start_matches("./").trim_end_matches('/')
            ),
        ),
    };
    let host = host.trim_end_matches('/');
    let escapes = host.starts_with('/') || host.split('/').any(|c| c == "..");
    if host.is_empty() || escapes || !image.starts_with('/') || image.contains("/../") {
        return Err(Error::user(format!("extra file `{spec}` is not usable")).with_hint(
            "write HOST[:/ABSOLUTE/PATH/IN/IMAGE] with HOST a path inside the package directory",
        ));
    }
    Ok(ExtraFile {
        host: host.to_owned(),
        image,
    })
}

/// The one binary to put in the image: named by `--bin`, by `-p` (its only binary), by
/// settings, or the only binary of the default members (all members without
/// `default-members`), as `cargo build` would pick them.
pub fn select<'p>(
    project: &'p Project,
    cargo: &CargoBuild,
    layer: &Layer,
) -> Result<(&'p LocalPackage, String)> {
    let bins: Vec<String> = match (&cargo.bins[..], &cargo.packages[..]) {
        ([], []) => layer.bin.iter().cloned().collect(),
        (bins, _) => bins.to_vec(),
    };
    let all: Vec<(&LocalPackage, String)> = project
        .members()
        .flat_map(|p| p.bins().map(move |t| (p, t.name.clone())))
        .collect();
    if bins.len() > 1 {
        return Err(Error::user(format!(
            "an image holds one binary, but {} were named",
            bins.len()
        ))
        .with_hint("pass one --bin NAME"));
    }
    if let Some(bin) = bins.first() {
        return all.iter().find(|(_, b)| b == bin).cloned().ok_or_else(|| {
            Error::user(format!("no binary `{bin}` in this workspace"))
                .with_hint(format!("the binaries are: {}", listed(&all)))
        });
    }
    let packages: Vec<String> = match &cargo.packages[..] {
        [] => layer.package.iter().cloned().collect(),
        p => p.to_vec(),
    };
    let candidates: Vec<(&LocalPackage, String)> = if let Some(name) = packages.first() {
        if !project.members().any(|p| &p.name == name) {
            let members: Vec<String> = project.members().map(|p| format!("`{}`", p.name)).collect();
            return Err(
                Error::user(format!("no package `{name}` in this workspace"))
                    .with_hint(format!("the members are: {}", or_none(members.join(", ")))),
            );
        }
        all.iter()
            .filter(|(p, _)| &p.name == name)
            .cloned()
            .collect()
    } else if let Some(defaults) = &project.default_members {
        all.iter()
            .filter(|(p, _)| defaults.contains(&p.dir))
            .cloned()
            .collect()
    } else {
        all.clone()
    };
    match &candidates[..] {
        [one] => Ok(one.clone()),
        [] => Err(Error::user(match packages.first() {
            Some(p) => format!("package `{p}` has no binary to put into an image"),
            None => "this workspace has no binary to put into an image".to_owned(),
        })
        .with_hint("add a `[[bin]]` target (or `src/main.rs`), or pick the package with -p")),
        many => Err(Error::user(format!(
            "this workspace has {} binaries: {}",
            many.len(),
            listed(many)
        ))
        .with_hint("pass --bin NAME, or set `bin = \"NAME\"` in [workspace.metadata.gantry]")),
    }
}

fn listed(items: &[(&LocalPackage, String)]) -> String {
    or_none(
        items
            .iter()
            .map(|(p, b)| format!("`{b}` (package `{}`)", p.name))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn or_none(s: String) -> String {
    if s.is_empty() { "(none)".to_owned() } else { s }
}

/// The standard OCI labels that Cargo metadata can fill.
pub fn metadata_labels(pkg: &LocalPackage) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            // One line: a label is shown in one line by every tool.
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            labels.insert(format!("org.opencontainers.image.{k}"), v);
        }
    };
    put("title", Some(&pkg.name));
    put("description", pkg.description.as_ref());
    put("version", Some(&pkg.version));
    put("source", pkg.repository.as_ref());
    put("url", pkg.homepage.as_ref());
    put("licenses", pkg.license.as_ref());
    put("authors", Some(&pkg.authors.join(", ")));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Kind, Target as CargoTarget};
    use crate::settings::Profile;

    fn package(name: &str, dir: &str, bins: &[&str]) -> LocalPackage {
        LocalPackage {
            name: name.into(),
            version: "1.0.0".into(),
            dir: dir.into(),
            manifest_text: String::new(),
            member: true,
            targets: bins
                .iter()
                .map(|b| CargoTarget {
                    name: (*b).into(),
                    kind: Kind::Bin,
                    src_path: format!("src/bin/{b}.rs"),
                    required_features: Vec::new(),
                    test: true,
                })
                .collect(),
            local_deps: Default::default(),
            settings: Layer::default(),
            description: Some("An  api\n server".into()),
            license: None,
            repository: None,
            homepage: None,
            authors: Vec::new(),
            rust_version: None,
            edition: "2021".into(),
        }
    }

    fn project(packages: Vec<LocalPackage>, default_members: Option<Vec<&str>>) -> Project {
        Project {
            root: "/ws".into(),
            root_manifest: String::new(),
            packages,
            default_members: default_members.map(|d| d.iter().map(|s| s.to_string()).collect()),
            lockfile: None,
            toolchain: None,
            cargo_configs: Vec::new(),
            patch_dirs: Default::default(),
            settings: Layer::default(),
            target_directory: "/ws/target".into(),
            revision: Some("abc123".into()),
        }
    }

    fn request(layer: Layer, cargo: CargoBuild) -> Request {
        Request {
            layer,
            cargo,
            profile_given: false,
        }
    }

    #[test]
    fn default_members_decide_the_binary_for_every_command() {
        let p = project(
            vec![
                package("api", "api", &["api"]),
                package("tool", "tool", &["tool"]),
            ],
            Some(vec!["api"]),
        );
        let t = resolve(&p, &request(Layer::default(), CargoBuild::default())).unwrap();
        assert_eq!((t.package.as_str(), t.bin.as_str()), ("api", "api"));
        // -p and --bin are both always rendered: cook, the Dockerfile and the host build select
        // the same packages, so cargo unifies features the same way.
        assert_eq!(t.cargo.args(), ["-p", "api", "--bin", "api"]);
    }

    #[test]
    fn several_binaries_are_listed_with_their_packages() {
        let p = project(
            vec![package("a", "a", &["alpha"]), package("b", "b", &["beta"])],
            None,
        );
        let err = resolve(&p, &request(Layer::default(), CargoBuild::default())).unwrap_err();
        let text = err.render();
        assert!(
            text.contains(
                "this workspace has 2 binaries: `alpha` (package `a`), `beta` (package `b`)"
            ),
            "{text}"
        );
    }

    #[test]
    fn settings_fill_cargo_flags_and_typed_choices() {
        let mut pkg = package("api", "api", &["api"]);
        pkg.settings = Layer {
            profile: Some("dist".into()),
            runtime: Some(Runtime::Static),
            extra_files: Some(vec!["configuration".into(), "static/:/srv/static".into()]),
            labels: Some([("org.opencontainers.image.title".into(), "API".into())].into()),
            ..Layer::default()
        };
        let p = project(vec![pkg], None);
        let t = resolve(&p, &request(Layer::default(), CargoBuild::default())).unwrap();
        assert_eq!(t.cargo.profile, Profile::Named("dist".into()));
        assert_eq!(t.docker.runtime, Runtime::Static);
        assert_eq!(t.docker.strategy, Strategy::Chef);
        assert_eq!(
            t.extra_files,
            [
                ExtraFile {
                    host: "configuration".into(),
                    image: "/usr/share/api/configuration".into()
                },
                ExtraFile {
                    host: "static".into(),
                    image: "/srv/static".into()
                }
            ]
        );
        assert_eq!(t.labels["org.opencontainers.image.title"], "API");
        assert_eq!(
            t.labels["org.opencontainers.image.description"],
            "An api server"
        );
        assert_eq!(
            t.image_labels()["org.opencontainers.image.revision"],
            "abc123"
        );
        assert!(!t.labels.contains_key("org.opencontainers.image.revision"));
    }

    #[test]
    fn the_platform_follows_the_target_triple() {
        let p = project(vec![package("api", "api", &["api"])], None);
        let cargo = CargoBuild {
            target: Some("aarch64-unknown-linux-gnu".into()),
            ..CargoBuild::default()
        };
        let t = resolve(&p, &request(Layer::default(), cargo)).unwrap();
        assert_eq!(t.platform.platform, "linux/arm64");
        let t = resolve(&p, &request(Layer::default(), CargoBuild::default())).unwrap();
        assert_eq!(t.platform, platforms::host().unwrap());
    }

    #[test]
    fn several_bins_resolve_one_target_each_and_build_in_one_cargo_run() {
        let p = project(
            vec![
                package("api", "api", &["api", "migrate"]),
                package("worker", "worker", &["worker"]),
            ],
            None,
        );
        let all = CargoBuild {
            workspace: true,
            ..CargoBuild::default()
        };
        let targets = resolve_all(&p, &request(Layer::default(), all)).unwrap();
        let bins: Vec<&str> = targets.iter().map(|t| t.bin.as_str()).collect();
        assert_eq!(bins, ["api", "migrate", "worker"]);
        assert_eq!(targets[1].tag, "migrate:1.0.0");
        let cargo = combined_cargo(&targets).unwrap();
        assert_eq!(
            cargo.args(),
            [
                "-p", "api", "-p", "worker", "--bin", "api", "--bin", "migrate", "--bin", "worker"
            ]
        );
        let two = CargoBuild {
            bins: vec!["worker".into(), "api".into()],
            ..CargoBuild::default()
        };
        let targets = resolve_all(&p, &request(Layer::default(), two)).unwrap();
        assert_eq!(targets[0].bin, "worker");
        assert_eq!(targets[0].cargo.args(), ["-p", "worker", "--bin", "worker"]);
    }

    #[test]
    fn binaries_with_different_flags_cannot_share_a_cargo_run() {
        let mut worker = package("worker", "worker", &["worker"]);
        worker.settings = Layer {
            features: Some(vec!["fast".into()]),
            ..Layer::default()
        };
        let p = project(vec![package("api", "api", &["api"]), worker], None);
        let all = CargoBuild {
            workspace: true,
            ..CargoBuild::default()
        };
        let targets = resolve_all(&p, &request(Layer::default(), all)).unwrap();
        let err = combined_cargo(&targets).unwrap_err();
        assert!(
            err.render().contains("need different cargo flags"),
            "{}",
            err.render()
        );
    }

    #[test]
    fn extra_files_may_not_leave_the_package() {
        for bad in ["../secrets", "/etc/passwd", "a:relative/in/image", ""] {
            assert!(extra_file(bad, "b").is_err(), "{bad}");
        }
    }

    #[test]
    fn platforms_pick_rust_targets_and_one_platform_is_a_plain_image() {
        let proj = project(vec![package("api", "api", &["api"])], None);
        let host = platforms::host().unwrap();
        let foreign = platforms::TABLE.iter().find(|r| *r != host).unwrap();
        let layer = |p: &[&str]| Layer {
            platforms: Some(p.iter().map(|s| s.to_string()).collect()),
            ..Layer::default()
        };
        let both = [host.platform, foreign.platform];
        let t = resolve(&proj, &request(layer(&both), CargoBuild::default())).unwrap();
        assert!(t.is_multi_platform());
        // the host's platform without --target is exactly the plain build
        assert_eq!(t.for_platform(host).unwrap().cargo.target, None);
        let other = t.for_platform(foreign).unwrap();
        assert_eq!(other.cargo.target.as_deref(), Some(foreign.gnu));
        assert_eq!(other.platform, foreign);

        let one = resolve(
            &proj,
            &request(layer(&[foreign.platform]), CargoBuild::default()),
        )
        .unwrap();
        assert!(!one.is_multi_platform());
        assert_eq!(one.cargo.target.as_deref(), Some(foreign.gnu));

        // musl asked for on the command line stays musl on every platform
        let musl = CargoBuild {
            target: Some(host.musl.to_owned()),
            ..CargoBuild::default()
        };
        let t = resolve(&proj, &request(layer(&both), musl)).unwrap();
        assert_eq!(
            t.for_platform(foreign).unwrap().cargo.target.as_deref(),
            Some(foreign.musl)
        );

        let err = resolve(
            &proj,
            &request(layer(&["linux/mips"]), CargoBuild::default()),
        )
        .unwrap_err();
        assert!(
            err.hint().unwrap().contains("`linux/arm64`"),
            "{}",
            err.render()
        );
    }
}
