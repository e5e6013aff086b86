//! The quick part of the real-world corpus (tests/corpus/projects.toml, downloaded by
//! scripts/corpus-fetch.sh): `prepare` on each published project gives a recipe that parses,
//! lists the project's bin and local packages, and is byte-identical run twice and from a copy
//! at another path. Needs no network once fetched. The slow part is scripts/corpus.sh.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cargo_gantry::skeleton::Recipe;

use crate::support::*;

struct Project {
    name: String,
    bin: String,
    packages: BTreeSet<String>,
}

fn projects() -> Vec<Project> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("tests/corpus/projects.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let strings = |v: &toml::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    doc["project"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Project {
            name: p["name"].as_str().unwrap().to_owned(),
            bin: p["bin"].as_str().unwrap().to_owned(),
            packages: strings(&p["packages"]).into_iter().collect(),
        })
        .collect()
}

fn corpus_dir() -> PathBuf {
    match std::env::var_os("GANTRY_CORPUS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/corpus"),
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn prepare(dir: &Path, name: &str) -> String {
    let out = gantry(dir, &["prepare", "--recipe-path", "-"]);
    assert!(
        out.status.success(),
        "{name}: prepare failed ({}):\n{}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn corpus_recipes_list_the_bins_and_packages_and_are_stable_across_runs_and_paths() {
    let src = corpus_dir().join("src");
    let fx = Fixture::new();
    let mut failures = Vec::new();
    for p in projects() {
        let tree = src.join(&p.name);
        assert!(
            tree.is_dir(),
            "{} is missing\nhint: run scripts/corpus-fetch.sh (scripts/test.sh does)",
            tree.display()
        );
        // Copies, so that nothing prepare might write lands in the shared corpus tree.
        let a = fx.path(&format!("a/{}", p.name));
        let b = fx.path(&format!("elsewhere/b/{}", p.name));
        copy_tree(&tree, &a);
        copy_tree(&tree, &b);

        let first = prepare(&a, &p.name);
        let recipe = match Recipe::from_json(&first, Path::new("-")) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{}: the recipe does not parse: {}",
                    p.name,
                    e.render()
                ));
                continue;
            }
        };
        if !recipe.bins.contains_key(&p.bin) {
            failures.push(format!(
                "{}: bins {:?} lack `{}`",
                p.name, recipe.bins, p.bin
            ));
        }
        let locals: BTreeSet<String> = recipe.local_packages.iter().cloned().collect();
        if locals != p.packages {
            failures.push(format!(
                "{}: local packages {locals:?}, expected {:?}",
                p.name, p.packages
            ));
        }
        if prepare(&a, &p.name) != first {
            failures.push(format!("{}: a second prepare gave another recipe", p.name));
        }
        if prepare(&b, &p.name) != first {
            failures.push(format!(
                "{}: a copy at another path gave another recipe",
                p.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
