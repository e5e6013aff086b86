//! `cargo gantry build --platform`: cross-compiled images for another machine and
//! multi-platform indexes, checked file by file (ELF machines), run under qemu inside their own
//! root filesystem, reproduced, pushed to and pulled from a registry.
//!
//! The toolchain with the aarch64 standard library is `cross-1.96` on the test machines
//! (`/work/shared/cross/setup-arm64.sh`, run by `scripts/test-env.sh`); gantry itself only
//! inherits it, as it would inherit a `rustup target add`ed one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::registry::{SKOPEO, TestRegistry};
use crate::support::tools::{run, tool};
use crate::support::*;

const TOOLCHAIN: &str = "cross-1.96";
const QEMU: &str = "/usr/bin/qemu-aarch64-static";
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// `cargo-gantry` with the cross toolchain selected the way rustup users select one.
fn cross_gantry(dir: &Path) -> Command {
    let mut cmd = gantry_cmd(dir);
    cmd.env("RUSTUP_TOOLCHAIN", TOOLCHAIN)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    cmd
}

fn build(dir: &Path, args: &[&str]) -> Output {
    cross_gantry(dir).arg("build").args(args).output().unwrap()
}

/// A two-platform build into `layout`; returns the JSON summary.
fn build_index(dir: &Path, layout: &Path, extra: &[&str]) -> serde_json::Value {
    let layout = layout.display().to_string();
    let mut args = vec![
        "--platform",
        "linux/amd64,linux/arm64",
        "--oci-layout",
        &layout,
    ];
    args.extend(["--message-format", "json"]);
    args.extend(extra);
    let out = ok(build(dir, &args), "cargo gantry build --platform");
    serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The index `index.json` names, and its digest.
fn index_of(layout: &Path) -> (serde_json::Value, String) {
    let top = json(&std::fs::read(layout.join("index.json")).unwrap());
    let desc = &top["manifests"][0];
    assert_eq!(desc["mediaType"], "application/vnd.oci.image.index.v1+json");
    let digest = desc["digest"].as_str().unwrap().to_owned();
    (json(&blob(layout, &digest)), digest)
}

/// The layers of the `arch` image of the index, applied in order to a fresh directory.
fn rootfs(layout: &Path, arch: &str, into: &Path) -> PathBuf {
    let (index, _) = index_of(layout);
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap_or_else(|| panic!("no {arch} in {index}"));
    let manifest = json(&blob(layout, desc["digest"].as_str().unwrap()));
    let config = json(&blob(
        layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    assert_eq!(config["architecture"], arch);
    let root = into.join(format!("rootfs-{arch}"));
    std::fs::create_dir_all(&root).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let hex = layer["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        let tarball = layout.join("blobs/sha256").join(hex);
        run(Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&root));
    }
    root
}

/// `e_machine` of an ELF file, `None` for anything else.
fn elf_machine(path: &Path) -> Option<u16> {
    let bytes = std::fs::read(path).ok()?;
    (bytes.len() > 20 && bytes.starts_with(b"\x7fELF"))
        .then(|| u16::from_le_bytes([bytes[18], bytes[19]]))
}

/// Every ELF file in `root` (symlinks not followed), with its machine.
fn elf_files(root: &Path) -> Vec<(PathBuf, u16)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file()
                && let Some(m) = elf_machine(&entry.path())
            {
                out.push((entry.path(), m));
            }
        }
    }
    out.sort();
    out
}

/// Run the image's program for aarch64 with the image as the only root: `chroot` (the
/// binfmt_misc entry with flag F runs qemu from outside the root), else `qemu -L`.
fn run_arm64(root: &Path, bin: &str) -> String {
    let qemu = tool(QEMU).expect("qemu-aarch64-static");
    let mut cmd = if is_root() {
        let mut c = Command::new("/usr/sbin/chroot");
        c.arg(root).arg(format!("/usr/local/bin/{bin}"));
        c
    } else {
        let mut c = Command::new(qemu);
        c.arg("-L")
            .arg(root)
            .arg(root.join("usr/local/bin").join(bin));
        c
    };
    run(cmd.env_clear())
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}

