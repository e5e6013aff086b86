//! Native packages that well-known crates need, as data: a `-sys` or build-time crate in
//! Cargo.lock → what the builder must install to compile it and what the runtime must carry for
//! the binary to start.
//!
//! To support another crate, add one row to [`TABLE`]. `{t64}` in a Debian package name stands
//! for the `t64` suffix that trixie gave libraries in the 64-bit `time_t` transition (bookworm
//! has none).

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct NativeDep {
    /// The crate whose presence in Cargo.lock triggers this row.
    pub krate: &'static str,
    /// Skip the row when the crate depends on one of these in the lockfile: they mean it builds
    /// its C sources itself (`bundled`/`vendored` features pull them in).
    pub bundled_by: &'static [&'static str],
    pub deb_build: &'static [&'static str],
    pub deb_runtime: &'static [&'static str],
    pub apk_build: &'static [&'static str],
    pub apk_runtime: &'static [&'static str],
    /// Why the packages are needed, for the Dockerfile comment.
    pub why: &'static str,
}

/// Debian runtime libraries that `gcr.io/distroless/cc` already has; any other runtime package
/// moves the runtime to `debian` (distroless has no package manager).
pub const DISTROLESS_CC_HAS: &[&str] = &["libssl3{t64}", "ca-certificates"];

pub const TABLE: &[NativeDep] = &[
    NativeDep {
        krate: "openssl-sys",
        bundled_by: &["openssl-src"],
        deb_build: &["pkg-config", "libssl-dev"],
        deb_runtime: &["libssl3{t64}", "ca-certificates"],
        apk_build: &["pkgconf", "openssl-dev"],
        apk_runtime: &["libssl3", "ca-certificates"],
        why: "openssl-sys links the system OpenSSL",
    },
    NativeDep {
        krate: "libz-sys",
        // Without zlib headers libz-sys compiles its bundled zlib into the binary: nothing to
        // install, and the runtime (distroless has no zlib) needs nothing either.
        bundled_by: &[],
        deb_build: &[],
        deb_runtime: &[],
        apk_build: &[],
        apk_runtime: &[],
        why: "libz-sys compiles its bundled zlib (no zlib headers installed), so no runtime zlib",
    },
    NativeDep {
        krate: "pq-sys",
        bundled_by: &["pq-src"],
        deb_build: &["pkg-config", "libpq-dev"],
        deb_runtime: &["libpq5"],
        apk_build: &["pkgconf", "libpq-dev"],
        apk_runtime: &["libpq"],
        why: "pq-sys links libpq (PostgreSQL client)",
    },
    NativeDep {
        krate: "libsqlite3-sys",
        // `cc` is an optional dependency that only the `bundled` features turn on.
        bundled_by: &["cc"],
        deb_build: &["pkg-config", "libsqlite3-dev"],
        deb_runtime: &["libsqlite3-0"],
        apk_build: &["pkgconf", "sqlite-dev"],
        apk_runtime: &["sqlite-libs"],
        why: "libsqlite3-sys links the system SQLite (not `bundled`)",
    },
    NativeDep {
        krate: "prost-build",
        bundled_by: &["protoc-bin-vendored"],
        deb_build: &["protobuf-compiler"],
        deb_runtime: &[],
        apk_build: &["protobuf-dev", "protoc"],
        apk_runtime: &[],
        why: "prost-build runs `protoc` at build time",
    },
    NativeDep {
        krate: "bindgen",
        bundled_by: &[],
        deb_build: &["libclang-dev", "clang"],
        deb_runtime: &[],
        apk_build: &["clang-dev"],
        apk_runtime: &[],
        why: "bindgen loads libclang at build time",
    },
    NativeDep {
        krate: "cmake",
        bundled_by: &[],
        deb_build: &["cmake", "g++"],
        deb_runtime: &[],
        apk_build: &["cmake", "make", "g++"],
        apk_runtime: &[],
        why: "a -sys crate builds its C/C++ sources with CMake",
    },
    NativeDep {
        krate: "zstd-sys",
        bundled_by: &[],
        deb_build: &[],
        deb_runtime: &[],
        apk_build: &[],
        apk_runtime: &[],
        why: "zstd-sys compiles its vendored C sources (the C compiler is enough)",
    },
    NativeDep {
        krate: "curl-sys",
        bundled_by: &[],
        deb_build: &["pkg-config", "libcurl4-openssl-dev"],
        deb_runtime: &["libcurl4{t64}"],
        apk_build: &["pkgconf", "curl-dev"],
        apk_runtime: &["libcurl"],
        why: "curl-sys links the system libcurl when it finds one",
    },
    NativeDep {
        krate: "libgit2-sys",
        bundled_by: &[],
        deb_build: &[],
        deb_runtime: &[],
        apk_build: &[],
        apk_runtime: &[],
        why: "libgit2-sys compiles its vendored libgit2 when no system one is installed",
    },
    NativeDep {
        krate: "rdkafka-sys",
        bundled_by: &[],
        deb_build: &["cmake", "g++", "make", "python3"],
        deb_runtime: &[],
        apk_build: &["cmake", "g++", "make", "bash", "python3", "linux-headers"],
        apk_runtime: &[],
        why: "rdkafka-sys compiles librdkafka from source",
    },
];

