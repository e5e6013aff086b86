use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::oci::testutil::{Raw, header, image_of, layer_with_digest, tar_bytes};
use crate::oci::{BlobSource, Digest, Layer, LayerBuilder, Platform};

#[test]
fn later_layers_and_whiteouts_win() {
    let mut lower = LayerBuilder::new(0);
    lower
        .file("/etc/a", 0o644, b"a".as_slice())
        .file("/etc/b", 0o644, b"b".as_slice());
    lower.file("/opt/x/1", 0o644, b"1".as_slice());
    let mut upper = LayerBuilder::new(0);
    upper
        .file("/etc/.wh.a", 0o644, b"".as_slice())
        .file("/etc/b", 0o644, b"B".as_slice());
    upper
        .file("/opt/x/.wh..wh..opq", 0o644, b"".as_slice())
        .file("/opt/x/2", 0o644, b"2".as_slice());
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(lower.finish().unwrap(), "lower");
    image.push_layer(upper.finish().unwrap(), "upper");
    let dir = tempfile::tempdir().unwrap();
    unpack(&image, dir.path()).unwrap();
    assert!(!dir.path().join("etc/a").exists());
    assert_eq!(std::fs::read(dir.path().join("etc/b")).unwrap(), b"B");
    assert!(!dir.path().join("opt/x/1").exists());
    assert!(dir.path().join("opt/x/2").exists());
}

/// A root to unpack into, and next to it a host directory holding files that must survive.
struct Host {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Host {
    fn new() -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        std::fs::write(outside.join("secret"), "keep").unwrap();
        std::fs::write(outside.join("sub/file"), "keep").unwrap();
        Host {
            _tmp: tmp,
            root,
            outside,
        }
    }

    /// The outside directory as an absolute symlink target.
    fn target(&self) -> &str {
        self.outside.to_str().unwrap()
    }

    /// Where an absolute symlink to `outside` leads when resolved inside the root.
    fn inside(&self) -> PathBuf {
        self.root.join(self.outside.strip_prefix("/").unwrap())
    }

    fn assert_untouched(&self) {
        let read = |p: &str| std::fs::read_to_string(self.outside.join(p));
        assert_eq!(read("secret").ok().as_deref(), Some("keep"), "secret");
        assert_eq!(read("sub/file").ok().as_deref(), Some("keep"), "sub/file");
        let names = std::fs::read_dir(&self.outside).unwrap().count();
        assert_eq!(
            names,
            2,
            "something was created in `{}`",
            self.outside.display()
        );
    }
}

/// The unpack error, rendered whole (message, causes, hint), for asserting what it names.
fn refused(image: &Image, root: &Path) -> String {
    let err = unpack(image, root).expect_err("the layer must be refused");
    let text = err.render();
    assert!(err.hint().is_some(), "no hint: {text}");
    text
}

/// The path an absolute host path has inside the root, as a tar entry name.
fn entry_of(host: &Path) -> String {
    host.strip_prefix("/").unwrap().to_str().unwrap().to_owned()
}

