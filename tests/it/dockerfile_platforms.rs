//! `cargo gantry dockerfile --platform linux/amd64,linux/arm64` against the real Docker engine:
//! one Dockerfile built once per platform (`docker build --platform P`; Docker 20.10 has no
//! buildx here), its build stages running on this machine and cross-compiling, the arm64 image
//! holding an aarch64 binary that runs under qemu.
//!
//! The builder is `gantry-test/rust-cross:1.96-bookworm` (scripts/cross-builder.sh, run by
//! scripts/test-env.sh): rustc 1.96 with both standard libraries, the aarch64 cross gcc and
//! zlib for both architectures, so the Dockerfile's cross step installs nothing. Docker 20.10
//! never uses a local image of another architecture for `FROM --platform=$TARGETPLATFORM …` (it
//! tries to pull one) and its image store holds one architecture per tag, so the runtime is a
//! test name, `gantry-test/distroless-cc-debian12:nonroot`, pointed at the amd64 or the arm64
//! stand-in before each build.

use std::path::PathBuf;

use crate::support::docker::{Build, Docker, docker};
use crate::support::*;

const BUILDER: &str = "gantry-test/rust-cross:1.96-bookworm";
const RUNTIME: &str = "gantry-test/distroless-cc-debian12";

/// What the program prints: its own sources, a proc-macro, a C file compiled by the cc crate
/// that calls zlib (found with pkg-config), and the host/target the build script ran for.
const MAIN: &str = r#"fn main() {
    let mut n = itoa::Buffer::new();
    println!(
        "platforms {} {} zlib={} host={} target={} arch={}",
        n.format(7),
        pd_macro::word!(),
        zglue::zlib_version(),
        env!("BUILT_ON"),
        env!("BUILT_FOR"),
        std::env::consts::ARCH,
    );
}
"#;

/// A workspace: the binary (with a build script), a proc-macro crate and a crate with C code.
/// The binary's package is named anew on every run (`pd-app-<run>`, binary `pd-app`): the
/// target cache mount's id names the package, so each run starts from an empty mount, as a
/// fresh builder does, instead of finding the outputs of an earlier run there. A comment of the
/// same run in the cargo config changes the recipe too, so no cached layer stands in either.
fn workspace(fx: &Fixture, greeting: &str) {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    fx.file("ws/.cargo/config.toml", &format!("# e2e run {run}\n"));
    fx.file(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n",
    )
    .file(
        "ws/crates/app/Cargo.toml",
        &format!(
            "{}\n[[bin]]\nname = \"pd-app\"\npath = \"src/main.rs\"\n",
            manifest(
                &format!("pd-app-{run}"),
                "itoa = \"1\"\npd-macro = { path = \"../macro\" }\nzglue = { path = \"../zglue\" }",
            )
        ),
    )
    .file(
        "ws/crates/app/build.rs",
        "fn main() {\n    let host = std::env::var(\"HOST\").unwrap();\n    let target = std::env::var(\"TARGET\").unwrap();\n    println!(\"cargo:rustc-env=BUILT_ON={host}\");\n    println!(\"cargo:rustc-env=BUILT_FOR={target}\");\n}\n",
    )
    .file(
        "ws/crates/app/src/main.rs",
        &MAIN.replace("platforms", greeting),
    )
    .file(
        "ws/crates/macro/Cargo.toml",
        "[package]\nname = \"pd-macro\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\nproc-macro = true\n",
    )
    .file(
        "ws/crates/macro/src/lib.rs",
        "use proc_macro::TokenStream;\n\n#[proc_macro]\npub fn word(_: TokenStream) -> TokenStream {\n    \"\\\"macro\\\"\".parse().unwrap()\n}\n",
    )
    .file(
        "ws/crates/zglue/Cargo.toml",
        "[package]\nname = \"zglue\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[build-dependencies]\ncc = \"1\"\npkg-config = \"0.3\"\n",
    )
    .file(
        "ws/crates/zglue/build.rs",
        "fn main() {\n    let zlib = pkg_config::Config::new().probe(\"zlib\").unwrap();\n    let mut c = cc::Build::new();\n    for dir in &zlib.include_paths {\n        c.include(dir);\n    }\n    c.file(\"zglue.c\").compile(\"zglue\");\n}\n",
    )
    .file(
        "ws/crates/zglue/zglue.c",
        "#include <zlib.h>\n\nconst char *zglue_version(void) { return zlibVersion(); }\n",
    )
    .file(
        "ws/crates/zglue/src/lib.rs",
        "use std::ffi::{CStr, c_char};\n\nextern \"C\" {\n    fn zglue_version() -> *const c_char;\n}\n\npub fn zlib_version() -> String {\n    unsafe { CStr::from_ptr(zglue_version()) }.to_string_lossy().into_owned()\n}\n",
    )
    .lock("ws");
}

