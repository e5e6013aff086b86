use std::fs;

use oci_spec::image::MediaType;

use super::*;
use crate::oci::testutil::{files, image};
use crate::oci::{Digest, Platform, fsck, layout};

fn names(archive: &Path) -> Vec<String> {
    let mut tar = tar::Archive::new(File::open(archive).unwrap());
    tar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn archive_is_deterministic_and_lists_blobs_then_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image("a", "linux/amd64");
    let (one, two) = (tmp.path().join("one.tar"), tmp.path().join("two.tar"));
    let rendered = write(&one, &img, "app:1").unwrap();
    write(&two, &image("a", "linux/amd64"), "app:1").unwrap();
    assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());

    let blob = |d: &Digest| d.blob_path();
    let mut expected = vec!["blobs/".to_owned(), "blobs/sha256/".to_owned()];
    expected.extend(img.layers().iter().map(|l| blob(l.digest())));
    expected.extend([
        blob(&rendered.config_digest),
        blob(&rendered.manifest_digest),
    ]);
    expected.extend(["index.json", "manifest.json", "oci-layout"].map(String::from));
    assert_eq!(names(&one), expected);
}

#[test]
fn manifest_json_tags_the_image_and_points_into_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.tar");
    let img = image("a", "linux/amd64");
    let rendered = write(&out, &img, "app:1").unwrap();
    let mut tar = tar::Archive::new(File::open(&out).unwrap());
    let mut entry = tar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().ends_with("manifest.json"))
        .unwrap();
    let mut text = String::new();
    entry.read_to_string(&mut text).unwrap();
    let layers: Vec<String> = img
        .layers()
        .iter()
        .map(|l| format!("\"{}\"", l.digest().blob_path()))
        .collect();
    assert_eq!(
        text,
        format!(
            r#"[{{"Config":"{}","Layers":[{}],"RepoTags":["app:1"]}}]"#,
            rendered.config_digest.blob_path(),
            layers.join(",")
        )
    );
}

#[test]
fn the_archive_unpacked_is_a_valid_oci_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.tar");
    let img = image("a", "linux/amd64");
    let rendered = write(&out, &img, "app:1").unwrap();
    let dir = tmp.path().join("unpacked");
    tar::Archive::new(File::open(&out).unwrap())
        .unpack(&dir)
        .unwrap();
    assert!(files(&dir).contains(&"oci-layout".to_owned()));
    fsck::check(&dir).unwrap().into_result(&dir).unwrap();
    let back = layout::read(&dir, Some("app:1"), &Platform::linux_amd64()).unwrap();
    assert_eq!(back.digest().unwrap(), rendered.manifest_digest);
    let index = fs::read_to_string(dir.join("index.json")).unwrap();
    assert!(
        index.contains(r#""io.containerd.image.name":"docker.io/library/app:1""#),
        "{index}"
    );
}

#[test]
fn reading_a_written_archive_gives_back_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.tar");
    let img = image("a", "linux/amd64");
    let rendered = write(&out, &img, "app:1").unwrap();
    for tag in [None, Some("app:1"), Some("docker.io/library/app:1")] {
        let back = read(&out, tag).unwrap();
        assert_eq!(
            back.digest().unwrap(),
            rendered.manifest_digest,
            "tag {tag:?}"
        );
    }
    let err = read(&out, Some("app:2")).unwrap_err();
    assert_eq!(err.hint(), Some("tags in this archive: `app:1`"));
}

