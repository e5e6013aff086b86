use std::io::Read;

use super::*;

fn blob_bytes(layer: &Layer) -> Vec<u8> {
    let mut out = Vec::new();
    layer.open().unwrap().read_to_end(&mut out).unwrap();
    out
}

fn untar(layer: &Layer) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(blob_bytes(layer).as_slice())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// (path, mode, uid, gid, mtime, uname, link target) of every entry, in archive order.
type Row = (String, u32, u64, u64, u64, String, Option<String>);

fn entries(layer: &Layer) -> Vec<Row> {
    let tar_bytes = untar(layer);
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut rows = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        rows.push((
            entry.path().unwrap().to_string_lossy().into_owned(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            h.username().unwrap().unwrap_or_default().to_owned(),
            entry
                .link_name()
                .unwrap()
                .map(|p| p.to_string_lossy().into_owned()),
        ));
    }
    rows
}

fn sample(mtime: u64, reversed: bool) -> Layer {
    let mut b = LayerBuilder::new(mtime);
    let adds: [&dyn Fn(&mut LayerBuilder); 3] = [
        &|b| {
            b.file("/usr/bin/app", 0o755, b"binary".as_slice());
        },
        &|b| {
            b.dir("/home/nonroot", 0o700)
                .chown("/home/nonroot", 65532, 65532);
        },
        &|b| {
            b.symlink("/bin", "usr/bin");
        },
    ];
    if reversed {
        adds.iter().rev().for_each(|add| add(&mut b));
    } else {
        adds.iter().for_each(|add| add(&mut b));
    }
    b.finish().unwrap()
}

#[test]
fn same_entries_in_any_order_give_the_same_digest() {
    let a = sample(0, false);
    let b = sample(0, true);
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.diff_id(), b.diff_id());
    assert_eq!(blob_bytes(&a), blob_bytes(&b));
}

#[test]
fn a_different_mtime_gives_a_different_digest() {
    let a = sample(0, false);
    let b = sample(1_700_000_000, false);
    assert_ne!(a.digest(), b.digest());
    assert_ne!(a.diff_id(), b.diff_id());
}

#[test]
fn digests_and_size_describe_the_stored_bytes() {
    let layer = sample(0, false);
    let blob = blob_bytes(&layer);
    assert_eq!(layer.size(), blob.len() as u64);
    assert_eq!(*layer.digest(), Digest::of(&blob));
    assert_eq!(*layer.diff_id(), Digest::of(&untar(&layer)));
    assert_eq!(*layer.media_type(), MediaType::ImageLayerGzip);
    assert_eq!(layer.descriptor().size(), layer.size());
}

#[test]
fn gzip_header_has_no_time_no_name_and_a_fixed_os() {
    let blob = blob_bytes(&sample(0, false));
    // magic, deflate, no flags (no file name), mtime 0, XFL 4 (fastest level), OS 255
    assert_eq!(blob[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
}

#[test]
fn entries_are_sorted_with_parents_added_and_fixed_owner_and_time() {
    let rows = entries(&sample(42, true));
    let none = None;
    let row = |p: &str, mode, id, link: &Option<String>| {
        (p.to_owned(), mode, id, id, 42, String::new(), link.clone())
    };
    assert_eq!(
        rows,
        vec![
            row("bin", 0o777, 0, &Some("usr/bin".to_owned())),
            row("home/", 0o755, 0, &none),
            row("home/nonroot/", 0o700, 65532, &none),
            row("usr/", 0o755, 0, &none),
            row("usr/bin/", 0o755, 0, &none),
            row("usr/bin/app", 0o755, 0, &none),
        ]
    );
}

#[test]
fn host_file_contributes_bytes_but_not_its_metadata() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("app");
    std::fs::write(&host, b"from the host").unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut b = LayerBuilder::new(7);
    b.file("app", 0o755, host.as_path());
    let layer = b.finish().unwrap();
    assert_eq!(
        entries(&layer),
        vec![("app".into(), 0o755, 0, 0, 7, String::new(), None)]
    );

    let mut b = LayerBuilder::new(7);
    b.file("app", 0o755, b"from the host".as_slice());
    assert_eq!(
        b.finish().unwrap().digest(),
        layer.digest(),
        "host path and bytes must agree"
    );
}

#[test]
fn long_paths_and_link_targets_survive() {
    let long = format!("/opt/{}/file", "d".repeat(150));
    let target = format!("/{}", "t".repeat(120));
    let mut b = LayerBuilder::new(0);
    b.file(&long, 0o644, b"x".as_slice())
        .symlink("/link", &target);
    let rows = entries(&b.finish().unwrap());
    assert!(rows.iter().any(|r| r.0 == long[1..]), "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.0 == "link" && r.6.as_deref() == Some(target.as_str()))
    );
}

#[test]
fn bad_paths_are_reported_by_finish() {
    let err = |f: &dyn Fn(&mut LayerBuilder)| {
        let mut b = LayerBuilder::new(0);
        f(&mut b);
        b.finish().unwrap_err().message().to_owned()
    };
    assert!(
        err(&|b| {
            b.dir("/a/../etc", 0o755);
        })
        .contains("`..`")
    );
    assert!(
        err(&|b| {
            b.dir("/", 0o755);
        })
        .contains("root directory")
    );
    assert!(
        err(&|b| {
            b.dir("/a", 0o755).dir("a/", 0o700);
        })
        .contains("`a/` is added to the layer twice")
    );
    assert!(
        err(&|b| {
            b.chown("/nope", 1, 1);
        })
        .contains("`/nope`")
    );
    let msg = err(&|b| {
        b.file("/a", 0o644, Vec::new())
            .file("/a/b", 0o644, Vec::new());
    });
    assert_eq!(
        msg,
        "cannot add `/a/b` to the layer: `/a` is not a directory"
    );
}

#[test]
fn a_missing_host_file_names_its_path() {
    let mut b = LayerBuilder::new(0);
    b.file("/app", 0o755, Path::new("/no/such/gantry-file"));
    let err = b.finish().unwrap_err();
    assert!(
        err.message().contains("`/no/such/gantry-file`"),
        "{}",
        err.message()
    );
}

/// Several blocks of input that compress unevenly (text, then noise, then zeros).
fn uneven_input() -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..40_000u32 {
        data.extend_from_slice(format!("line {i} of a layer\n").as_bytes());
    }
    let mut x = 0x2545_f491_u32;
    for _ in 0..1_500_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push(x as u8);
    }
    data.resize(data.len() + 700_000, 0);
    data
}

#[test]
fn parallel_gzip_bytes_do_not_depend_on_the_thread_count_and_decompress_to_the_input() {
    use std::io::Write;
    let data = uneven_input();
    assert!(
        data.len() > 2 * 1024 * 1024,
        "the input spans several blocks"
    );
    let compress = |threads: usize| {
        let mut z = builder::gzip_writer_with(Vec::new(), threads).unwrap();
        // Uneven writes, as tar makes them.
        for piece in data.chunks(70_001) {
            z.write_all(piece).unwrap();
        }
        gzp::ZWriter::finish(&mut z).unwrap()
    };
    let one = compress(1);
    assert_eq!(compress(3), one);
    assert_eq!(compress(8), one);
    // One gzip member: a single-member decoder (as `oci::unpack` uses) reads all of it.
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(one.as_slice())
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == data, "round trip changed the bytes");
    // The noise does not compress; the text and the zeros do.
    assert!(
        one.len() * 10 < data.len() * 6,
        "compressed {} of {}",
        one.len(),
        data.len()
    );
}
