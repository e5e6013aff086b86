//! End to end for the OCI layer: a tiny image around a static C program, published to an OCI
//! layout and a docker archive, then checked by the real consumers: `skopeo`, `umoci`, `docker`.
//!
//! A missing tool fails the test with a reason; set `GANTRY_E2E=skip` to skip instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_gantry::engine::Engine;
use cargo_gantry::oci::{Image, LayerBuilder, Platform, archive, fsck, layout};
use cargo_gantry::publish::{DockerArchive, DockerLoad, OciLayout, Publisher};

use crate::support::tools::{docker, run, tool};

const GREETING: &str = "hello from gantry";

/// A statically linked program printing the greeting and its uid, built into `dir`.
fn static_program(dir: &Path) -> Option<PathBuf> {
    let cc = tool("/usr/bin/cc")?;
    let source = dir.join("hello.c");
    let program = format!(
        "#include <stdio.h>\n#include <unistd.h>\nint main(void) {{ printf(\"{GREETING} uid=%d\\n\", (int)getuid()); return 0; }}\n"
    );
    std::fs::write(&source, program).unwrap();
    let binary = dir.join("hello");
    run(Command::new(cc)
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(&source));
    Some(binary)
}

fn build_image(binary: &Path) -> Image {
    let mut files = LayerBuilder::new(0);
    files
        .dir("/home/nonroot", 0o755)
        .chown("/home/nonroot", 65532, 65532)
        .file("/etc/motd", 0o644, GREETING.as_bytes());
    let mut app = LayerBuilder::new(0);
    app.file("/usr/local/bin/hello", 0o755, binary);
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(files.finish().unwrap(), "gantry: runtime files");
    image.push_layer(app.finish().unwrap(), "gantry: hello");
    image
        .runtime()
        .set_entrypoint(Some(vec!["/usr/local/bin/hello".into()]))
        .set_user(Some("65532:65532".into()))
        .set_working_dir(Some("/home/nonroot".into()))
        .set_env(Some(vec!["PATH=/usr/local/bin".into()]));
    image.annotate("org.opencontainers.image.title", "hello");
    image
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    binary: PathBuf,
    image: Image,
}

fn fixture() -> Option<Fixture> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let binary = static_program(&dir)?;
    let image = build_image(&binary);
    Some(Fixture {
        _tmp: tmp,
        dir,
        binary,
        image,
    })
}

#[test]
fn oci_layout_is_accepted_by_skopeo_and_umoci() {
    let (Some(skopeo), Some(umoci), Some(f)) =
        (tool("/usr/bin/skopeo"), tool("/usr/bin/umoci"), fixture())
    else {
        return;
    };
    let dir = f.dir.join("layout");
    let published = OciLayout {
        dir: dir.clone(),
        tag: "v1".into(),
    }
    .publish(&f.image)
    .unwrap();
    fsck::check(&dir).unwrap().into_result(&dir).unwrap();

    let inspect = run(Command::new(&skopeo)
        .arg("inspect")
        .arg(format!("oci:{}:v1", dir.display())));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Digest"], published.digest.as_str());
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    let layers: Vec<String> = f
        .image
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect();
    assert_eq!(inspect["Layers"], serde_json::json!(layers));
    assert_eq!(inspect["Env"], serde_json::json!(["PATH=/usr/local/bin"]));

    let bundle = f.dir.join("bundle");
    let image_arg = format!("{}:v1", dir.display());
    run(Command::new(&umoci)
        .args(["unpack", "--rootless", "--image", &image_arg])
        .arg(&bundle));
    let unpacked = bundle.join("rootfs/usr/local/bin/hello");
    assert_eq!(
        std::fs::read(&unpacked).unwrap(),
        std::fs::read(&f.binary).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/motd")).unwrap(),
        GREETING
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/usr/local/bin/hello"])
    );
    assert_eq!(config["process"]["cwd"], "/home/nonroot");
    // The unpacked program is the one we built and still runs.
    assert!(run(&mut Command::new(&unpacked)).starts_with(GREETING));
}

#[test]
fn docker_archive_is_an_oci_archive_too_and_docker_runs_it() {
    let (Some(skopeo), Some(docker), Some(f)) = (tool("/usr/bin/skopeo"), docker(), fixture())
    else {
        return;
    };
    let tag = "gantry-e2e-archive:1";
    let file = f.dir.join("image.tar");
    let published = DockerArchive {
        file: file.clone(),
        tag: tag.into(),
    }
    .publish(&f.image)
    .unwrap();

    // The same tar read as an OCI archive yields our manifest, byte for byte.
    let oci = run(Command::new(&skopeo)
        .arg("inspect")
        .arg(format!("oci-archive:{}:{tag}", file.display())));
    let oci: serde_json::Value = serde_json::from_str(&oci).unwrap();
    assert_eq!(oci["Digest"], published.digest.as_str());
    let docker_archive = run(Command::new(&skopeo)
        .arg("inspect")
        .arg(format!("docker-archive:{}", file.display())));
    let docker_archive: serde_json::Value = serde_json::from_str(&docker_archive).unwrap();
    assert_eq!(
        docker_archive["RepoTags"],
        serde_json::json!([]),
        "skopeo lists remote tags only"
    );
    assert_eq!(docker_archive["Layers"].as_array().unwrap().len(), 2);

    let loaded = run(Command::new(&docker).arg("load").arg("-i").arg(&file));
    assert!(loaded.contains(&format!("Loaded image: {tag}")), "{loaded}");
    let output = run(Command::new(&docker).args(["run", "--rm", tag]));
    let _ = Command::new(&docker).args(["rmi", "-f", tag]).output();
    assert_eq!(output, format!("{GREETING} uid=65532\n"));
}

