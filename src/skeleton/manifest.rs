//! Normalize one `Cargo.toml` into its skeleton form: only what can change how dependencies
//! compile, in a canonical layout (sorted keys, no comments), with every kept target declared
//! explicitly and auto-discovery switched off.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::{Table, Value};

use crate::error::Result;
use crate::project::{Kind, LocalPackage, join_rel, parse_toml};
use crate::skeleton::recipe::Dummy;

/// `[package]` keys that never change how anything compiles (or only the local crate's
/// `CARGO_PKG_*` variables, and local crates are always rebuilt anyway).
const PACKAGE_NOISE: &[&str] = &[
    "authors",
    "categories",
    "default-run",
    "description",
    "documentation",
    "exclude",
    "homepage",
    "include",
    "keywords",
    "license",
    "license-file",
    "metadata",
    "publish",
    "readme",
    "repository",
    // Not `rust-version`: cargo refuses a toolchain older than it, and cook must fail where the
    // real build would (a recipe without it cooked fine, then the build failed).
];

/// Top-level tables that only concern the local crates' lints and tooling.
const TOP_NOISE: &[&str] = &["badges", "lints"];

const DEP_TABLES: &[&str] = &[
    "dependencies",
    "dev-dependencies",
    "dev_dependencies",
    "build-dependencies",
    "build_dependencies",
];

/// The version every masked local package gets, so local version bumps do not change the recipe.
pub const MASKED_VERSION: &str = "0.0.0";

/// The name of the stand-in targets for auto-discovered ones.
const PRESENCE_NAME: &str = "gantry-skeleton";

pub struct Normalize<'a> {
    /// Directories (relative to the root) of local packages whose version is masked.
    pub masked_dirs: &'a BTreeSet<String>,
    /// Bins kept although auto-discovered (named by `prepare --bin`).
    pub keep_bins: &'a BTreeSet<String>,
}

/// The root's `[workspace]` as the skeleton writes it.
pub struct WorkspaceShape {
    pub members: Vec<String>,
    pub default_members: Option<Vec<String>>,
    /// Keep `[workspace.package] version`: some unmasked package inherits it.
    pub keep_version: bool,
}

pub struct Skeleton {
    pub text: String,
    /// Placeholder sources, by path relative to the workspace root.
    pub dummies: BTreeMap<String, Dummy>,
}

