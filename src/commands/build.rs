use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_gantry::engine::Engine;
use cargo_gantry::healthcheck::Spec;
use cargo_gantry::image::{self, Inputs, PlatformImage};
use cargo_gantry::oci::layer::LayerCache;
use cargo_gantry::oci::{Artifact, layout};
use cargo_gantry::provenance::{self, Found, Provenance};
use cargo_gantry::publish::{DockerArchive, DockerLoad, Multi, OciLayout, Publisher, Registry};
use cargo_gantry::registry::{ClientOptions, ImageRef, PullOptions, PushOptions};
use cargo_gantry::resolve::{self, Request, Target};
use cargo_gantry::sbom;
use cargo_gantry::settings::{self, Layer, Profile, env};
use cargo_gantry::{Error, Result, assets, probe, project, sign, timings};

use crate::cli::{ImageArgs, MessageFormat};

/// One built and published image.
pub struct Outcome {
    pub target: Target,
    pub image: cargo_gantry::oci::Image,
    pub summary: image::Summary,
    pub published: cargo_gantry::publish::Published,
    /// The default OCI layout, when no output was named.
    pub default_layout: Option<PathBuf>,
    /// Every platform of a multi-platform image (`published.digest` is the index's); empty
    /// for a single image.
    pub platforms: Vec<image::PlatformImage>,
}

pub fn run(args: &ImageArgs) -> Result<()> {
    timings::init(args.timings.on);
    for out in timings::time("total", || build(args))? {
        report(args, &out);
    }
    Ok(())
}

/// What one target needs besides the compiled binary, all checked before the compile.
struct Prepared {
    extra_files: Vec<(PathBuf, String)>,
    formats: Vec<sbom::Format>,
    base: image::Base,
    probe: Option<PathBuf>,
    publisher: Multi,
    default_layout: Option<PathBuf>,
}