/// The checks every two-platform image passes; returns the index digest.
fn check_two_platforms(fx: &Fixture, dir: &str, bin: &str, says: &str) -> String {
    let layout = fx.path("out-1");
    let summary = build_index(&fx.path(dir), &layout, &[]);
    let (index, digest) = index_of(&layout);
    assert_eq!(summary["digest"], digest.as_str());
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    let amd64 = rootfs(&layout, "amd64", fx.root());
    let arm64 = rootfs(&layout, "arm64", fx.root());
    let app = format!("usr/local/bin/{bin}");
    assert_eq!(elf_machine(&amd64.join(&app)), Some(EM_X86_64));
    assert_eq!(elf_machine(&arm64.join(&app)), Some(EM_AARCH64));
    for (path, machine) in elf_files(&arm64) {
        assert_eq!(machine, EM_AARCH64, "{} in the arm64 image", path.display());
    }
    for (path, machine) in elf_files(&amd64) {
        assert_eq!(machine, EM_X86_64, "{} in the amd64 image", path.display());
    }
    let output = run_arm64(&arm64, bin);
    assert_eq!(output.trim(), format!("{says} on aarch64"));
    let native = if is_root() {
        run(Command::new("/usr/sbin/chroot")
            .arg(&amd64)
            .arg(format!("/{app}")))
    } else {
        run(&mut Command::new(amd64.join(&app)))
    };
    assert_eq!(native.trim(), format!("{says} on x86_64"));

    // the same sources give the same index, byte for byte
    let again = fx.path("out-2");
    build_index(&fx.path(dir), &again, &[]);
    assert_eq!(index_of(&again).1, digest);
    digest
}

fn workspace(fx: &Fixture) {
    fx.file(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"app\", \"util\", \"shout\"]\nresolver = \"2\"\n",
    )
    .file(
        "ws/app/Cargo.toml",
        &manifest(
            "app",
            "util = { path = \"../util\" }\nshout = { path = \"../shout\" }",
        ),
    )
    .file(
        "ws/app/src/main.rs",
        "fn main() { println!(\"{} {} on {}\", util::greeting(), shout::shout!(), std::env::consts::ARCH); }\n",
    )
    .file("ws/util/Cargo.toml", &manifest("util", ""))
    .file(
        "ws/util/build.rs",
        "fn main() { assert!(std::env::var(\"TARGET\").is_ok()); println!(\"cargo:rustc-env=GREETING=hello from build.rs\"); }\n",
    )
    .file(
        "ws/util/src/lib.rs",
        "pub fn greeting() -> &'static str { env!(\"GREETING\") }\n",
    )
    .file(
        "ws/shout/Cargo.toml",
        "[package]\nname = \"shout\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\nproc-macro = true\n",
    )
    .file(
        "ws/shout/src/lib.rs",
        "use proc_macro::TokenStream;\n#[proc_macro]\npub fn shout(_: TokenStream) -> TokenStream { \"\\\"LOUD\\\"\".parse().unwrap() }\n",
    );
}

#[test]
fn a_workspace_with_a_build_script_and_a_proc_macro_becomes_a_two_platform_index() {
    let fx = Fixture::new();
    workspace(&fx);
    check_two_platforms(&fx, "ws", "app", "hello from build.rs LOUD");

    // and the engine runs the arm64 image (through the same binfmt_misc qemu)
    let Some(docker) = crate::support::tools::docker() else {
        return;
    };
    let archive = fx.path("arm64.tar");
    let name = "gantry-platforms-test:arm64";
    run(Command::new(tool(SKOPEO).unwrap())
        .args(["copy", "--override-arch", "arm64"])
        .arg(format!("oci:{}:app:0.1.0", fx.path("out-1").display()))
        .arg(format!("docker-archive:{}:{name}", archive.display())));
    run(Command::new(&docker).arg("load").arg("-i").arg(&archive));
    let said = run(Command::new(&docker).args(["run", "--rm", "--platform", "linux/arm64", name]));
    let _ = Command::new(&docker).args(["rmi", name]).output();
    assert_eq!(said.trim(), "hello from build.rs LOUD on aarch64");

    // --load puts this machine's image of the index into the engine, and says so
    let tag = "gantry-platforms-load:1";
    let out = ok(
        build(
            &fx.path("ws"),
            &[
                "--platform",
                "linux/amd64,linux/arm64",
                "--load",
                "--tag",
                tag,
            ],
        ),
        "build --load",
    );
    assert!(
        stderr(&out).contains("Loading the `linux/amd64` image of 2 platforms"),
        "{}",
        stderr(&out)
    );
    let said = run(Command::new(&docker).args(["run", "--rm", tag]));
    let _ = Command::new(&docker).args(["rmi", tag]).output();
    assert_eq!(said.trim(), "hello from build.rs LOUD on x86_64");
}

