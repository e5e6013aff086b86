//! `cargo gantry resolve -f FILE|DIR|-`: build every binary the YAML names as `gantry://BIN`
//! (or `gantry://PACKAGE/BIN`) in one cargo run, push each (or load it), and print the same YAML
//! with the references replaced by `REPO/BIN@sha256:…`: only those bytes change.

use std::io::Read;
use std::path::{Path, PathBuf};

use cargo_gantry::settings::env;
use cargo_gantry::yamlrefs::{self, Reference};
use cargo_gantry::{Error, Result, project};

use crate::cli::ResolveArgs;

/// One input file: its text and the references in it (which carry its name for messages).
struct Input {
    text: String,
    refs: Vec<Reference>,
}

pub fn run(args: &ResolveArgs) -> Result<()> {
    let b = &args.image.build;
    if !b.bins.is_empty() || !b.packages.is_empty() || b.workspace {
        return Err(
            Error::user("`cargo gantry resolve` builds the binaries the YAML names")
                .with_hint("drop --bin/-p/--workspace; write `image: gantry://BIN` in the YAML"),
        );
    }
    let mut inputs = Vec::new();
    for f in &args.files {
        for (name, text) in read(f)? {
            let refs = yamlrefs::find(&name, &text)?;
            inputs.push(Input { text, refs });
        }
    }
    if inputs.is_empty() {
        return Err(Error::user("no YAML files to resolve")
            .with_hint("pass -f FILE, -f DIR (its *.yaml and *.yml) or -f - (stdin)"));
    }

    // Every reference must name a binary of this workspace, checked before anything is built.
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let project = project::analyze(&cwd, args.image.manifest_path.as_deref())?;
    let mut bins: Vec<String> = Vec::new();
    for r in inputs.iter().flat_map(|i| &i.refs) {
        let known = project.members().any(|p| {
            r.package.as_ref().is_none_or(|want| *want == p.name)
                && p.bins().any(|t| t.name == r.bin)
        });
        if !known {
            return Err(Error::user(format!(
                "{}: `{}` names no binary of this workspace",
                r.location(),
                reference_text(r)
            ))
            .with_hint(format!("the binaries are: {}", all_bins(&project))));
        }
        if !bins.contains(&r.bin) {
            bins.push(r.bin.clone());
        }
    }

    let mut image = args.image.clone();
    if !bins.is_empty() {
        if image.repo.is_none() {
            image.repo = std::env::var(env::REPO)
                .ok()
                .filter(|v| !v.trim().is_empty());
        }
        if image.repo.is_none() {
            image.repo = project.settings.repo.clone();
        }
        if image.repo.is_none() && !image.load {
            return Err(Error::user("`cargo gantry resolve` needs somewhere to put the images")
                .with_hint(format!(
                    "pass --repo REGISTRY/PREFIX (or set {} or `repo` in [workspace.metadata.gantry]), or --load for a local cluster",
                    env::REPO
                )));
        }
        image.build.bins = bins;
    }
    let outcomes = if image.build.bins.is_empty() {
        Vec::new()
    } else {
        super::build::build(&image)?
    };
    // What each binary's references become: the pushed `REPO/BIN@sha256:…`, else (--load) the
    // local `BIN:VERSION` name the engine knows.
    let resolved = |bin: &str| -> String {
        let out = outcomes
            .iter()
            .find(|o| o.target.bin == bin)
            .expect("every referenced binary was built");
        out.published
            .references
            .iter()
            .find(|r| !super::build::is_local(r))
            .cloned()
            .unwrap_or_else(|| out.target.tag.clone())
    };
    let mut printed = String::new();
    for (i, input) in inputs.iter().enumerate() {
        let edits: Vec<(std::ops::Range<usize>, String)> = input
            .refs
            .iter()
            .map(|r| (r.span.clone(), resolved(&r.bin)))
            .collect();
        let text = yamlrefs::replace(&input.text, &edits);
        // Several files become one multi-document stream.
        if i > 0 {
            if !printed.ends_with('\n') {
                printed.push('\n');
            }
            printed.push_str("---\n");
        }
        printed.push_str(&text);
    }
    print!("{printed}");
    Ok(())
}

fn reference_text(r: &Reference) -> String {
    match &r.package {
        Some(p) => format!("gantry://{p}/{}", r.bin),
        None => format!("gantry://{}", r.bin),
    }
}

fn all_bins(project: &project::Project) -> String {
    let all: Vec<String> = project
        .members()
        .flat_map(|p| p.bins().map(|t| format!("`{}`", t.name)))
        .collect();
    if all.is_empty() {
        "(none)".to_owned()
    } else {
        all.join(", ")
    }
}

/// `-` (stdin), a file, or a directory's `*.yaml`/`*.yml` files (recursively, sorted).
fn read(path: &Path) -> Result<Vec<(String, String)>> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::io("read", Path::new("<stdin>"), e))?;
        return Ok(vec![("<stdin>".to_owned(), text)]);
    }
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::user(format!("cannot read `{}`", path.display()))
            .caused_by(e)
            .with_hint("pass -f FILE, -f DIR or -f -")
    })?;
    let mut files: Vec<PathBuf> = Vec::new();
    if meta.is_dir() {
        collect(path, &mut files)?;
        files.sort();
    } else {
        files.push(path.to_owned());
    }
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).map_err(|e| Error::io("read", &f, e))?;
            Ok((f.display().to_string(), text))
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read", dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io("read", dir, e))?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}