#[test]
fn whiteout_below_an_absolute_symlink_stays_inside_the_root() {
    let host = Host::new();
    // the same path inside the root holds a `secret` the whiteout may delete
    let inside = entry_of(&host.outside);
    let image = image_of(&[
        &[
            Raw::File(&format!("{inside}/secret"), 0o644, b"in the image"),
            Raw::Symlink("etc", host.target()),
        ],
        &[Raw::File("etc/.wh.secret", 0o644, b"")],
    ]);
    unpack(&image, &host.root).unwrap();
    host.assert_untouched();
    assert!(!host.inside().join("secret").exists());
    assert!(
        std::fs::symlink_metadata(host.root.join("etc"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn whiteout_below_a_relative_symlink_stays_inside_the_root() {
    let host = Host::new();
    // from `root/etc`, `../outside` is the host directory next to the root
    let image = image_of(&[
        &[Raw::Symlink("etc", "../outside")],
        &[Raw::File("etc/.wh.secret", 0o644, b"")],
    ]);
    unpack(&image, &host.root).unwrap();
    host.assert_untouched();
}

#[test]
fn opaque_directory_below_a_symlink_stays_inside_the_root() {
    let host = Host::new();
    let image = image_of(&[
        &[Raw::Symlink("opt", host.target())],
        &[
            Raw::File("opt/.wh..wh..opq", 0o644, b""),
            Raw::File("opt/sub/.wh..wh..opq", 0o644, b""),
        ],
    ]);
    unpack(&image, &host.root).unwrap();
    host.assert_untouched();
}

#[test]
fn whiteout_of_a_symlink_removes_the_link_not_its_target() {
    let host = Host::new();
    let target = host.outside.join("secret");
    let image = image_of(&[
        &[
            Raw::Dir("etc"),
            Raw::Symlink("etc/passwd", target.to_str().unwrap()),
        ],
        &[Raw::File("etc/.wh.passwd", 0o644, b"")],
    ]);
    unpack(&image, &host.root).unwrap();
    host.assert_untouched();
    assert!(std::fs::symlink_metadata(host.root.join("etc/passwd")).is_err());
}

#[test]
fn entries_below_a_symlink_land_inside_the_root() {
    let host = Host::new();
    let image = image_of(&[
        &[
            Raw::Symlink("x", host.target()),
            Raw::Symlink("y", "../outside"),
        ],
        &[
            Raw::File("x/sub/file", 0o644, b"evil"),
            Raw::File("x/new", 0o644, b"evil"),
            Raw::File("y/secret", 0o644, b"evil"),
        ],
    ]);
    unpack(&image, &host.root).unwrap();
    host.assert_untouched();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&host.inside().join("sub/file")), "evil");
    assert_eq!(read(&host.inside().join("new")), "evil");
    assert_eq!(read(&host.root.join("outside/secret")), "evil");
}

#[test]
fn a_directory_replacing_a_symlink_is_created_in_its_place() {
    let host = Host::new();
    let image = image_of(&[
        &[Raw::Symlink("d", host.target())],
        &[Raw::Dir("d"), Raw::File("d/secret", 0o644, b"evil")],
    ]);
    unpack(&image, &host.root).unwrap();
    host.assert_untouched();
    let d = std::fs::symlink_metadata(host.root.join("d")).unwrap();
    assert!(d.is_dir());
    assert_eq!(std::fs::read(host.root.join("d/secret")).unwrap(), b"evil");
}

#[test]
fn dotdot_in_a_path_is_refused_naming_the_entry() {
    let host = Host::new();
    let image = image_of(&[&[Raw::File("../outside/secret", 0o644, b"evil")]]);
    let err = refused(&image, &host.root);
    host.assert_untouched();
    assert!(
        err.contains("`../outside/secret`") && err.contains("`..`"),
        "{err}"
    );
    assert!(err.contains("layer 0") && err.contains(image.layers()[0].digest().as_str()));
}

#[test]
fn an_absolute_path_lands_inside_the_root() {
    let host = Host::new();
    let secret = host.outside.join("secret");
    let image = image_of(&[&[Raw::File(secret.to_str().unwrap(), 0o644, b"evil")]]);
    unpack(&image, &host.root).unwrap();
    host.assert_untouched();
    assert_eq!(
        std::fs::read(host.inside().join("secret")).unwrap(),
        b"evil"
    );
}

#[test]
fn hard_link_to_a_path_outside_is_refused_naming_the_entry() {
    let host = Host::new();
    let secret = host.outside.join("secret");
    for layers in [
        // absolute: inside the root there is no such file
        vec![vec![Raw::Hardlink("evil", secret.to_str().unwrap())]],
        // through a symlink that a plain join would follow to the host
        vec![
            vec![Raw::Symlink("link", host.target())],
            vec![Raw::Hardlink("evil", "link/secret")],
        ],
        vec![vec![Raw::Hardlink("evil", "../outside/secret")]],
    ] {
        let layers: Vec<&[Raw]> = layers.iter().map(Vec::as_slice).collect();
        let image = image_of(&layers);
        let err = refused(&image, &host.root);
        host.assert_untouched();
        assert!(err.contains("`evil`"), "{err}");
        assert!(!host.root.join("evil").exists(), "{err}");
        std::fs::remove_dir_all(&host.root).unwrap();
    }
}

#[test]
fn hard_link_to_an_earlier_entry_shares_its_content() {
    let host = Host::new();
    let image = image_of(&[&[
        Raw::File("bin/busybox", 0o755, b"elf"),
        Raw::Hardlink("bin/sh", "bin/busybox"),
    ]]);
    unpack(&image, &host.root).unwrap();
    assert_eq!(std::fs::read(host.root.join("bin/sh")).unwrap(), b"elf");
}

#[test]
fn device_files_and_fifos_are_skipped() {
    let host = Host::new();
    let image = image_of(&[&[
        Raw::Header("dev/null", tar::EntryType::Char, 0, 0o666),
        Raw::Header("dev/sda", tar::EntryType::Block, 0, 0o660),
        Raw::Header("run/fifo", tar::EntryType::Fifo, 0, 0o644),
        Raw::File("etc/motd", 0o644, b"hi"),
    ]]);
    unpack(&image, &host.root).unwrap();
    for skipped in ["dev/null", "dev/sda", "run/fifo"] {
        let at = host.root.join(skipped);
        assert!(std::fs::symlink_metadata(&at).is_err(), "{skipped}");
    }
    assert!(host.root.join("etc/motd").exists());
}

#[test]
fn setuid_setgid_and_sticky_bits_are_stripped() {
    use std::os::unix::fs::PermissionsExt;
    let host = Host::new();
    let image = image_of(&[&[
        Raw::File("bin/su", 0o4755, b"elf"),
        Raw::File("bin/wall", 0o2755, b"elf"),
        Raw::Header("tmp", tar::EntryType::Directory, 0, 0o1777),
    ]]);
    unpack(&image, &host.root).unwrap();
    for path in ["bin/su", "bin/wall", "tmp"] {
        let mode = std::fs::metadata(host.root.join(path))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7000, 0, "{path}: {mode:o}");
    }
    let su = std::fs::metadata(host.root.join("bin/su"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(su & 0o777, 0o755, "the permission bits themselves stay");
}

#[test]
fn an_entry_larger_than_the_limit_is_refused_before_its_data_is_read() {
    let host = Host::new();
    // declares a terabyte and carries none of it: reading first would fail differently
    let image = image_of(&[&[Raw::Header("big", tar::EntryType::Regular, 1 << 40, 0o644)]]);
    let err = refused(&image, &host.root);
    assert!(
        err.contains("`big`") && err.contains("1099511627776"),
        "{err}"
    );
    assert!(!host.root.join("big").exists());
}

#[test]
fn a_symlink_loop_is_refused_naming_the_entry() {
    let host = Host::new();
    let image = image_of(&[
        &[Raw::Symlink("a", "b"), Raw::Symlink("b", "/a")],
        &[Raw::File("a/x", 0o644, b"x")],
    ]);
    let err = refused(&image, &host.root);
    assert!(err.contains("`a/x`") && err.contains("symlinks"), "{err}");
    assert!(err.contains("layer 1"), "{err}");
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused_naming_the_digest() {
    let host = Host::new();
    let bytes = tar_bytes(&[Raw::File("etc/motd", 0o644, b"hi")]);
    let claimed = Digest::of(b"what the manifest promised");
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(layer_with_digest(&bytes, claimed.clone()), "lying");
    let err = refused(&image, &host.root);
    assert!(err.contains(claimed.as_str()), "{err}");
    assert!(err.contains(Digest::of(&bytes).as_str()), "{err}");

    // a flipped byte in a gzip layer is reported as the wrong content, not as bad gzip
    let mut built = LayerBuilder::new(0);
    built.file("/etc/motd", 0o644, b"hello".as_slice());
    let built = built.finish().unwrap();
    let mut blob = std::fs::read(built.source().path()).unwrap();
    let middle = blob.len() / 2;
    blob[middle] ^= 0xff;
    let mut temp = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut temp, &blob).unwrap();
    let flipped = Layer::from_blob(
        built.digest().clone(),
        built.size(),
        built.diff_id().clone(),
        built.media_type().clone(),
        BlobSource::Temp(Arc::new(temp.into_temp_path())),
    );
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(flipped, "flipped");
    let err = refused(&image, &host.root);
    assert!(
        err.contains(built.digest().as_str()) && err.contains("wrong content"),
        "{err}"
    );
}

const SMALL: Limits = Limits {
    total_bytes: 25,
    entries: 4,
    entry_bytes: 10,
    path_bytes: 64,
};

fn refused_with(image: &Image, root: &Path, limits: &Limits) -> String {
    let err = unpack_limited(image, root, limits).expect_err("the layer must be refused");
    assert!(err.hint().is_some(), "no hint: {}", err.render());
    err.render()
}

#[test]
fn the_total_size_and_entry_count_of_an_image_are_bounded() {
    let host = Host::new();
    let ten = [b'x'; 10];
    // two layers: the limits are for the whole image
    let image = image_of(&[
        &[Raw::File("a", 0o644, &ten), Raw::File("b", 0o644, &ten)],
        &[Raw::File("c", 0o644, &ten)],
    ]);
    let err = refused_with(&image, &host.root, &SMALL);
    assert!(
        err.contains("`c`") && err.contains("25 unpacked bytes"),
        "{err}"
    );
    assert!(err.contains("layer 1"), "{err}");

    let empty = [Raw::File("e", 0o644, b""); 5];
    let err = refused_with(&image_of(&[&empty]), &host.root, &SMALL);
    assert!(err.contains("`e`") && err.contains("4 entries"), "{err}");
    unpack_limited(&image_of(&[&empty[..4]]), &host.root, &SMALL).unwrap();
}

#[test]
fn long_paths_and_long_name_records_are_bounded() {
    let host = Host::new();
    // a GNU long-name record, as `tar::Builder` writes for paths over 100 bytes
    let long = format!("{}/file", "d".repeat(120));
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    tar.append_data(&mut h, &long, &b"x"[..]).unwrap();
    let bytes = tar.into_inner().unwrap();
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(layer_with_digest(&bytes, Digest::of(&bytes)), "long");

    let err = refused_with(&image, &host.root, &SMALL);
    assert!(
        err.contains("././@LongLink") && err.contains("over the limit of 65"),
        "{err}"
    );
    // within the limit, the long name is used
    let limits = Limits {
        path_bytes: long.len(),
        ..SMALL
    };
    unpack_limited(&image, &host.root, &limits).unwrap();
    assert_eq!(std::fs::read(host.root.join(&long)).unwrap(), b"x");

    // a PAX `path` record: the path itself is measured
    let record = format!("path={long}\n");
    let record = format!("{} {record}", record.len() + 4);
    let mut bytes = Vec::new();
    let mut h = header(
        "PaxHeaders/x",
        tar::EntryType::XHeader,
        record.len() as u64,
        0o644,
    );
    h.set_cksum();
    bytes.extend_from_slice(h.as_bytes());
    bytes.extend_from_slice(record.as_bytes());
    bytes.resize(bytes.len().next_multiple_of(512), 0);
    bytes.extend(tar_bytes(&[Raw::File("short", 0o644, b"x")]));
    let mut image = Image::new(&Platform::linux_amd64());
    image.push_layer(layer_with_digest(&bytes, Digest::of(&bytes)), "pax");
    let limits = Limits {
        path_bytes: long.len() - 1,
        ..SMALL
    };
    let err = refused_with(&image, &host.root, &limits);
    let size = long.len();
    assert!(
        err.contains(&format!("`{long}`")) && err.contains(&format!("{size}-byte path")),
        "{err}"
    );
    assert!(!host.root.join("short").exists());
}

#[test]
fn an_opaque_directory_keeps_what_its_own_layer_put_there() {
    let host = Host::new();
    let image = image_of(&[
        &[Raw::File("opt/old", 0o644, b"old")],
        &[
            Raw::File("opt/new", 0o644, b"new"),
            Raw::File("opt/.wh..wh..opq", 0o644, b""),
        ],
    ]);
    unpack(&image, &host.root).unwrap();
    assert!(!host.root.join("opt/old").exists());
    assert_eq!(std::fs::read(host.root.join("opt/new")).unwrap(), b"new");
}