/// `zl`: a build script compiles C (cc crate: `CC_<target>`) calling zlib and links `-lz`; the
/// program prints `zlib <major> on <arch>`.
fn zlib_crate(fx: &Fixture) {
    fx.file(
        "zl/Cargo.toml",
        &(manifest("zl", "") + "\n[build-dependencies]\ncc = \"1\"\n"),
    )
    .file(
        "zl/build.rs",
        "fn main() {\n    cc::Build::new().file(\"z.c\").compile(\"zshim\");\n    println!(\"cargo:rustc-link-lib=z\");\n}\n",
    )
    .file(
        "zl/z.c",
        "#include <zlib.h>\nconst char *shim_zlib_version(void) { return zlibVersion(); }\n",
    )
    .file(
        "zl/src/main.rs",
        "use std::ffi::CStr;\nextern \"C\" { fn shim_zlib_version() -> *const std::os::raw::c_char; }\nfn main() {\n    let v = unsafe { CStr::from_ptr(shim_zlib_version()) }.to_str().unwrap();\n    println!(\"zlib {} on {}\", &v[..1], std::env::consts::ARCH);\n}\n",
    );
}

/// A crate whose build script compiles C (cc crate: `CC_<target>`) against zlib and links
/// `-lz`: the arm64 image gets the arm64 libz from the multiarch directory.
#[test]
fn a_crate_linking_zlib_gets_the_targets_libz() {
    let fx = Fixture::new();
    zlib_crate(&fx);
    check_two_platforms(&fx, "zl", "zl", "zlib 1");
    let arm64 = fx.root().join("rootfs-arm64");
    let libz = elf_files(&arm64).into_iter().find(|(p, _)| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("libz.so")
    });
    assert_eq!(
        libz.map(|(_, m)| m),
        Some(EM_AARCH64),
        "no aarch64 libz in the image"
    );
}

#[test]
fn a_static_build_is_an_index_of_two_lone_binaries() {
    let fx = Fixture::new();
    fx.bin_package("st", "st", "", "")
        .file(
            "st/src/main.rs",
            "fn main() { println!(\"static on {}\", std::env::consts::ARCH); }\n",
        )
        .file(
            "st/.cargo/config.toml",
            "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n\
             [target.aarch64-unknown-linux-gnu]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n",
        );
    let layout = fx.path("out-1");
    let summary = build_index(&fx.path("st"), &layout, &[]);
    for p in summary["platforms"].as_array().unwrap() {
        assert!(p["linking"].as_str().unwrap().starts_with("static"), "{p}");
        assert_eq!(p["libraries"].as_array().unwrap().len(), 0, "{p}");
    }
    check_two_platforms(&fx, "st", "st", "static");
    let arm64 = fx.root().join("rootfs-arm64");
    assert_eq!(elf_files(&arm64).len(), 1, "only the binary is an ELF file");
    // Each platform has its own SBOM and provenance, whose subject is that platform's manifest.
    let (index, _) = index_of(&layout);
    let platform_manifests: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    let top = json(&std::fs::read(layout.join("index.json")).unwrap());
    for kind in ["application/spdx+json", "application/vnd.in-toto+json"] {
        let subjects: Vec<String> = top["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["artifactType"] == kind)
            .map(|m| {
                let artifact = json(&blob(&layout, m["digest"].as_str().unwrap()));
                artifact["subject"]["digest"].as_str().unwrap().to_owned()
            })
            .collect();
        let mut want: Vec<String> = platform_manifests.iter().map(|d| d.to_string()).collect();
        let mut got = subjects.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "one {kind} per platform manifest");
    }
}

