use super::*;
use crate::oci::layout;
use crate::oci::testutil::image;
use crate::oci::{BlobSource, Image, Layer, Platform};

fn written(img: &Image) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    layout::write(&dir, img, "t").unwrap();
    (tmp, dir)
}

#[test]
fn a_freshly_written_layout_is_clean() {
    let (_tmp, dir) = written(&image("a", "linux/amd64"));
    let report = check(&dir).unwrap();
    assert_eq!(report.problems, vec![]);
    assert_eq!(report.blobs, 4, "two layers, config, manifest");
    assert!(report.unverified.is_empty());
    report.into_result(&dir).unwrap();
}

#[test]
fn flipping_one_byte_of_a_layer_is_noticed_and_names_the_blob() {
    let img = image("a", "linux/amd64");
    let (_tmp, dir) = written(&img);
    let victim = img.layers()[1].digest();
    let path = dir.join(victim.blob_path());
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&path, &bytes).unwrap();

    let report = check(&dir).unwrap();
    let actual = Digest::of(&bytes);
    assert_eq!(
        report.problems,
        vec![Problem {
            blob: Some(victim.clone()),
            message: format!("content hashes to `{actual}`")
        }]
    );
    let err = report.into_result(&dir).unwrap_err();
    assert!(
        err.render().contains(&format!("blob `{victim}`")),
        "{}",
        err.render()
    );
}

#[test]
fn a_missing_blob_is_reported() {
    let img = image("a", "linux/amd64");
    let (_tmp, dir) = written(&img);
    fs::remove_file(dir.join(img.layers()[0].digest().blob_path())).unwrap();
    let report = check(&dir).unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(
        report.problems[0].to_string(),
        format!(
            "blob `{}`: is referenced but missing",
            img.layers()[0].digest()
        )
    );
}

#[test]
fn a_diff_id_that_does_not_match_the_uncompressed_layer_is_reported() {
    let good = image("a", "linux/amd64");
    let real = &good.layers()[0];
    let wrong = Digest::of(b"not the tar");
    let source = BlobSource::clone(real.source());
    let lying = Layer::from_blob(
        real.digest().clone(),
        real.size(),
        wrong.clone(),
        real.media_type().clone(),
        source,
    );
    let mut img = Image::new(&Platform::linux_amd64());
    img.push_layer(lying, "lies");
    let (_tmp, dir) = written(&img);

    let report = check(&dir).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!(problem.blob.as_ref(), Some(real.digest()));
    assert_eq!(
        problem.message,
        format!(
            "uncompressed content hashes to `{}`, but the config says `{wrong}`",
            real.diff_id()
        )
    );
}

#[test]
fn a_stray_file_in_blobs_is_reported() {
    let (_tmp, dir) = written(&image("a", "linux/amd64"));
    fs::write(dir.join("blobs/sha256/notes.txt"), "hi").unwrap();
    let report = check(&dir).unwrap();
    assert_eq!(report.problems.len(), 1);
    assert!(
        report.problems[0]
            .message
            .contains("notes.txt` is not named by a sha256 digest")
    );
}