impl Normalize<'_> {
    /// Normalize the manifest of `pkg` (and of the workspace, when it is also the root).
    pub fn package(
        &self,
        pkg: &LocalPackage,
        workspace: Option<&WorkspaceShape>,
    ) -> Result<Skeleton> {
        let path = Path::new(&pkg.dir).join("Cargo.toml");
        let mut table = parse_toml(&pkg.manifest_text, &path)?;
        for key in TOP_NOISE {
            table.remove(*key);
        }
        let mask = self.masked_dirs.contains(&pkg.dir);
        if let Some(Value::Table(package)) = table.get_mut("package") {
            for key in PACKAGE_NOISE {
                package.remove(*key);
            }
            if mask {
                package.insert("version".into(), Value::String(MASKED_VERSION.into()));
            }
            for auto in ["autobins", "autoexamples", "autotests", "autobenches"] {
                package.insert(auto.into(), Value::Boolean(false));
            }
        }
        self.strip_local_versions(&mut table, &pkg.dir);
        if let Some(ws) = workspace {
            self.workspace(&mut table, ws);
        }
        let dummies = self.targets(&mut table, pkg);
        Ok(Skeleton {
            text: render(&table),
            dummies,
        })
    }

    /// Normalize a virtual workspace root manifest.
    pub fn virtual_root(&self, text: &str, ws: &WorkspaceShape) -> Result<Skeleton> {
        let mut table = parse_toml(text, Path::new("Cargo.toml"))?;
        for key in TOP_NOISE {
            table.remove(*key);
        }
        self.workspace(&mut table, ws);
        Ok(Skeleton {
            text: render(&table),
            dummies: BTreeMap::new(),
        })
    }

    fn workspace(&self, table: &mut Table, shape: &WorkspaceShape) {
        let Some(Value::Table(ws)) = table.get_mut("workspace") else {
            return;
        };
        ws.remove("metadata");
        ws.remove("lints");
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        ws.insert("members".into(), strings(&shape.members));
        match &shape.default_members {
            Some(d) if !d.is_empty() => {
                ws.insert("default-members".into(), strings(d));
            }
            _ => {
                ws.remove("default-members");
            }
        }
        if let Some(Value::Table(package)) = ws.get_mut("package") {
            for key in PACKAGE_NOISE {
                package.remove(*key);
            }
            if !shape.keep_version {
                package.remove("version");
            }
        }
        if let Some(Value::Table(deps)) = ws.get_mut("dependencies") {
            self.strip_versions_in(deps, "");
        }
    }

    /// Drop `version = …` from path dependencies on masked local packages: their requirement
    /// would not match the masked version, and a bump must not change the recipe.
    fn strip_local_versions(&self, table: &mut Table, dir: &str) {
        for name in DEP_TABLES {
            if let Some(Value::Table(deps)) = table.get_mut(*name) {
                self.strip_versions_in(deps, dir);
            }
        }
        if let Some(Value::Table(targets)) = table.get_mut("target") {
            for cfg in targets.iter_mut().map(|(_, v)| v) {
                if let Value::Table(cfg) = cfg {
                    for name in DEP_TABLES {
                        if let Some(Value::Table(deps)) = cfg.get_mut(*name) {
                            self.strip_versions_in(deps, dir);
                        }
                    }
                }
            }
        }
    }

    fn strip_versions_in(&self, deps: &mut Table, dir: &str) {
        for (_, spec) in deps.iter_mut() {
            if let Value::Table(spec) = spec {
                let local = spec
                    .get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| self.masked_dirs.contains(&join_rel(dir, p)));
                if local {
                    spec.remove("version");
                }
            }
        }
    }

    /// Rewrite the target tables; returns the placeholder files to create.
    fn targets(&self, table: &mut Table, pkg: &LocalPackage) -> BTreeMap<String, Dummy> {
        let original_lib = table.remove("lib");
        let mut declared: BTreeMap<(&str, String), Table> = BTreeMap::new();
        for key in ["bin", "example", "test", "bench"] {
            if let Some(Value::Array(items)) = table.remove(key) {
                for item in items {
                    if let Value::Table(t) = item {
                        let name = t
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        declared.insert((key, name), t);
                    }
                }
            }
        }
        let mut dummies = BTreeMap::new();
        let mut add_dummy = |rel: &str, d: Dummy| {
            let entry = dummies.entry(join_rel(&pkg.dir, rel)).or_insert(d);
            *entry = (*entry).max(d);
        };
        let mut arrays: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        let mut auto_kinds: BTreeSet<&str> = BTreeSet::new();
        let mut has_lib = false;
        for t in &pkg.targets {
            let key = match t.kind {
                Kind::Lib | Kind::ProcMacro => {
                    let mut lib = match &original_lib {
                        Some(Value::Table(l)) => l.clone(),
                        _ => Table::new(),
                    };
                    lib.insert("path".into(), Value::String(t.src_path.clone()));
                    table.insert("lib".into(), Value::Table(lib));
                    add_dummy(&t.src_path, Dummy::Lib);
                    has_lib = true;
                    continue;
                }
                Kind::Build => {
                    if let Some(Value::Table(package)) = table.get_mut("package") {
                        package.insert("build".into(), Value::String(t.src_path.clone()));
                    }
                    add_dummy(&t.src_path, Dummy::Main);
                    continue;
                }
                Kind::Bin => "bin",
                Kind::Example => "example",
                Kind::Test => "test",
                Kind::Bench => "bench",
            };
            let is_default_bin = key == "bin" && t.src_path == "src/main.rs";
            let entry = match declared.get(&(key, t.name.clone())) {
                Some(d) => Some(d.clone()),
                None if is_default_bin || (key == "bin" && self.keep_bins.contains(&t.name)) => {
                    Some(Table::from_iter([(
                        "name".to_owned(),
                        Value::String(t.name.clone()),
                    )]))
                }
                None => None,
            };
            match entry {
                Some(mut e) => {
                    e.insert("path".into(), Value::String(t.src_path.clone()));
                    arrays.entry(key).or_default().push(Value::Table(e));
                    add_dummy(&t.src_path, Dummy::Main);
                }
                // Auto-discovered: only whether the kind exists can matter to dependencies.
                None => {
                    auto_kinds.insert(key);
                }
            }
        }
        // Auto-discovered targets are left out, so adding one cannot change the recipe. What
        // they could change for dependencies is covered without them: tests and benches need
        // the dev-dependencies, which the lib's and bins' own unit tests need too; examples are
        // the exception (`--examples` builds nothing else), so every member gets one stand-in.
        let needs_stand_in_bin =
            auto_kinds.contains("bin") && !has_lib && !arrays.contains_key("bin");
        let mut stand_ins = Vec::new();
        if needs_stand_in_bin {
            stand_ins.push("bin");
        }
        // Unless no kept lib or bin runs unit tests (`test = false`): then only the
        // integration tests would pull the dev-dependencies in `--tests`.
        let kept_bin = |name: &str| {
            arrays.get("bin").is_some_and(|bins| {
                bins.iter()
                    .any(|b| b.get("name").and_then(Value::as_str) == Some(name))
            })
        };
        let unit_tested = pkg.targets.iter().any(|t| {
            t.test
                && match t.kind {
                    Kind::Lib | Kind::ProcMacro => true,
                    Kind::Bin => kept_bin(&t.name),
                    _ => false,
                }
        });
        if auto_kinds.contains("test") && !unit_tested && !arrays.contains_key("test") {
            stand_ins.push("test");
        }
        if pkg.member && !arrays.contains_key("example") {
            stand_ins.push("example");
        }
        for key in stand_ins {
            let path = format!(".gantry-skeleton/{key}.rs");
            let e = Table::from_iter([
                ("name".to_owned(), Value::String(PRESENCE_NAME.into())),
                ("path".to_owned(), Value::String(path.clone())),
            ]);
            arrays.entry(key).or_default().push(Value::Table(e));
            add_dummy(&path, Dummy::Main);
        }
        for (key, mut items) in arrays {
            items.sort_by_key(|v| v.get("name").and_then(Value::as_str).map(str::to_owned));
            table.insert(key.into(), Value::Array(items));
        }
        dummies
    }
}

fn render(table: &Table) -> String {
    toml::to_string(table).expect("a parsed manifest always serializes")
}