/// Resolve, compile, assemble and publish one image per selected binary (one cargo run for all);
/// prints progress on stderr only.
pub fn build(args: &ImageArgs) -> Result<Vec<Outcome>> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    if args.build.targets_selected() {
        return Err(
            Error::user("`cargo gantry build` puts binaries in images").with_hint(
                "drop --all-targets/--tests/--benches/--examples; pick binaries with --bin",
            ),
        );
    }
    // The host triple and the provenance need `rustc -vV`; it runs while cargo reads the
    // workspace (a toolchain is picked per directory: it is asked again if the root differs).
    cargo_gantry::cargo::prefetch_rustc_version(&cwd);
    let project = timings::time("analyze", || {
        project::analyze(&cwd, args.manifest_path.as_deref())
    })?;
    let resolving = timings::stage("resolve");
    let targets = resolve::resolve_all(
        &project,
        &Request {
            layer: cli_layer(args)?.or(Layer::from_process_env()?),
            cargo: super::cargo_build(&args.build, Profile::Release),
            profile_given: super::profile_given(&args.build),
        },
    )?;
    drop(resolving);
    let many = targets.len() > 1;
    if many {
        check_outputs_for_several(args, &targets)?;
    }
    for target in &targets {
        if let Some(note) = assets::unshipped_note(&project.root, target) {
            eprintln!("{note}");
        }
    }

    let scratch = tempfile::tempdir().map_err(|e| Error::io("create", &std::env::temp_dir(), e))?;
    let client = ClientOptions {
        insecure: args.insecure_registries.clone(),
        ..ClientOptions::default()
    };
    let pull = PullOptions {
        client: client.clone(),
        ..PullOptions::default()
    };
    // Everything that can be wrong in the input is checked (and the bases pulled) before the
    // compile, which is the long part.
    let created = source_date_epoch()?;
    // The key is read (and refused if unusable) before the compile, like every other input.
    let sign_key = args
        .sign_key
        .as_deref()
        .map(|k| sign::signing_key(Some(k), None))
        .transpose()?;
    if targets.iter().any(|t| t.is_multi_platform()) {
        if many && args.oci_layout.is_some() {
            return Err(Error::user(
                "several multi-platform images cannot share one `--oci-layout`",
            )
            .with_hint("push them with --repo REGISTRY/PREFIX, or build one binary per layout"));
        }
        // One index per binary; each platform of each is cross-compiled in turn (the target
        // dir is shared, so common dependencies compile once per platform).
        let mut outcomes = Vec::new();
        for (i, target) in targets.into_iter().enumerate() {
            let scratch = scratch.path().join(i.to_string());
            let shared = Shared {
                project: &project,
                pull: &pull,
                client: &client,
                created,
                sign_key: sign_key.as_ref(),
            };
            outcomes.push(build_index(args, &shared, target, &scratch)?);
        }
        return Ok(outcomes);
    }
    let mut prepared = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let (publisher, default_layout) =
            publishers(args, &project.target_directory, target, &client, many)?;
        let probe = match &target.image.healthcheck {
            Some(_) => Some(probe::build(
                target.cargo.target.as_deref(),
                &project.target_directory.join("gantry").join("probe"),
                &project.root,
            )?),
            None => None,
        };
        prepared.push(Prepared {
            extra_files: assets::extra_files(&project.root, target)?,
            formats: sbom::formats(&target.image.sbom)?,
            base: timings::time("base", || {
                target.base.load(
                    &target.platform.oci(),
                    &scratch.path().join(i.to_string()),
                    &pull,
                )
            })?,
            probe,
            publisher,
            default_layout,
        });
    }
    let built = timings::time("compile", || image::compile_all(&project, &targets))?;
    // After the compile: a project without Cargo.lock gets one from it, and the provenance
    // records the lockfile the build used.
    let found = match targets.iter().any(|t| t.image.provenance) {
        true => timings::time("provenance facts", || {
            Found::read(&project, provenance::statement_time(created))
        })?,
        false => Found::default(),
    };
    let cache = layer_cache(&project.target_directory);

    let mut images = Vec::new();
    for ((target, prep), built) in targets.iter().zip(&prepared).zip(&built) {
        eprintln!("    Building image layers for `{}`", target.bin);
        let labels = target.image_labels();
        let (mut image, summary) = image::build(&Inputs {
            binary: &built.executable,
            bin: &target.bin,
            settings: &target.image,
            labels: &labels,
            base: &prep.base,
            created,
            extra_files: &prep.extra_files,
            probe: prep.probe.as_deref(),
            cache: Some(&cache),
        })?;
        timings::time("config", || image.digest())?;
        if !prep.formats.is_empty() {
            // Gathered once (crates, dpkg owners, runtime file hashes), rendered per format.
            let dpkg = image::cache_dir(&project.target_directory).join("dpkg");
            let sbom = timings::time("sbom", || {
                image::sbom_of(built, &summary, &prep.base, created, Some(&dpkg))
            })?;
            for format in &prep.formats {
                let _t = timings::stage(format!("sbom {}", format.name()));
                image.attach(Artifact::new(format.media_type(), sbom.render(*format)?));
            }
        }
        if target.image.provenance {
            let _t = timings::stage("provenance");
            let name = subject_name(args, target)?;
            let p =
                Provenance::of_target(target, name, image.digest()?, &prep.base, found.clone())?;
            image.attach(p.artifact(sign_key.as_ref())?);
        }
        images.push((image, summary));
    }
    // Several images into one layout: one write, the layers they share stored once.
    let mut shared_layout = Vec::new();
    if let (true, Some(dir)) = (many, &args.oci_layout) {
        let named: Vec<(&cargo_gantry::oci::Image, &str)> = images
            .iter()
            .zip(&targets)
            .map(|((image, _), t)| (image, t.tag.as_str()))
            .collect();
        layout::write_all(dir, &named)?;
        shared_layout = targets
            .iter()
            .map(|t| format!("oci:{}:{}", dir.display(), t.tag))
            .collect();
    }

    let mut outcomes = Vec::new();
    for (i, ((target, prep), (image, summary))) in
        targets.into_iter().zip(prepared).zip(images).enumerate()
    {
        let mut published = prep.publisher.publish(&image)?;
        if let Some(reference) = shared_layout.get(i) {
            published.references.insert(0, reference.clone());
        }
        for r in &published.references {
            eprintln!("       Wrote {r}");
        }
        if let Some(key) = &sign_key {
            for reference in push_refs(args, &target) {
                let signed = sign::sign_pushed(
                    &client,
                    &ImageRef::parse(&reference)?,
                    &published.digest,
                    key,
                )?;
                eprintln!("      Signed {} ({})", signed.image, signed.signatures);
            }
        }
        outcomes.push(Outcome {
            target,
            image,
            summary,
            published,
            default_layout: prep.default_layout,
            platforms: Vec::new(),
        });
    }
    Ok(outcomes)
}

/// One binary for several platforms: one image per platform, cross-compiled, in one index.
/// What every image of one `build` shares, read once.
struct Shared<'a> {
    project: &'a project::Project,
    pull: &'a PullOptions,
    client: &'a ClientOptions,
    created: u64,
    sign_key: Option<&'a sign::SigningKey>,
}