#[test]
fn docker_load_publisher_puts_a_runnable_image_in_the_daemon() {
    let (Some(docker), Some(f)) = (docker(), fixture()) else {
        return;
    };
    let tag = "gantry-e2e-load:1";
    let published = DockerLoad::with_engine(tag, Engine::at(&docker))
        .publish(&f.image)
        .unwrap();
    assert_eq!(published.references, vec![format!("docker-daemon:{tag}")]);
    let output = run(Command::new(&docker).args(["run", "--rm", tag]));
    let config_id =
        run(Command::new(&docker).args(["image", "inspect", "--format", "{{.Id}}", tag]));
    let _ = Command::new(&docker).args(["rmi", "-f", tag]).output();
    assert_eq!(output, format!("{GREETING} uid=65532\n"));
    // Docker names an image by its config digest: ours, unchanged by the load.
    assert_eq!(
        config_id.trim(),
        f.image.render().unwrap().config_digest.as_str()
    );
}

#[test]
fn rebuilding_from_the_same_binary_gives_identical_bytes() {
    let Some(f) = fixture() else { return };
    let again = build_image(&f.binary);
    assert_eq!(again.digest().unwrap(), f.image.digest().unwrap());
    let (one, two) = (f.dir.join("one.tar"), f.dir.join("two.tar"));
    archive::write(&one, &f.image, "t").unwrap();
    archive::write(&two, &again, "t").unwrap();
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());

    // Read back as base images, both formats give our config and layers. (Manifest annotations
    // describe the base image, not what is built on it, so reading drops them.)
    let dir = f.dir.join("layout");
    layout::write(&dir, &again, "t").unwrap();
    let from_layout = layout::read(&dir, Some("t"), &Platform::linux_amd64()).unwrap();
    let from_archive = archive::read(&one, Some("t")).unwrap();
    let expected = f.image.render().unwrap();
    let layers = |image: &Image| -> Vec<String> {
        image
            .layers()
            .iter()
            .map(|l| format!("{} {}", l.digest(), l.diff_id()))
            .collect()
    };
    for back in [from_layout, from_archive] {
        assert_eq!(back.render().unwrap().config, expected.config);
        assert_eq!(layers(&back), layers(&f.image));
        assert!(back.annotations().is_empty());
    }
}

/// `docker save` of this daemon's version (old style before docker 25: uncompressed
/// `<id>/layer.tar`) read back as a base image, extended, and published again.
#[test]
fn docker_save_output_is_usable_as_a_base_image() {
    let (Some(skopeo), Some(docker), Some(f)) = (tool("/usr/bin/skopeo"), docker(), fixture())
    else {
        return;
    };
    let tag = "gantry-e2e-save:1";
    DockerLoad::with_engine(tag, Engine::at(&docker))
        .publish(&f.image)
        .unwrap();
    let saved = f.dir.join("saved.tar");
    run(Command::new(&docker)
        .args(["save", "-o"])
        .arg(&saved)
        .arg(tag));
    let _ = Command::new(&docker).args(["rmi", "-f", tag]).output();

    let mut base = archive::read(&saved, Some(tag)).unwrap();
    let diff_ids = |image: &Image| -> Vec<String> {
        image
            .layers()
            .iter()
            .map(|l| l.diff_id().to_string())
            .collect()
    };
    assert_eq!(diff_ids(&base), diff_ids(&f.image));
    let entrypoint = base.config().config().clone().unwrap().entrypoint().clone();
    assert_eq!(entrypoint, Some(vec!["/usr/local/bin/hello".to_owned()]));

    let mut extra = LayerBuilder::new(0);
    extra.file("/etc/extra", 0o644, b"on top".as_slice());
    base.push_layer(extra.finish().unwrap(), "gantry: extra");
    let dir = f.dir.join("derived");
    let published = OciLayout {
        dir: dir.clone(),
        tag: "d".into(),
    }
    .publish(&base)
    .unwrap();
    fsck::check(&dir).unwrap().into_result(&dir).unwrap();
    let inspect = run(Command::new(&skopeo)
        .arg("inspect")
        .arg(format!("oci:{}:d", dir.display())));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Digest"], published.digest.as_str());
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3);
}