#[test]
fn the_index_is_pushed_pulled_back_as_a_base_and_skopeo_agrees() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let fx = Fixture::new();
    fx.bin_package("hi", "hi", "", "").file(
        "hi/src/main.rs",
        "fn main() { println!(\"hi on {}\", std::env::consts::ARCH); }\n",
    );
    let layout = fx.path("out-1");
    let pushed = format!("{}/hi:1", registry.host());
    let summary = build_index(&fx.path("hi"), &layout, &["--push", &pushed]);
    let (index, digest) = index_of(&layout);
    assert_eq!(summary["digest"], digest.as_str());
    let raw = registry.raw_manifest("hi:1");
    assert_eq!(
        json(&raw),
        index,
        "the registry serves the index gantry wrote"
    );
    assert_eq!(
        format!("sha256:{}", sha256_hex(&raw)),
        digest,
        "byte for byte"
    );
    for m in index["manifests"].as_array().unwrap() {
        let arch = m["platform"]["architecture"].as_str().unwrap();
        let inspected = registry.inspect(&format!("hi@{}", m["digest"].as_str().unwrap()), None);
        assert_eq!(inspected["Architecture"], arch);
    }
    // skopeo pulls every platform of it
    let copy = fx.path("copied");
    run(Command::new(tool(SKOPEO).unwrap())
        .args(["copy", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{pushed}"))
        .arg(format!("oci:{}:hi", copy.display())));
    assert_eq!(index_of(&copy).1, digest);

    // and gantry pulls each platform's manifest of it as a base
    let based = fx.path("based");
    let out = ok(
        build(
            &fx.path("hi"),
            &[
                "--platform",
                "linux/amd64,linux/arm64",
                "--base",
                &pushed,
                "--oci-layout",
                based.to_str().unwrap(),
            ],
        ),
        "build on the pushed index",
    );
    let _ = out;
    let arm64 = rootfs(&based, "arm64", fx.root());
    assert_eq!(run_arm64(&arm64, "hi").trim(), "hi on aarch64");
}

fn sha256_hex(bytes: &[u8]) -> String {
    cargo_gantry::oci::Digest::of(bytes)
        .as_str()
        .trim_start_matches("sha256:")
        .to_owned()
}

#[test]
fn one_foreign_platform_is_a_single_image_and_load_says_which_platform_it_loads() {
    let fx = Fixture::new();
    fx.bin_package("one", "one", "", "one");
    let layout = fx.path("out");
    let out = ok(
        build(
            &fx.path("one"),
            &[
                "--platform",
                "linux/arm64",
                "--oci-layout",
                layout.to_str().unwrap(),
            ],
        ),
        "one platform",
    );
    let top = json(&std::fs::read(layout.join("index.json")).unwrap());
    assert_eq!(
        top["manifests"][0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert!(
        stderr(&out).contains("for `aarch64-unknown-linux-gnu` with `"),
        "says which linker: {}",
        stderr(&out)
    );
}

// ---- errors ----

fn fails(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("hint:"), "{err}");
    err
}

#[test]
fn a_target_without_a_standard_library_is_refused_before_compiling() {
    let fx = Fixture::new();
    fx.bin_package("p", "p", "", "p");
    let out = build(&fx.path("p"), &["--platform", "linux/amd64,linux/riscv64"]);
    let err = fails(&out);
    assert!(err.contains("for `linux/riscv64`"), "{err}");
    assert!(
        err.contains("no standard library for `riscv64gc-unknown-linux-gnu`"),
        "{err}"
    );
    assert!(
        err.contains("hint: run `rustup target add riscv64gc-unknown-linux-gnu`"),
        "{err}"
    );
    assert!(!err.contains("Compiling"), "nothing was compiled: {err}");
}

#[test]
fn no_cross_linker_on_path_names_what_to_install() {
    let fx = Fixture::new();
    fx.bin_package("p", "p", "", "p");
    // only the rustup proxies: no cross gcc, no zig
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let out = cross_gantry(&fx.path("p"))
        .args(["build", "--platform", "linux/arm64"])
        .env("PATH", home.join("bin"))
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("no linker for `aarch64-unknown-linux-gnu` found"),
        "{err}"
    );
    assert!(err.contains("`aarch64-linux-gnu-gcc`"), "{err}");
    assert!(
        err.contains("gcc-aarch64-linux-gnu") && err.contains("zig"),
        "{err}"
    );
}

/// A library the build links but no arm64 root holds (built into OUT_DIR by the build script):
/// the image cannot be made, and the hint is about arm64 packages.
#[test]
fn a_library_missing_for_the_target_names_the_package_to_install() {
    let fx = Fixture::new();
    fx.file(
        "g/Cargo.toml",
        &(manifest("g", "") + "\n[build-dependencies]\ncc = \"1\"\n"),
    )
    .file("g/greet.c", "int greet(void) { return 7; }\n")
    .file(
        "g/build.rs",
        r#"fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    let cc = cc::Build::new().get_compiler();
    let status = cc.to_command()
        .args(["-shared", "-fPIC", "-Wl,-soname,libgreet.so.1", "-o"])
        .arg(format!("{out}/libgreet.so"))
        .arg("greet.c")
        .status()
        .unwrap();
    assert!(status.success());
    println!("cargo:rustc-link-search=native={out}");
    println!("cargo:rustc-link-lib=dylib=greet");
}
"#,
    )
    .file(
        "g/src/main.rs",
        "extern \"C\" { fn greet() -> i32; }\nfn main() { println!(\"{}\", unsafe { greet() }); }\n",
    );
    let out = build(&fx.path("g"), &["--platform", "linux/arm64"]);
    let err = fails(&out);
    assert!(err.contains("library `libgreet.so.1`"), "{err}");
    assert!(err.contains("dpkg -S libgreet.so.1"), "{err}");
    assert!(err.contains(":arm64"), "{err}");
}

