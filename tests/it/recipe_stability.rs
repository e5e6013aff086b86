//! The recipe changes exactly when the way dependencies compile can change: a table of
//! modification × expectation, each applied to a fresh copy of one fixture workspace.

use crate::support::*;

fn base(fx: &Fixture) {
    fx.file(
        "w/Cargo.toml",
        "# the workspace\n[workspace]\nmembers = [\"app\", \"lib\"]\nresolver = \"2\"\n\n[profile.release]\nlto = false\n",
    )
    .file(
        "w/app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\ndescription = \"an app\"\n\n[dependencies]\nlib = { path = \"../lib\", version = \"0.1.0\" }\nitoa = { version = \"1\", default-features = false }\n",
    )
    .file("w/app/src/main.rs", "fn main() { lib::f(); }\n")
    .file("w/app/build.rs", "fn main() {}\n")
    .file("w/lib/Cargo.toml", &manifest("lib", "ryu = \"1\""))
    .file("w/lib/src/lib.rs", "pub fn f() {}\n")
    .lock("w");
}

fn edit(fx: &Fixture, rel: &str, from: &str, to: &str) {
    let text = fx.read(rel);
    assert!(text.contains(from), "`{from}` not in {rel}");
    fx.file(rel, &text.replacen(from, to, 1));
}

type Modification = fn(&Fixture);

const UNCHANGED: &[(&str, Modification)] = &[
    ("source edit", |fx| {
        fx.file("w/lib/src/lib.rs", "pub fn f() { println!(\"x\"); }\n");
    }),
    ("manifest comment", |fx| {
        edit(
            fx,
            "w/app/Cargo.toml",
            "[dependencies]",
            "# deps\n[dependencies] # here",
        )
    }),
    ("manifest formatting", |fx| {
        edit(
            fx,
            "w/app/Cargo.toml",
            "itoa = { version = \"1\", default-features = false }",
            "\n[dependencies.itoa]\nversion = \"1\"\ndefault-features = false\n",
        )
    }),
    ("local version bump", |fx| {
        edit(
            fx,
            "w/lib/Cargo.toml",
            "version = \"0.1.0\"",
            "version = \"0.2.0\"",
        );
        edit(
            fx,
            "w/app/Cargo.toml",
            "version = \"0.1.0\" }",
            "version = \"0.2.0\" }",
        );
        edit(
            fx,
            "w/Cargo.lock",
            "name = \"lib\"\nversion = \"0.1.0\"",
            "name = \"lib\"\nversion = \"0.2.0\"",
        );
    }),
    ("description, authors, readme, repository", |fx| {
        edit(
            fx,
            "w/app/Cargo.toml",
            "description = \"an app\"",
            "description = \"the app\"\nauthors = [\"me\"]\nreadme = \"README.md\"\nrepository = \"https://example.invalid/app\"",
        );
    }),
    ("new auto-discovered bin", |fx| {
        fx.file("w/app/src/bin/new.rs", "fn main() {}\n");
    }),
    ("new example, test and bench", |fx| {
        fx.file("w/app/examples/e.rs", "fn main() {}\n")
            .file("w/app/tests/t.rs", "")
            .file("w/app/benches/b.rs", "");
    }),
    ("new README", |fx| {
        fx.file("w/README.md", "# hi\n");
    }),
    ("lints table", |fx| {
        edit(
            fx,
            "w/lib/Cargo.toml",
            "[dependencies]",
            "[lints.rust]\nmissing_docs = \"deny\"\n\n[dependencies]",
        )
    }),
];

const CHANGED: &[(&str, Modification)] = &[
    ("new dependency", |fx| {
        edit(
            fx,
            "w/lib/Cargo.toml",
            "ryu = \"1\"",
            "ryu = \"1\"\neither = \"1\"",
        );
        fx.lock("w");
    }),
    ("dependency features", |fx| {
        edit(
            fx,
            "w/app/Cargo.toml",
            "default-features = false",
            "default-features = true",
        )
    }),
    ("lockfile external entry", |fx| {
        let lock = fx.read("w/Cargo.lock");
        let start = lock.find("name = \"itoa\"\nversion = \"").unwrap()
            + "name = \"itoa\"\nversion = \"".len();
        let end = start + lock[start..].find('"').unwrap();
        fx.file(
            "w/Cargo.lock",
            &format!("{}1.0.0{}", &lock[..start], &lock[end..]),
        );
    }),
    ("profile", |fx| {
        edit(fx, "w/Cargo.toml", "lto = false", "lto = true")
    }),
    ("patch", |fx| {
        edit(
            fx,
            "w/Cargo.toml",
            "[profile.release]",
            "[patch.crates-io]\nitoa = { path = \"lib\" }\n\n[profile.release]",
        )
    }),
    ("toolchain file", |fx| {
        fx.file(
            "w/rust-toolchain.toml",
            "[toolchain]\nchannel = \"stable\"\n",
        );
    }),
    ("cargo config", |fx| {
        fx.file(
            "w/.cargo/config.toml",
            "[build]\nrustflags = [\"-Copt-level=1\"]\n",
        );
    }),
    // cargo refuses a toolchain older than `rust-version`: cook must fail where the build would.
    ("rust-version", |fx| {
        edit(
            fx,
            "w/lib/Cargo.toml",
            "edition = \"2021\"",
            "edition = \"2021\"\nrust-version = \"1.70\"",
        )
    }),
    ("build script removed", |fx| {
        fx.remove("w/app/build.rs");
    }),
    ("target-specific section", |fx| {
        edit(
            fx,
            "w/lib/Cargo.toml",
            "[dependencies]",
            "[target.'cfg(unix)'.dependencies]\nitoa = \"1\"\n\n[dependencies]",
        )
    }),
    ("new member", |fx| {
        edit(fx, "w/Cargo.toml", "\"lib\"]", "\"lib\", \"extra\"]");
        fx.bin_package("w/extra", "extra", "", "x");
    }),
];

#[test]
fn recipe_is_byte_identical_across_checkouts_and_runs() {
    let a = Fixture::new();
    base(&a);
    let b = Fixture::new();
    base(&b);
    std::fs::copy(a.path("w/Cargo.lock"), b.path("w/Cargo.lock")).unwrap();
    age_tree(b.root());
    let ra = prepare(&a, "w", &[]);
    assert_eq!(ra, prepare(&a, "w", &[]));
    assert_eq!(
        ra,
        prepare(&b, "w", &[]),
        "recipe depends on the checkout path or mtimes"
    );
    assert!(
        !ra.contains(a.root().to_str().unwrap()),
        "absolute path in recipe"
    );
}

#[test]
fn recipe_is_unchanged_by_edits_that_cannot_affect_dependencies() {
    for (what, modify) in UNCHANGED {
        let fx = Fixture::new();
        base(&fx);
        let before = prepare(&fx, "w", &[]);
        modify(&fx);
        assert_eq!(
            before,
            prepare(&fx, "w", &[]),
            "recipe changed after: {what}"
        );
    }
}

#[test]
fn recipe_changes_on_edits_that_can_affect_dependencies() {
    for (what, modify) in CHANGED {
        let fx = Fixture::new();
        base(&fx);
        let before = prepare(&fx, "w", &[]);
        modify(&fx);
        assert_ne!(
            before,
            prepare(&fx, "w", &[]),
            "recipe unchanged after: {what}"
        );
    }
}