/// `docker save` before docker 25: uncompressed `<id>/layer.tar`, config `<hex>.json`, and a
/// symlink when two images share a layer.
#[test]
fn an_old_style_docker_save_archive_is_read_as_a_base_image() {
    let tmp = tempfile::tempdir().unwrap();
    let mut inner = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Regular, 0o644, 5, 0);
    inner.append_data(&mut h, "hello", &b"hello"[..]).unwrap();
    let layer_tar = inner.into_inner().unwrap();
    let diff_id = Digest::of(&layer_tar);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/hello"],"Hostname":""}},"container_config":{{}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}","{diff_id}"]}}}}"#
    );
    let config_name = format!("{}.json", Digest::of(config.as_bytes()).hex());
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["old:latest"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}}]"#
    );
    let mut outer = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("aaa/layer.tar", &layer_tar[..]),
        (&config_name, config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64, 0);
        outer.append_data(&mut h, name, data).unwrap();
    }
    let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
    outer
        .append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
        .unwrap();
    let archive = tmp.path().join("old.tar");
    fs::write(&archive, outer.into_inner().unwrap()).unwrap();

    let img = read(&archive, Some("old")).unwrap();
    assert_eq!(img.layers().len(), 2);
    for layer in img.layers() {
        assert_eq!(*layer.media_type(), MediaType::ImageLayer);
        assert_eq!(*layer.digest(), diff_id);
        let mut bytes = Vec::new();
        layer.open().unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, layer_tar);
    }
    assert_eq!(
        img.config()
            .config()
            .as_ref()
            .unwrap()
            .cmd()
            .as_ref()
            .unwrap(),
        &["/hello"]
    );
    // Re-published as a layout it checks out.
    let dir = tmp.path().join("layout");
    layout::write(&dir, &img, "t").unwrap();
    fsck::check(&dir).unwrap().into_result(&dir).unwrap();
}

#[test]
fn only_a_tar_file_is_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("Cargo.toml");
    fs::write(&precious, "[package]\n").unwrap();
    let err = write(&precious, &image("a", "linux/amd64"), "t").unwrap_err();
    assert!(
        err.message()
            .ends_with("it exists and is not a tar archive"),
        "{}",
        err.message()
    );
    assert_eq!(fs::read_to_string(&precious).unwrap(), "[package]\n");
    assert!(write(tmp.path(), &image("a", "linux/amd64"), "t").is_err());

    let out = tmp.path().join("x.tar");
    write(&out, &image("a", "linux/amd64"), "t").unwrap();
    let second = write(&out, &image("b", "linux/amd64"), "t").unwrap();
    assert_eq!(
        read(&out, None).unwrap().digest().unwrap(),
        second.manifest_digest
    );
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        2,
        "no temp files left behind"
    );
}

#[test]
fn docker_name_normalizes_like_docker() {
    assert_eq!(docker_name("app"), "docker.io/library/app:latest");
    assert_eq!(docker_name("app:1"), "docker.io/library/app:1");
    assert_eq!(docker_name("me/app"), "docker.io/me/app:latest");
    assert_eq!(docker_name("localhost/app"), "localhost/app:latest");
    assert_eq!(docker_name("localhost:5000/a/b:2"), "localhost:5000/a/b:2");
    assert_eq!(docker_name("ghcr.io/me/app:v1"), "ghcr.io/me/app:v1");
}

#[test]
fn a_base_layer_whose_bytes_changed_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    let img = image("a", "linux/amd64");
    layout::write(&dir, &img, "t").unwrap();
    let base = layout::read(&dir, None, &Platform::linux_amd64()).unwrap();
    // Same size, different bytes: only hashing can tell.
    let victim = dir.join(img.layers()[0].digest().blob_path());
    let mut bytes = fs::read(&victim).unwrap();
    bytes[20] ^= 0xff;
    fs::write(&victim, &bytes).unwrap();

    let out = tmp.path().join("x.tar");
    let err = write(&out, &base, "t").unwrap_err();
    let expected = format!(
        "layer `{}` has the wrong content: its bytes hash to `{}`",
        img.layers()[0].digest(),
        Digest::of(&bytes)
    );
    assert_eq!(err.message(), expected);
    assert!(!out.exists(), "no archive is left behind");
    let err = layout::write(&tmp.path().join("copy"), &base, "t").unwrap_err();
    assert!(
        err.message().contains("has the wrong content"),
        "{}",
        err.message()
    );
}
