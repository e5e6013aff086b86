"""The corpus, as data: read tests/corpus/projects.toml, download the crates with cargo, lay out
the source trees. Used by scripts/corpus-fetch.sh and scripts/corpus.sh.

    corpus.py fetch [NAME…]      download (cached), verify sha256, extract into $DIR/src/NAME
    corpus.py list               one project name a line
    corpus.py get NAME KEY       a field (lists joined by spaces)

$DIR is ${GANTRY_CORPUS_DIR:-target/corpus}. Crates are downloaded by `cargo fetch` of a
throwaway manifest per project ($DIR/fetch/NAME) with its own CARGO_HOME ($DIR/cargo-home), so
nothing here reads or writes the user's ~/.cargo.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = ROOT / "tests/corpus/projects.toml"
DIR = Path(os.environ.get("GANTRY_CORPUS_DIR") or ROOT / "target/corpus").resolve()
CARGO_HOME = DIR / "cargo-home"
# Bump when the layout this script writes changes: every tree is then laid out again.
LAYOUT_VERSION = "1"


def log(msg):
    print(f"[corpus-fetch] {msg}", file=sys.stderr)


def projects():
    return tomllib.loads(PROJECTS.read_text())["project"]


def project(name):
    for p in projects():
        if p["name"] == name:
            return p
    sys.exit(f"error: no project `{name}` in {PROJECTS}")


def run(cmd, cwd):
    env = dict(os.environ, CARGO_HOME=str(CARGO_HOME))
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: `{' '.join(cmd)}` in {cwd} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout


def stamp_of(p):
    """What the tree depends on: the project's entry and the files we author for it."""
    h = hashlib.sha256(LAYOUT_VERSION.encode())
    h.update(json.dumps(p, sort_keys=True).encode())
    extra = []
    if p.get("root"):
        extra.append(ROOT / p["root"])
    if p.get("fixture"):
        extra += sorted(f for f in (ROOT / p["fixture"]).rglob("*") if f.is_file())
    for f in extra:
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def crate_file(c):
    """The downloaded .crate: `cargo fetch` of a throwaway manifest that depends on it exactly
    (bin-only packages too: cargo downloads what it resolves, whatever the targets)."""
    cache = sorted((CARGO_HOME / "registry/cache").glob(f"*/{c['name']}-{c['version']}.crate"))
    if cache:
        return cache[0]
    return None


def download(p):
    missing = [c for c in p["crates"] if crate_file(c) is None]
    if not missing:
        return
    d = DIR / "fetch" / p["name"]
    (d / "src").mkdir(parents=True, exist_ok=True)
    (d / "src/lib.rs").write_text("")
    deps = "\n".join(
        f'c{i} = {{ package = "{c["name"]}", version = "={c["version"]}" }}'
        for i, c in enumerate(p["crates"])
    )
    (d / "Cargo.toml").write_text(
        f'[package]\nname = "corpus-fetch-{p["name"]}"\nversion = "0.0.0"\nedition = "2021"\n'
        f"publish = false\n\n[workspace]\n\n[dependencies]\n{deps}\n"
    )
    log(f"{p['name']}: cargo fetch")
    run(["cargo", "fetch", "--quiet"], d)
    lock = tomllib.loads((d / "Cargo.lock").read_text())
    for c in p["crates"]:
        entry = [x for x in lock["package"] if x["name"] == c["name"] and x["version"] == c["version"]]
        if not entry or entry[0].get("checksum") != c["sha256"]:
            sys.exit(f"error: the registry index has another checksum for `{c['name']}` {c['version']}: "
                     f"{entry[0].get('checksum') if entry else 'none'}, projects.toml says {c['sha256']}")


def verify(c):
    f = crate_file(c)
    if f is None:
        sys.exit(f"error: `{c['name']}` {c['version']} was not downloaded")
    got = hashlib.sha256(f.read_bytes()).hexdigest()
    if got != c["sha256"]:
        sys.exit(f"error: {f}: sha256 {got}, projects.toml says {c['sha256']}")
    return f


def extract(f, dest):
    """The package's files, exactly as published (one top directory NAME-VERSION/)."""
    tmp = dest.parent / (dest.name + ".x")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(f) as t:
        t.extractall(tmp, filter="data")
    (top,) = list(tmp.iterdir())
    dest.parent.mkdir(parents=True, exist_ok=True)
    top.rename(dest)
    tmp.rmdir()


def merged_lock(paths):
    """The union of the members' published locks: every package any member locked."""
    seen, out = set(), []
    for path in paths:
        for pkg in tomllib.loads(path.read_text()).get("package", []):
            key = (pkg["name"], pkg["version"], pkg.get("source"))
            if key not in seen:
                seen.add(key)
                out.append(pkg)
    lines = ["version = 4", ""]
    for pkg in sorted(out, key=lambda x: (x["name"], x["version"], x.get("source") or "")):
        lines.append("[[package]]")
        for k in ("name", "version", "source", "checksum"):
            if k in pkg:
                lines.append(f'{k} = "{pkg[k]}"')
        if pkg.get("dependencies"):
            lines.append("dependencies = [")
            lines += [f' "{d}",' for d in pkg["dependencies"]]
            lines.append("]")
        lines.append("")
    return "\n".join(lines)


def lay_out(p, tree):
    if p["layout"] == "crate":
        (c,) = p["crates"]
        extract(verify(c), tree)
    elif p["layout"] == "workspace":
        tree.mkdir(parents=True)
        locks = []
        for c in p["crates"]:
            member = tree / c["dir"]
            extract(verify(c), member)
            # The manifest as written upstream (workspace = true, path deps), not the
            # normalized one cargo generated for the registry.
            (member / "Cargo.toml.orig").replace(member / "Cargo.toml")
            if (member / "Cargo.lock").exists():
                locks.append(member / "Cargo.lock.published")
                (member / "Cargo.lock").replace(locks[-1])
        shutil.copy(ROOT / p["root"], tree / "Cargo.toml")
        (tree / "Cargo.lock").write_text(merged_lock(locks))
        for lock in locks:
            lock.unlink()
        # Settle the lock for this layout (members become path packages); resolves online
        # once, against the versions the members locked.
        run(["cargo", "metadata", "--format-version", "1", "--quiet"], tree)
    elif p["layout"] == "fixture":
        shutil.copytree(ROOT / p["fixture"], tree)
    else:
        sys.exit(f"error: project `{p['name']}`: unknown layout `{p['layout']}`")
    for lic in p.get("license", []):
        if not (tree / lic).exists():
            sys.exit(f"error: project `{p['name']}`: licence file `{lic}` is not in the package")


def fetch(names):
    for p in projects():
        if names and p["name"] not in names:
            continue
        tree = DIR / "src" / p["name"]
        stamp = DIR / "src" / f"{p['name']}.stamp"
        want = stamp_of(p)
        if tree.is_dir() and stamp.exists() and stamp.read_text() == want:
            continue
        download(p)
        shutil.rmtree(tree, ignore_errors=True)
        stamp.unlink(missing_ok=True)
        lay_out(p, tree)
        stamp.write_text(want)
        log(f"{p['name']}: {tree}")


def main(argv):
    if not argv or argv[0] == "fetch":
        fetch(set(argv[1:]))
    elif argv[0] == "list":
        print("\n".join(p["name"] for p in projects()))
    elif argv[0] == "get" and len(argv) == 3:
        v = project(argv[1]).get(argv[2], "")
        print(" ".join(map(str, v)) if isinstance(v, list) else v)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
