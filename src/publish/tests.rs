use std::cell::RefCell;

use super::*;
use crate::error::Error;
use crate::oci::testutil::image;
use crate::oci::{Platform, archive, fsck, layout};

#[test]
fn oci_layout_and_docker_archive_report_where_they_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image("a", "linux/amd64");
    let dir = tmp.path().join("layout");
    let published = OciLayout {
        dir: dir.clone(),
        tag: "v1".into(),
    }
    .publish(&img)
    .unwrap();
    assert_eq!(published.digest, img.digest().unwrap());
    assert_eq!(
        published.references,
        vec![format!("oci:{}:v1", dir.display())]
    );
    fsck::check(&dir).unwrap().into_result(&dir).unwrap();

    let file = tmp.path().join("img.tar");
    let published = DockerArchive {
        file: file.clone(),
        tag: "app:1".into(),
    }
    .publish(&img)
    .unwrap();
    assert_eq!(
        published.references,
        vec![format!("docker-archive:{}:app:1", file.display())]
    );
    assert_eq!(
        archive::read(&file, None).unwrap().digest().unwrap(),
        published.digest
    );
}

#[test]
fn multi_publishes_everywhere_with_one_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image("a", "linux/amd64");
    let (dir, file) = (tmp.path().join("l"), tmp.path().join("a.tar"));
    let multi = Multi(vec![
        Box::new(OciLayout {
            dir: dir.clone(),
            tag: "t".into(),
        }),
        Box::new(DockerArchive {
            file: file.clone(),
            tag: "t".into(),
        }),
        Box::new(DigestOnly),
    ]);
    let published = multi.publish(&img).unwrap();
    assert_eq!(published.digest, img.digest().unwrap());
    assert_eq!(published.references.len(), 2);
    let from_layout = layout::read(&dir, Some("t"), &Platform::linux_amd64()).unwrap();
    assert_eq!(from_layout.digest().unwrap(), published.digest);
    assert_eq!(
        archive::read(&file, Some("t")).unwrap().digest().unwrap(),
        published.digest
    );
    assert_eq!(
        published.to_string(),
        format!("{} {}", published.digest, published.references.join(" "))
    );
}

struct Recorder<'a>(&'a RefCell<Vec<&'static str>>, &'static str, bool);

impl Publisher for Recorder<'_> {
    fn publish(&self, image: &Image) -> Result<Published> {
        self.0.borrow_mut().push(self.1);
        if self.2 {
            return Err(Error::failure(format!("{} failed", self.1)));
        }
        Ok(Published {
            digest: image.digest()?,
            references: vec![self.1.to_owned()],
        })
    }
}

#[test]
fn multi_stops_at_the_first_failure() {
    let calls = RefCell::new(Vec::new());
    // `Multi` owns boxed publishers; leak the recorder's borrow for the test's lifetime.
    let calls: &'static RefCell<Vec<&'static str>> = Box::leak(Box::new(calls));
    let multi = Multi(vec![
        Box::new(Recorder(calls, "first", false)),
        Box::new(Recorder(calls, "second", true)),
        Box::new(Recorder(calls, "third", false)),
    ]);
    let err = multi.publish(&image("a", "linux/amd64")).unwrap_err();
    assert_eq!(err.message(), "second failed");
    assert_eq!(*calls.borrow(), vec!["first", "second"]);
}