/// Write the Dockerfile for `args`.
fn dockerfile(fx: &Fixture, args: &[&str]) -> PathBuf {
    let mut all = vec![
        "dockerfile",
        "--platform",
        "linux/amd64,linux/arm64",
        "--builder",
        BUILDER,
    ];
    all.extend_from_slice(args);
    ok(gantry(&fx.path("ws"), &all), "cargo gantry dockerfile");
    fx.path("ws/Dockerfile")
}

/// The Docker architecture of a platform `linux/ARCH`, the Rust target, the ELF machine.
struct Arch {
    platform: &'static str,
    docker: &'static str,
    triple: &'static str,
    uname: &'static str,
    /// e_machine: EM_X86_64 = 62, EM_AARCH64 = 183.
    machine: u16,
}

const AMD64: Arch = Arch {
    platform: "linux/amd64",
    docker: "amd64",
    triple: "x86_64-unknown-linux-gnu",
    uname: "x86_64",
    machine: 62,
};
const ARM64: Arch = Arch {
    platform: "linux/arm64",
    docker: "arm64",
    triple: "aarch64-unknown-linux-gnu",
    uname: "aarch64",
    machine: 183,
};

/// The zlib of this machine's Debian packages, which the builder and the runtimes are made of.
fn zlib_version() -> String {
    let header = std::fs::read_to_string("/usr/include/zlib.h").unwrap();
    let line = header
        .lines()
        .find_map(|l| l.strip_prefix("#define ZLIB_VERSION "))
        .expect("no ZLIB_VERSION in /usr/include/zlib.h");
    line.trim().trim_matches('"').to_owned()
}

