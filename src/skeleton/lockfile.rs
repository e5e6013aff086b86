//! The skeleton's `Cargo.lock`: the project's own lockfile with local package versions masked
//! and, for `prepare --bin`, the packages the selection cannot reach removed.
//!
//! Edited in place with `toml_edit` so that every untouched line keeps cargo's exact formatting:
//! `cargo build --locked` compares the file's text with what it would write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml_edit::{DocumentMut, Item, Value};

use crate::error::{Error, Result};
use crate::skeleton::manifest::MASKED_VERSION;

/// One `[[package]]` entry, as far as the graph is concerned.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    version: String,
    source: Option<String>,
    deps: Vec<String>,
}

pub struct Lockfile {
    doc: DocumentMut,
    entries: Vec<Entry>,
}

impl Lockfile {
    pub fn parse(text: &str, path: &Path) -> Result<Lockfile> {
        let doc: DocumentMut = text.parse().map_err(|e| {
            Error::user(format!("failed to parse `{}`", path.display()))
                .caused_by(e)
                .with_hint("run `cargo generate-lockfile` to rewrite it")
        })?;
        let mut entries = Vec::new();
        if let Some(pkgs) = doc.get("package").and_then(Item::as_array_of_tables) {
            for t in pkgs.iter() {
                let s = |k: &str| t.get(k).and_then(Item::as_str).map(str::to_owned);
                let deps = t
                    .get("dependencies")
                    .and_then(Item::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                entries.push(Entry {
                    name: s("name").unwrap_or_default(),
                    version: s("version").unwrap_or_default(),
                    source: s("source"),
                    deps,
                });
            }
        }
        Ok(Lockfile { doc, entries })
    }

    /// Names of packages that come from a registry or git.
    pub fn external_names(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .filter(|e| e.source.is_some())
            .map(|e| e.name.clone())
            .collect()
    }

    /// Names that registry or git packages depend on (a `[patch]` can make them local).
    pub fn depended_on_by_external(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .filter(|e| e.source.is_some())
            .flat_map(|e| e.deps.iter())
            .filter_map(|d| d.split(' ').next().map(str::to_owned))
            .collect()
    }

    /// Keep only what the local packages named in `roots` can reach.
    pub fn prune(&mut self, roots: &BTreeSet<String>) {
        let mut keep = vec![false; self.entries.len()];
        let mut stack: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].source.is_none() && roots.contains(&self.entries[i].name))
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            for dep in &self.entries[i].deps {
                stack.extend(self.resolve(dep).filter(|&j| !keep[j]));
            }
        }
        let mut i = 0;
        if let Some(pkgs) = self
            .doc
            .get_mut("package")
            .and_then(Item::as_array_of_tables_mut)
        {
            pkgs.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        let mut i = 0;
        self.entries.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }

    /// `name`, `name version` or `name version (source)` → the entries it can mean.
    fn resolve<'a>(&'a self, reference: &'a str) -> impl Iterator<Item = usize> + 'a {
        let mut parts = reference.splitn(3, ' ');
        let name = parts.next().unwrap_or_default();
        let version = parts.next();
        let source = parts
            .next()
            .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
        (0..self.entries.len()).filter(move |&i| {
            let e = &self.entries[i];
            e.name == name
                && version.is_none_or(|v| v == e.version)
                && source.is_none_or(|s| e.source.as_deref() == Some(s))
        })
    }

    /// Set the version of the local (source-less) packages named in `names` to the masked one.
    /// Only called for names that are unique in the lockfile, so no dependency reference spells
    /// out the version and nothing needs re-sorting.
    pub fn mask_versions(&mut self, names: &BTreeSet<String>) {
        let Some(pkgs) = self
            .doc
            .get_mut("package")
            .and_then(Item::as_array_of_tables_mut)
        else {
            return;
        };
        for t in pkgs.iter_mut() {
            let local = t.get("source").is_none();
            let named = t
                .get("name")
                .and_then(Item::as_str)
                .is_some_and(|n| names.contains(n));
            if local
                && named
                && let Some(v) = t.get_mut("version").and_then(Item::as_value_mut)
            {
                let decor = v.decor().clone();
                *v = Value::from(MASKED_VERSION);
                *v.decor_mut() = decor;
            }
        }
    }

    /// How many entries share each name.
    pub fn name_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.entries {
            *counts.entry(e.name.clone()).or_default() += 1;
        }
        counts
    }

    pub fn render(&self) -> String {
        self.doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 4

[[package]]
name = "app"
version = "0.3.1"
dependencies = [
 "itoa",
 "util",
]

[[package]]
name = "itoa"
version = "1.0.15"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "4a5f13b858c8d314ee3e8f639011f7ccefe71f97f96e50151fb991f267928e2c"

[[package]]
name = "other"
version = "0.1.0"
dependencies = [
 "ryu",
]

[[package]]
name = "ryu"
version = "1.0.20"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "28d3b2b1366ec20994f1fd18c3c594f05c5dd4bc44d8bb0c1c632c8d6829481f"

[[package]]
name = "util"
version = "2.0.0"
"#;

    #[test]
    fn masking_changes_only_local_version_lines() {
        let mut lock = Lockfile::parse(LOCK, Path::new("Cargo.lock")).unwrap();
        lock.mask_versions(&["app".to_owned(), "util".to_owned()].into());
        let out = lock.render();
        assert_eq!(
            out,
            LOCK.replace("\"0.3.1\"", "\"0.0.0\"")
                .replace("\"2.0.0\"", "\"0.0.0\"")
        );
    }

    #[test]
    fn prune_keeps_what_the_roots_reach() {
        let mut lock = Lockfile::parse(LOCK, Path::new("Cargo.lock")).unwrap();
        lock.prune(&["app".to_owned()].into());
        let out = lock.render();
        assert!(out.contains("name = \"itoa\""));
        assert!(out.contains("name = \"util\""));
        assert!(!out.contains("name = \"other\""), "{out}");
        assert!(!out.contains("name = \"ryu\""), "{out}");
    }
}