fn build_index(
    args: &ImageArgs,
    shared: &Shared<'_>,
    target: Target,
    scratch: &Path,
) -> Result<Outcome> {
    let Shared {
        project,
        pull,
        client,
        created,
        sign_key,
    } = *shared;
    if args.docker_archive.is_some() {
        return Err(Error::user(
            "a docker archive holds one platform, not a multi-platform image",
        )
        .with_hint("write it with --oci-layout or --push, or build one platform (--platform OS/ARCH)"));
    }
    let extra_files = assets::extra_files(&project.root, &target)?;
    let (publisher, default_layout) =
        publishers(args, &project.target_directory, &target, client, false)?;
    let (index, platforms) = image::build_index(&image::MultiInputs {
        project,
        target: &target,
        scratch,
        pull,
        created,
        extra_files: &extra_files,
        subject: subject_name(args, &target)?,
        sign_key,
    })?;
    let published = publisher.publish_index(&index)?;
    for r in &published.references {
        eprintln!("       Wrote {r} ({} platforms)", platforms.len());
    }
    if let Some(key) = sign_key {
        for reference in push_refs(args, &target) {
            let signed = sign::sign_pushed(
                client,
                &ImageRef::parse(&reference)?,
                &published.digest,
                key,
            )?;
            eprintln!("      Signed {} ({})", signed.image, signed.signatures);
        }
    }
    let PlatformImage { image, summary, .. } = &platforms[0];
    Ok(Outcome {
        image: image.clone(),
        summary: summary.clone(),
        target,
        published,
        default_layout,
        platforms,
    })
}

/// The provenance's subject name: the first repository pushed to, else the tag's name.
fn subject_name(args: &ImageArgs, target: &Target) -> Result<String> {
    if let Some(first) = push_refs(args, target).first() {
        return Ok(ImageRef::parse(first)?.name());
    }
    let tag = target.tag.as_str();
    Ok(match tag.rsplit_once(':') {
        Some((name, t)) if !t.contains('/') => name.to_owned(),
        _ => tag.to_owned(),
    })
}

/// Outputs that name one image cannot take several.
fn check_outputs_for_several(args: &ImageArgs, targets: &[Target]) -> Result<()> {
    let bins: Vec<String> = targets.iter().map(|t| format!("`{}`", t.bin)).collect();
    let what = if args.tag.is_some() {
        Some(("--tag", "each image is tagged `BIN:VERSION`"))
    } else if args.docker_archive.is_some() {
        Some((
            "--docker-archive",
            "use --oci-layout DIR, which holds them all, or --load",
        ))
    } else if !args.push.is_empty() {
        Some((
            "--push",
            "use --repo REGISTRY/PREFIX: each image goes to PREFIX/BIN:VERSION",
        ))
    } else {
        None
    };
    match what {
        Some((flag, hint)) => Err(Error::user(format!(
            "`{flag}` names one image, but {} binaries were selected: {}",
            targets.len(),
            bins.join(", ")
        ))
        .with_hint(hint)),
        None => Ok(()),
    }
}

/// Where `target` is pushed: every `--push REF`, and `PREFIX/BIN:VERSION` for `--repo`.
fn push_refs(args: &ImageArgs, target: &Target) -> Vec<String> {
    let mut refs = args.push.clone();
    if let Some(prefix) = &args.repo {
        refs.push(format!("{}/{}", prefix.trim_end_matches('/'), target.tag));
    }
    refs
}

/// What `build` prints on stdout: the image's name and digest, or the JSON summary.
fn report(args: &ImageArgs, out: &Outcome) {
    let Outcome {
        target,
        image,
        summary,
        published,
        default_layout,
        platforms,
    } = out;
    match args.message_format {
        MessageFormat::Json if !platforms.is_empty() => {
            let each: Vec<_> = platforms.iter().map(|p| p.summary_json()).collect();
            let summary = serde_json::json!({
                "digest": published.digest.as_str(),
                "media_type": "application/vnd.oci.image.index.v1+json",
                "tag": target.tag,
                "outputs": published.references,
                "binary": target.bin,
                "platforms": each,
            });
            println!("{summary}");
        }
        MessageFormat::Json => {
            let layers: Vec<_> = image
                .layers()
                .iter()
                .map(|l| serde_json::json!({"digest": l.digest().as_str(), "size": l.size(), "diff_id": l.diff_id().as_str()}))
                .collect();
            let summary = serde_json::json!({
                "digest": published.digest.as_str(),
                "tag": target.tag,
                "size": image.layers().iter().map(|l| l.size()).sum::<u64>(),
                "layers": layers,
                "outputs": published.references,
                "binary": target.bin,
                "linking": format!("{:?}", summary.linking).to_lowercase(),
                "libraries": summary.libraries,
                "max_glibc": summary.max_glibc,
            });
            let mut summary = summary;
            if timings::enabled() {
                let stages: Vec<_> = timings::stages()
                    .iter()
                    .map(|s| serde_json::json!({"stage": s.name, "seconds": s.seconds}))
                    .collect();
                summary["timings"] = serde_json::Value::Array(stages);
            }
            println!("{summary}");
        }
        MessageFormat::Human => {
            // After a push, the pushed `REPO@sha256:…`; otherwise the local name and digest.
            let pushed: Vec<&String> = published
                .references
                .iter()
                .filter(|r| !is_local(r))
                .collect();
            if pushed.is_empty() {
                println!("{}@{}", target.tag, published.digest);
            }
            for r in pushed {
                println!("{r}");
            }
            if let Some(dir) = default_layout {
                eprintln!(
                    "        Next: skopeo copy oci:{}:{} docker-daemon:{}  (or rerun with --load)",
                    dir.display(),
                    target.tag,
                    target.tag
                );
            }
        }
    }
}

