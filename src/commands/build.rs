use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_gantry::engine::Engine;
use cargo_gantry::image::{self, Inputs};
use cargo_gantry::oci::layer::LayerCache;
use cargo_gantry::publish::{DockerArchive, DockerLoad, Multi, OciLayout, Publisher, Registry};
use cargo_gantry::registry::{ClientOptions, ImageRef, PullOptions, PushOptions};
use cargo_gantry::resolve::{self, Request, Target};
use cargo_gantry::settings::{Layer, Profile, env};
use cargo_gantry::{Error, Result, assets, project, sign, timings};

use crate::cli::{ImageArgs, MessageFormat};

/// One built and published image.
pub struct Outcome {
    pub target: Target,
    pub image: cargo_gantry::oci::Image,
    pub summary: image::Summary,
    pub published: cargo_gantry::publish::Published,
    /// The default OCI layout, when no output was named.
    pub default_layout: Option<PathBuf>,
}

pub fn run(args: &ImageArgs) -> Result<()> {
    timings::init(args.timings.on);
    let out = timings::time("total", || build(args))?;
    report(args, &out);
    Ok(())
}

/// Resolve, compile, assemble and publish; prints progress on stderr only.
pub fn build(args: &ImageArgs) -> Result<Outcome> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    if args.build.workspace || args.build.targets_selected() {
        return Err(
            Error::user("`cargo gantry build` puts one binary in an image").with_hint(
                "drop --workspace/--all-targets/--tests/--benches/--examples; pick it with --bin",
            ),
        );
    }
    let project = timings::time("analyze", || {
        project::analyze(&cwd, args.manifest_path.as_deref())
    })?;
    let _resolve = timings::stage("resolve");
    let target = resolve::resolve(
        &project,
        &Request {
            layer: cli_layer(args)?.or(Layer::from_process_env()?),
            cargo: super::cargo_build(&args.build, Profile::Release),
            profile_given: super::profile_given(&args.build),
        },
    )?;
    drop(_resolve);
    if let Some(note) = assets::unshipped_note(&project.root, &target) {
        eprintln!("{note}");
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
    // Everything that can be wrong in the input is checked (and the base pulled) before the
    // compile, which is the long part.
    let extra_files = assets::extra_files(&project.root, &target)?;
    let created = source_date_epoch()?;
    let (publisher, default_layout) =
        publishers(args, &project.target_directory, &target, &client)?;
    // The key is read (and refused if unusable) before the compile, like every other input.
    let sign_key = args
        .sign_key
        .as_deref()
        .map(|k| sign::signing_key(Some(k), None))
        .transpose()?;
    let base = timings::time("base", || {
        target
            .base
            .load(&target.platform.oci(), scratch.path(), &pull)
    })?;
    let built = timings::time("compile", || image::compile(&project, &target))?;
    eprintln!("    Building image layers for `{}`", target.bin);
    let labels = target.image_labels();
    let (image, summary) = image::build(&Inputs {
        binary: &built.executable,
        bin: &target.bin,
        settings: &target.image,
        labels: &labels,
        base: &base,
        created,
        extra_files: &extra_files,
        cache: Some(&layer_cache(&project.target_directory)),
    })?;

    timings::time("config", || image.digest())?;
    let published = publisher.publish(&image)?;
    for r in &published.references {
        eprintln!("       Wrote {r}");
    }
    if let Some(key) = &sign_key {
        for reference in &args.push {
            let signed = sign::sign_pushed(
                &client,
                &ImageRef::parse(reference)?,
                &published.digest,
                key,
            )?;
            eprintln!("      Signed {} ({})", signed.image, signed.signatures);
        }
    }
    Ok(Outcome {
        target,
        image,
        summary,
        published,
        default_layout,
    })
}

/// What `build` prints on stdout: the image's name and digest, or the JSON summary.
fn report(args: &ImageArgs, out: &Outcome) {
    let Outcome {
        target,
        image,
        summary,
        published,
        default_layout,
    } = out;
    match args.message_format {
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
        env: pairs("env", &args.env)?,
        labels: pairs("label", &args.labels)?,
        expose: (!args.expose.is_empty()).then(|| args.expose.clone()),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        extra_files: non_empty(&args.extra_files),
        tzdata: args.tzdata.then_some(true),
        ..Layer::default()
    })
}

/// References to local outputs, in skopeo's transport syntax.
fn is_local(reference: &str) -> bool {
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
) -> Result<(Multi, Option<PathBuf>)> {
    let mut all: Vec<Box<dyn Publisher>> = Vec::new();
    let mut default_layout = None;
    if let Some(dir) = &args.oci_layout {
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
    for reference in &args.push {
        let options = PushOptions {
            client: client.clone(),
            ..PushOptions::default()
        };
        all.push(Box::new(Registry::new(
            ImageRef::parse(reference)?,
            options,
        )));
    }
    if all.is_empty() {
        let dir = target_dir.join("gantry").join("oci").join(&target.bin);
        all.push(Box::new(OciLayout {
            dir: dir.clone(),
            tag: target.tag.clone(),
        }));
        default_layout = Some(dir);
    }
    Ok((Multi(all), default_layout))
}

/// Layers that do not change with an edit, kept between builds under the target dir.
fn layer_cache(target_dir: &Path) -> LayerCache {
    LayerCache::new(target_dir.join("gantry").join("cache"))
}

fn source_date_epoch() -> Result<u64> {
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
