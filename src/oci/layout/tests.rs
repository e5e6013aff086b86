use super::*;
use crate::oci::Platform;
use crate::oci::blob::write_bytes;
use crate::oci::testutil::{files, image};

#[test]
fn written_layout_has_marker_index_and_content_addressed_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    let img = image("a", "linux/amd64");
    let rendered = write(&dest, &img, "latest").unwrap();

    assert_eq!(fs::read(dest.join("oci-layout")).unwrap(), OCI_LAYOUT);
    let mut expected = vec!["index.json".to_owned(), "oci-layout".to_owned()];
    let mut digests: Vec<_> = img.layers().iter().map(|l| l.digest().clone()).collect();
    digests.extend([
        rendered.config_digest.clone(),
        rendered.manifest_digest.clone(),
    ]);
    expected.extend(digests.iter().map(|d| d.blob_path()));
    expected.sort();
    assert_eq!(files(&dest), expected);
    for d in &digests {
        assert_eq!(
            crate::oci::Digest::of(&fs::read(dest.join(d.blob_path())).unwrap()),
            *d
        );
    }

    let index: ImageIndex =
        serde_json::from_slice(&fs::read(dest.join("index.json")).unwrap()).unwrap();
    let [descriptor] = index.manifests().as_slice() else {
        panic!("one manifest expected")
    };
    assert_eq!(
        descriptor.digest().to_string(),
        rendered.manifest_digest.to_string()
    );
    assert_eq!(
        descriptor.annotations().as_ref().unwrap()[REF_NAME],
        "latest"
    );
    // Nothing but the layout itself is left next to it.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn reading_a_written_layout_gives_back_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image("a", "linux/amd64");
    // `tmp` itself exists and is not a layout: writing there must be refused.
    let err = write(tmp.path(), &img, "v1").unwrap_err();
    assert!(
        err.message().contains("refusing to replace"),
        "{}",
        err.message()
    );

    let dest = tmp.path().join("layout");
    let rendered = write(&dest, &img, "v1").unwrap();
    let amd64 = Platform::linux_amd64();
    for tag in [Some("v1"), None] {
        let back = read(&dest, tag, &amd64).unwrap();
        assert_eq!(back.render().unwrap().manifest, rendered.manifest);
        assert_eq!(
            back.layers()[1].source().path(),
            dest.join(img.layers()[1].digest().blob_path())
        );
    }
    let err = read(&dest, Some("v2"), &amd64).unwrap_err();
    assert!(
        err.message().contains("no image named `v2`"),
        "{}",
        err.message()
    );
    assert_eq!(err.hint(), Some("images in this layout: `v1`"));
}

#[test]
fn an_existing_layout_is_replaced_but_nothing_else_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("layout");
    write(&dest, &image("old", "linux/amd64"), "t").unwrap();
    let new = write(&dest, &image("new", "linux/amd64"), "t").unwrap();
    let index = fs::read_to_string(dest.join("index.json")).unwrap();
    assert!(index.contains(new.manifest_digest.as_str()));
    assert_eq!(
        files(&dest).len(),
        2 + 4,
        "old blobs must be gone: {:?}",
        files(&dest)
    );
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no temp dirs left behind"
    );

    let precious = tmp.path().join("src");
    fs::create_dir(&precious).unwrap();
    fs::write(precious.join("main.rs"), "fn main() {}").unwrap();
    let err = write(&precious, &image("x", "linux/amd64"), "t").unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "refusing to replace `{}`: it exists and is not an OCI image layout",
            precious.display()
        )
    );
    assert!(err.hint().is_some());
    assert_eq!(
        fs::read_to_string(precious.join("main.rs")).unwrap(),
        "fn main() {}"
    );

    let file = tmp.path().join("file");
    fs::write(&file, "keep").unwrap();
    assert!(write(&file, &image("x", "linux/amd64"), "t").is_err());
    assert_eq!(fs::read_to_string(&file).unwrap(), "keep");
}