/// The image settings typed on the command line, as a settings layer.
fn cli_layer(args: &ImageArgs) -> Result<Layer> {
    let pairs = |flag: &str, items: &[String]| -> Result<Option<BTreeMap<String, String>>> {
        if items.is_empty() {
            return Ok(None);
        }
        let mut map = BTreeMap::new();
        for item in items {
            let (k, v) = item
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    Error::user(format!("`--{flag} {item}` is not KEY=VALUE"))
                        .with_hint(format!("write it as `--{flag} NAME=value`"))
                })?;
            map.insert(k.to_owned(), v.to_owned());
        }
        Ok(Some(map))
    };
    let non_empty = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    Ok(Layer {
        base: args.base.clone(),
        tag: args.tag.clone(),
        platforms: Some(settings::split_list(&args.platforms)).filter(|p| !p.is_empty()),
        env: pairs("env", &args.env)?,
        labels: pairs("label", &args.labels)?,
        expose: (!args.expose.is_empty()).then(|| args.expose.clone()),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        extra_files: non_empty(&args.extra_files),
        tzdata: args.tzdata.then_some(true),
        healthcheck: args
            .healthcheck
            .as_deref()
            .map(Spec::from_url)
            .transpose()?,
        sbom: non_empty(&args.sbom),
        provenance: args.provenance,
        ..Layer::default()
    })
}

/// References to local outputs, in skopeo's transport syntax.
pub fn is_local(reference: &str) -> bool {
    ["oci:", "docker-archive:", "docker-daemon:"]
        .iter()
        .any(|t| reference.starts_with(t))
}

/// The destinations asked for; none → an OCI layout under `target/gantry/`.
fn publishers(
    args: &ImageArgs,
    target_dir: &Path,
    target: &Target,
    client: &ClientOptions,
    many: bool,
) -> Result<(Multi, Option<PathBuf>)> {
    let mut all: Vec<Box<dyn Publisher>> = Vec::new();
    let mut default_layout = None;
    // Several images share one layout, written once by the caller.
    if let (false, Some(dir)) = (many, &args.oci_layout) {
        all.push(Box::new(OciLayout {
            dir: dir.clone(),
            tag: target.tag.clone(),
        }));
    }
    if let Some(file) = &args.docker_archive {
        all.push(Box::new(DockerArchive {
            file: file.clone(),
            tag: target.tag.clone(),
        }));
    }
    if args.load {
        // Found now, not after the compile: a missing engine is reported before the long part.
        let engine = Engine::find()?;
        all.push(Box::new(DockerLoad::with_engine(
            target.tag.clone(),
            engine,
        )));
    }
    for reference in push_refs(args, target) {
        let options = PushOptions {
            client: client.clone(),
            ..PushOptions::default()
        };
        all.push(Box::new(Registry::new(
            ImageRef::parse(&reference)?,
            options,
        )));
    }
    if all.is_empty() && !(many && args.oci_layout.is_some()) {
        let dir = target_dir.join("gantry").join("oci").join(&target.bin);
        all.push(Box::new(OciLayout {
            dir: dir.clone(),
            tag: target.tag.clone(),
        }));
        default_layout = Some(dir);
    }
    Ok((Multi(all), default_layout))
}

fn layer_cache(target_dir: &Path) -> LayerCache {
    LayerCache::new(image::cache_dir(target_dir))
}

pub fn source_date_epoch() -> Result<u64> {
    match std::env::var(env::SOURCE_DATE_EPOCH) {
        Err(_) => Ok(0),
        Ok(v) if v.trim().is_empty() => Ok(0),
        Ok(v) => v.trim().parse().map_err(|_| {
            Error::user(format!(
                "`{}={v}` is not a number of seconds",
                env::SOURCE_DATE_EPOCH
            ))
            .with_hint("set it to e.g. `$(git log -1 --format=%ct)`, or unset it")
        }),
    }
}
