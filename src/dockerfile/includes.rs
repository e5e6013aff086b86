//! Files the compiler reads through `include_str!`/`include_bytes!`: the `.dockerignore` must
//! not hide them, even when they look like secrets (`*.pem`: a proxy that embeds its test
//! certificates failed to compile in the build context otherwise).

use std::path::{Path, PathBuf};

use crate::project::{Project, normalize, relative_path};

/// Paths relative to the workspace root of every file a local package's `.rs` sources include
/// with a string literal, sorted; files outside the root or missing are left out.
pub fn included_files(project: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for pkg in &project.packages {
        let dir = normalize(&project.root.join(&pkg.dir));
        let mut sources = Vec::new();
        rust_files(&dir, &mut sources, 0);
        for src in sources {
            let Ok(text) = std::fs::read_to_string(&src) else {
                continue;
            };
            let base = src.parent().unwrap_or(&dir);
            for lit in literals(&text) {
                let file = normalize(&base.join(lit));
                if file.is_file() && file.starts_with(&project.root) {
                    out.push(relative_path(&project.root, &file));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `.rs` files below `dir`, not descending into build outputs, VCS data or vendored trees.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 12 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "vendor" | "node_modules") {
                rust_files(&e.path(), out, depth + 1);
            }
        } else if kind.is_file() && name.ends_with(".rs") {
            out.push(e.path());
        }
    }
}

/// The string literals passed to `include_str!` / `include_bytes!` (plain `"…"` only: a
/// `concat!(env!(…))` path is computed at build time and cannot be known here).
fn literals(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for mac in ["include_str!", "include_bytes!"] {
        let mut rest = text;
        while let Some(at) = rest.find(mac) {
            rest = &rest[at + mac.len()..];
            let inner = rest.trim_start();
            let Some(inner) = inner.strip_prefix(['(', '[', '{']) else {
                continue;
            };
            let inner = inner.trim_start();
            let Some(inner) = inner.strip_prefix('"') else {
                continue;
            };
            if let Some(end) = inner.find('"') {
                let lit = &inner[..end];
                if !lit.contains('\\') {
                    out.push(lit);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_plain_include_literals_only() {
        let src = r#"
            const CERT: &str = include_str!("../assets/cert.pem");
            static KEY: &[u8] = include_bytes! ( "key.der" );
            const GEN: &str = include_str!(concat!(env!("OUT_DIR"), "/gen.rs"));
        "#;
        assert_eq!(literals(src), ["../assets/cert.pem", "key.der"]);
    }
}