/// A program a crate runs at build time. The Dockerfile installs it (the rows above); a build
/// on the host cannot, so when that build fails and the program is missing, the error names it.
#[derive(Debug, Clone, Copy)]
pub struct BuildTool {
    /// The crate whose presence in Cargo.lock means the program is run.
    pub krate: &'static str,
    /// As in [`NativeDep::bundled_by`]: these dependencies bring the program along.
    pub bundled_by: &'static [&'static str],
    pub program: &'static str,
    /// The crate's own variable that names the program instead of a PATH lookup.
    pub env: &'static str,
    /// The Debian package that installs it.
    pub deb: &'static str,
}

pub const BUILD_TOOLS: &[BuildTool] = &[
    BuildTool {
        krate: "prost-build",
        bundled_by: &["protoc-bin-vendored"],
        program: "protoc",
        env: "PROTOC",
        deb: "protobuf-compiler",
    },
    BuildTool {
        krate: "cmake",
        bundled_by: &[],
        program: "cmake",
        env: "CMAKE",
        deb: "cmake",
    },
];

/// The build tools the lockfile needs that are neither named by their variable (pointing at an
/// existing file) nor on `path`; `var` reads the environment.
pub fn missing_tools(
    locked: &[Locked],
    path: &std::ffi::OsStr,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Vec<&'static BuildTool> {
    BUILD_TOOLS
        .iter()
        .filter(|t| {
            locked.iter().any(|l| {
                l.name == t.krate && !l.deps.iter().any(|d| t.bundled_by.contains(&d.as_str()))
            })
        })
        .filter(|t| match var(t.env).filter(|v| !v.is_empty()) {
            Some(file) => !std::path::Path::new(&file).is_file(),
            None => crate::engine::on_path(t.program, path).is_none(),
        })
        .collect()
}

/// The hint for a failed host build whose lockfile needs a build tool that is missing here.
pub fn missing_tools_hint(lockfile: &str) -> Option<String> {
    let path = std::env::var_os(crate::settings::env::PATH).unwrap_or_default();
    let missing = missing_tools(&read_lockfile(lockfile), &path, |k| std::env::var_os(k));
    if missing.is_empty() {
        return None;
    }
    let lines: Vec<String> = missing
        .iter()
        .map(|t| {
            format!(
                "`{}` (in Cargo.lock) runs `{}` at build time, which is not on PATH: install it \
                 (Debian: `apt-get install {}`) or set {} to its path",
                t.krate, t.program, t.deb, t.env
            )
        })
        .collect();
    Some(lines.join("\n"))
}

/// A crate in the lockfile: its name and the names of its dependencies.
#[derive(Debug, Clone)]
pub struct Locked {
    pub name: String,
    pub deps: Vec<String>,
}

/// Every row of the table that applies to the lockfile, in table order.
pub fn detect(locked: &[Locked]) -> Vec<&'static NativeDep> {
    TABLE
        .iter()
        .filter(|row| {
            locked.iter().any(|l| {
                l.name == row.krate && !l.deps.iter().any(|d| row.bundled_by.contains(&d.as_str()))
            })
        })
        .collect()
}

/// Parse the `[[package]]` names and dependency names from Cargo.lock text. A lockfile that does
/// not parse yields nothing: the table is a convenience, cargo reports the real error.
pub fn read_lockfile(text: &str) -> Vec<Locked> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let packages = table.get("package").and_then(|p| p.as_array());
    packages
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_owned();
            // Entries are `name`, `name version` or `name version (source)`.
            let deps = p
                .get("dependencies")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str()?.split(' ').next().map(str::to_owned))
                .collect();
            Some(Locked { name, deps })
        })
        .collect()
}

/// Resolve `{t64}` for a Debian suite.
pub fn deb_name(pkg: &str, t64: bool) -> String {
    pkg.replace("{t64}", if t64 { "t64" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "libsqlite3-sys"
version = "0.30.1"
dependencies = ["cc", "pkg-config", "vcpkg"]

[[package]]
name = "openssl-sys"
version = "0.9.104"
dependencies = ["cc", "libc", "pkg-config", "vcpkg"]
"#;

    #[test]
    fn bundled_sqlite_needs_nothing_but_system_openssl_does() {
        let rows = detect(&read_lockfile(LOCK));
        let names: Vec<_> = rows.iter().map(|r| r.krate).collect();
        assert_eq!(names, ["openssl-sys"]);
    }

    #[test]
    fn a_build_tool_is_missing_unless_on_path_or_named_by_its_variable() {
        let lock = read_lockfile(
            "[[package]]\nname = \"prost-build\"\nversion = \"0.13.5\"\ndependencies = []\n",
        );
        let bin = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        let names = |v: Vec<&BuildTool>| v.iter().map(|t| t.program).collect::<Vec<_>>();
        assert_eq!(
            names(missing_tools(&lock, bin.path().as_os_str(), none)),
            ["protoc"]
        );

        let protoc = bin.path().join("protoc");
        std::fs::write(&protoc, "").unwrap();
        let named = |k: &str| (k == "PROTOC").then(|| protoc.clone().into_os_string());
        assert!(missing_tools(&lock, "".as_ref(), named).is_empty());

        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&protoc, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(missing_tools(&lock, bin.path().as_os_str(), none).is_empty());
        // Vendored protoc: nothing to install.
        let vendored = read_lockfile(
            "[[package]]\nname = \"prost-build\"\nversion = \"0.13.5\"\ndependencies = [\"protoc-bin-vendored\"]\n",
        );
        assert!(missing_tools(&vendored, "".as_ref(), none).is_empty());
    }

    #[test]
    fn t64_suffix_follows_the_suite() {
        assert_eq!(deb_name("libssl3{t64}", true), "libssl3t64");
        assert_eq!(deb_name("libssl3{t64}", false), "libssl3");
    }
}