fn elf_machine(bytes: &[u8]) -> u16 {
    assert!(bytes.starts_with(b"\x7fELF"), "not an ELF file");
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// The image for `arch` holds a binary of that architecture, which prints what the real source
/// says, compiled on this machine for the platform: the build script's HOST (the triple of the
/// rustc that ran it) is x86_64 also in the arm64 build, so no compile ran emulated (an arm64
/// builder under qemu would say aarch64; Docker 20.10's plain log names no stage platform).
fn assert_image(d: &Docker, fx: &Fixture, tag: &str, arch: &Arch, greeting: &str) {
    assert_eq!(d.architecture(tag), arch.docker, "image config of {tag}");
    let bin = d.file(tag, "/usr/local/bin/pd-app", fx.root());
    assert_eq!(
        elf_machine(&bin),
        arch.machine,
        "ELF machine of the binary in {tag}"
    );
    let said = d.run_on(tag, arch.platform);
    let want = format!(
        "{greeting} 7 macro zlib={} host={} target={} arch={}",
        zlib_version(),
        AMD64.triple,
        arch.triple,
        arch.uname
    );
    assert!(said.contains(&want), "{tag} said `{said}`, not `{want}`");
}

/// The crates of `step` that are not the workspace's own (cargo names a path crate's
/// directory, all of them under the context at /src).
fn dependencies_in(build: &Build, step: &str) -> Vec<String> {
    build
        .compiled_in(step)
        .into_iter()
        .filter(|c| !c.contains("(/src/"))
        .collect()
}

/// The build step `step` of `build` compiled no dependency (only the workspace's crates).
fn assert_no_dependency_compiled(build: &Build, step: &str, what: &str) {
    let deps = dependencies_in(build, step);
    assert!(
        deps.is_empty(),
        "the {what} compiled dependencies: {deps:?}\n{}",
        build.log
    );
}

/// Edit the program: its greeting `from` becomes `edited`.
fn edit_greeting(fx: &Fixture, from: &str) {
    let main = fx.read("ws/crates/app/src/main.rs");
    fx.file(
        "ws/crates/app/src/main.rs",
        &main.replacen(&format!("\"{from} "), "\"edited ", 1),
    );
}

/// One Dockerfile, built for amd64, then for arm64, then for amd64 after an edit: each image is
/// right, and no final build step compiles a dependency although all of them share one target
/// cache mount (each must seed from its own platform's cooked layer when the mount last held
/// another platform's build).
/// `name` is the strategy, the program's greeting and the tags' repository.
fn cooked_strategy_builds_each_platform(d: &Docker, fx: &Fixture, name: &str, args: &[&str]) {
    let dockerfile = dockerfile(fx, args);
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    let official = "gcr.io/distroless/cc-debian12:nonroot AS runtime";
    assert!(
        text.contains(&format!("FROM --platform=$TARGETPLATFORM {official}")),
        "{text}"
    );
    std::fs::write(
        &dockerfile,
        text.replace(official, &format!("{RUNTIME}:nonroot AS runtime")),
    )
    .unwrap();
    let context = fx.path("ws");

    let mut builds = Vec::new();
    for arch in [&AMD64, &ARM64] {
        d.tag(
            &format!("{RUNTIME}:{}", arch.docker),
            &format!("{RUNTIME}:nonroot"),
        );
        let tag = format!("gantry-pd-{name}:{}", arch.docker);
        let build = d.build_for(&context, &dockerfile, &tag, arch.platform);
        assert!(
            dependencies_in(&build, "cargo gantry cook")
                .iter()
                .any(|c| c.starts_with("itoa ")),
            "the {} cook compiled no dependency: the test proves nothing\n{}",
            arch.docker,
            build.log
        );
        assert_no_dependency_compiled(
            &build,
            "install -D target",
            &format!("{} build step", arch.docker),
        );
        assert_image(d, fx, &tag, arch, name);
        builds.push(tag);
    }

    // Back to amd64 after an edit: the mount last held an arm64 build; amd64 seeds its own
    // cooked dependencies again and compiles only the workspace's crates.
    edit_greeting(fx, name);
    d.tag(&format!("{RUNTIME}:amd64"), &format!("{RUNTIME}:nonroot"));
    // a tag of its own: a rebuild under an old tag would leave the old image behind, untagged
    builds.push(format!("gantry-pd-{name}:amd64-edited"));
    let build = d.build_for(&context, &dockerfile, &builds[2], AMD64.platform);
    assert!(
        build.step_cached("cargo gantry cook"),
        "cook ran again after a source edit:\n{}",
        build.log
    );
    assert_no_dependency_compiled(&build, "install -D target", "amd64 rebuild");
    assert_image(d, fx, &builds[2], &AMD64, "edited");
    for tag in builds {
        d.remove(&tag);
    }
}

#[test]
fn chef_dockerfile_builds_amd64_then_arm64_from_one_file_without_emulated_compiles() {
    let Some(d) = docker() else { return };
    let fx = Fixture::new();
    workspace(&fx, "chef");
    cooked_strategy_builds_each_platform(&d, &fx, "chef", &[]);
}

/// `vendor` cooks like `chef`, offline from the vendored sources (the cc and pkg-config build
/// dependencies among them).
#[test]
fn vendor_dockerfile_builds_amd64_then_arm64_offline_without_emulated_compiles() {
    let Some(d) = docker() else { return };
    let fx = Fixture::new();
    workspace(&fx, "vendor");
    let out = cargo(&fx.path("ws"))
        .args(["vendor", "--locked", "vendor"])
        .output()
        .unwrap();
    ok(out, "cargo vendor");
    cooked_strategy_builds_each_platform(&d, &fx, "vendor", &["--strategy", "vendor"]);
}

/// `mounts` shares one target cache mount between the platforms: cargo keeps each target's
/// outputs apart (target/<triple>/), so after building both, an edit rebuilds only the
/// workspace's crates on either platform. The runtime is `scratch` (a static binary).
#[test]
fn mounts_dockerfile_builds_both_platforms_and_an_edit_rebuilds_only_local_crates() {
    let Some(d) = docker() else { return };
    let fx = Fixture::new();
    workspace(&fx, "mounts");
    let dockerfile = dockerfile(&fx, &["--strategy", "mounts", "--runtime", "scratch"]);
    let context = fx.path("ws");
    let step = "install -D target";
    for arch in [&AMD64, &ARM64] {
        let tag = format!("gantry-pd-mounts:{}", arch.docker);
        let build = d.build_for(&context, &dockerfile, &tag, arch.platform);
        // each platform compiles its own dependencies once (the later checks prove something)
        assert!(
            dependencies_in(&build, step)
                .iter()
                .any(|c| c.starts_with("itoa ")),
            "the first {} build compiled no dependency\n{}",
            arch.docker,
            build.log
        );
        assert_image(&d, &fx, &tag, arch, "mounts");
        // removed now: the rebuild below takes the same tag and would leave this image untagged
        d.remove(&tag);
    }
    edit_greeting(&fx, "mounts");
    for arch in [&ARM64, &AMD64] {
        let tag = format!("gantry-pd-mounts:{}", arch.docker);
        let build = d.build_for(&context, &dockerfile, &tag, arch.platform);
        assert_no_dependency_compiled(&build, step, &format!("{} rebuild", arch.docker));
        assert!(
            build
                .compiled_in(step)
                .iter()
                .any(|c| c.starts_with("pd-app-")),
            "the {} rebuild did not compile the edited crate\n{}",
            arch.docker,
            build.log
        );
        assert_image(&d, &fx, &tag, arch, "edited");
        d.remove(&tag);
    }
}