#[test]
fn a_single_platform_base_for_another_platform_is_refused() {
    let fx = Fixture::new();
    fx.bin_package("p", "p", "", "p");
    let base = fx.path("base");
    ok(
        build(
            &fx.path("p"),
            &["--oci-layout", base.to_str().unwrap(), "--tag", "base"],
        ),
        "amd64 base",
    );
    let spec = format!("oci:{}:base", base.display());
    let out = build(
        &fx.path("p"),
        &["--platform", "linux/amd64,linux/arm64", "--base", &spec],
    );
    let err = fails(&out);
    assert!(err.contains("for `linux/arm64`"), "{err}");
    assert!(
        err.contains("is a `linux/amd64` image, not `linux/arm64`"),
        "{err}"
    );
    assert!(
        !err.contains("Compiling p"),
        "refused before compiling: {err}"
    );
}

/// The cross setup the generated Dockerfile runs in its builder, run here (where the cross gcc
/// is installed, so it installs nothing): the cargo config it writes cross-compiles a crate
/// with C code and zlib for arm64. (tests/it/dockerfile_platforms.rs builds such Dockerfiles with
/// a local cross builder.)
#[test]
fn the_dockerfiles_cross_setup_cross_compiles_c_and_zlib_here() {
    let fx = Fixture::new();
    zlib_crate(&fx);
    let dockerfile = stdout(&ok(
        gantry(
            &fx.path("zl"),
            &[
                "dockerfile",
                "-o",
                "-",
                "--platform",
                "linux/amd64,linux/arm64",
            ],
        ),
        "dockerfile",
    ));
    let setup = dockerfile
        .lines()
        .find(|l| l.contains("dpkg --print-architecture"))
        .expect("the cross setup line")
        .trim_start_matches(" && ");
    let config = fx.path("cross.toml");
    let script = setup.replace("/usr/local/cargo/config.toml", config.to_str().unwrap());
    run(Command::new("sh").arg("-c").arg(format!(
        "t=aarch64-unknown-linux-gnu g=aarch64-linux-gnu d=arm64; {script}"
    )));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("linker = \"aarch64-linux-gnu-gcc\""),
        "{text}"
    );
    ok(
        cargo(&fx.path("zl"))
            .env("RUSTUP_TOOLCHAIN", TOOLCHAIN)
            .args(["build", "--release", "--config"])
            .arg(&config)
            .args(["--config", "build.target=\"aarch64-unknown-linux-gnu\""])
            .output()
            .unwrap(),
        "cargo build with the Dockerfile's cross config",
    );
    let bin = fx.path("zl/target/aarch64-unknown-linux-gnu/release/zl");
    assert_eq!(elf_machine(&bin), Some(EM_AARCH64));
}