#[test]
fn a_multi_platform_index_is_resolved_to_the_requested_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let (amd, arm) = (tmp.path().join("amd"), tmp.path().join("arm"));
    let amd_rendered = write(&amd, &image("amd", "linux/amd64"), "x").unwrap();
    let arm_rendered = write(&arm, &image("arm", "linux/arm64/v8"), "x").unwrap();
    for name in files(&arm).iter().filter(|f| f.starts_with("blobs/")) {
        fs::copy(arm.join(name), amd.join(name)).unwrap();
    }
    // A per-platform index, as a nested blob, named by the top-level index.json.
    let mut entries = Vec::new();
    for (rendered, platform) in [
        (&arm_rendered, "linux/arm64/v8"),
        (&amd_rendered, "linux/amd64"),
    ] {
        let p = Platform::parse(platform).unwrap();
        let json = format!(
            r#"{{"architecture":"{}","os":"linux"{}}}"#,
            p.architecture,
            p.variant
                .map(|v| format!(r#","variant":"{v}""#))
                .unwrap_or_default()
        );
        let mut d = rendered.manifest_descriptor();
        d.set_platform(Some(serde_json::from_str(&json).unwrap()));
        entries.push(d);
    }
    let mut nested = ImageIndex::default();
    nested
        .set_media_type(Some(MediaType::ImageIndex))
        .set_manifests(entries);
    let nested = canonical_json(&nested).unwrap();
    let digest = write_bytes(&amd.join("blobs/sha256"), &nested).unwrap();
    let mut top =
        oci_spec::image::Descriptor::new(MediaType::ImageIndex, nested.len() as u64, &digest);
    top.set_annotations(Some(HashMap::from([(
        REF_NAME.to_owned(),
        "multi".to_owned(),
    )])));
    let mut index: ImageIndex =
        serde_json::from_slice(&fs::read(amd.join("index.json")).unwrap()).unwrap();
    let mut manifests = index.manifests().clone();
    manifests.push(top);
    index.set_manifests(manifests);
    fs::write(amd.join("index.json"), canonical_json(&index).unwrap()).unwrap();

    let pick = |p: &str| read(&amd, Some("multi"), &Platform::parse(p).unwrap());
    assert_eq!(
        pick("linux/amd64").unwrap().digest().unwrap(),
        amd_rendered.manifest_digest
    );
    assert_eq!(
        pick("linux/arm64").unwrap().digest().unwrap(),
        arm_rendered.manifest_digest
    );
    let err = pick("linux/s390x").unwrap_err();
    assert!(
        err.message().starts_with("no `linux/s390x` image in"),
        "{}",
        err.message()
    );
    assert_eq!(
        err.hint(),
        Some("available platforms: linux/amd64, linux/arm64/v8")
    );
    // Two images now: without a name the choice is ambiguous.
    let err = read(&amd, None, &Platform::linux_amd64()).unwrap_err();
    assert!(
        err.message().contains("holds 2 images"),
        "{}",
        err.message()
    );
}

#[test]
fn reading_something_that_is_not_a_layout_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let err = read(tmp.path(), None, &Platform::linux_amd64()).unwrap_err();
    assert!(
        err.message()
            .ends_with("is not an OCI image layout: it has no `oci-layout` file")
    );
}

#[test]
fn a_tag_with_spaces_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = write(&tmp.path().join("l"), &image("a", "linux/amd64"), "my tag").unwrap_err();
    assert_eq!(err.message(), "invalid image tag `my tag`");
    assert!(!tmp.path().join("l").exists());
}

#[test]
fn several_images_share_one_layout_and_their_common_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    let a = image("a", "linux/amd64");
    let b = image("b", "linux/amd64");
    let mut both = image("a", "linux/amd64");
    for layer in b.layers() {
        both.push_layer(layer.clone(), "b");
    }
    let rendered = write_all(&dest, &[(&a, "a:1"), (&both, "both:1")]).unwrap();
    assert_eq!(rendered.len(), 2);
    let index: ImageIndex =
        serde_json::from_slice(&fs::read(dest.join("index.json")).unwrap()).unwrap();
    let names: Vec<String> = index
        .manifests()
        .iter()
        .map(|d| d.annotations().as_ref().unwrap()[REF_NAME].clone())
        .collect();
    assert_eq!(names, ["a:1", "both:1"]);
    // a's layers are both images' first layers: stored once.
    let layers: BTreeSet<_> = both.layers().iter().map(|l| l.digest().clone()).collect();
    let blobs = fs::read_dir(dest.join("blobs/sha256")).unwrap().count();
    assert_eq!(
        blobs,
        layers.len() + 4,
        "two configs and two manifests besides the layers"
    );
    assert!(crate::oci::fsck::check(&dest).is_ok());
    // Read back by tag, each is the image that was written.
    let read = read(&dest, Some("both:1"), &Platform::linux_amd64()).unwrap();
    assert_eq!(read.digest().unwrap(), rendered[1].manifest_digest);
}
