#!/usr/bin/env bash
# cross-builder.sh — make `gantry-test/rust-cross:1.96-bookworm`, a builder image for the tests
# of cross-compiled Dockerfiles (tests/it/dockerfile_platforms.rs): debian:bookworm-slim plus
# this machine's Debian packages for cross builds, copied file by file from the host (no network
# inside the build, nothing pulled):
#   rustc-web/cargo-web 1.96 with the x86_64 and the aarch64 standard library, gcc and
#   libc6-dev, the aarch64 cross gcc/binutils and libc6-dev-arm64-cross, zlib1g-dev for both
#   architectures, pkg-config, make,
# with CARGO_HOME=/usr/local/cargo like the official rust images (the generated Dockerfile
# appends to /usr/local/cargo/config.toml). The copied packages are the dependency closure of
# those roots on this machine, minus what the base image already has at the same version.
# Also `gantry-test/distroless-cc-debian12:{amd64,arm64}`, runtimes like
# gcr.io/distroless/cc-debian12:nonroot (plus zlib) from the host's libc6 family of each
# architecture, each with its architecture in the image config: Docker 20.10 does not use a
# local image of another architecture for `FROM --platform=linux/arm64 …`, it tries to pull one,
# and its classic image store holds one architecture per tag.
#
# Needs: an amd64 Debian 12 host, make-local-images.sh (debian:bookworm-slim) and setup-arm64.sh
# (the arm64 packages) first; installs the other packages when missing.
# Idempotent: each image carries a fingerprint label and is rebuilt only when its inputs change.
# FORCE=1 rebuilds.
set -euo pipefail

export DOCKER_BUILDKIT=1 LC_ALL=C
DOCKER=/usr/bin/docker
FORCE=${FORCE:-0}
WORK=${GANTRY_IMAGES_WORK:-/var/tmp/gantry-local-images}/cross
BASE=debian:bookworm-slim
BUILDER=gantry-test/rust-cross:1.96-bookworm
RUNTIME=gantry-test/distroless-cc-debian12
REV=1
ROOTS=(rustc-web:amd64 cargo-web:amd64 libstd-rust-web-dev:amd64 libstd-rust-web-dev:arm64
       gcc:amd64 libc6-dev:amd64 make:amd64 pkg-config:amd64 zlib1g-dev:amd64
       gcc-aarch64-linux-gnu:amd64 libc6-dev-arm64-cross:all zlib1g-dev:arm64 libssl-dev:arm64)
RUNTIME_PKGS=(libc6 libgcc-s1 libstdc++6 libssl3 zlib1g)

log() { printf '[cross-builder %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
sha() { sha256sum | cut -c1-16; }
fp_of() { $DOCKER image inspect -f '{{index .Config.Labels "gantry.local-image.fingerprint"}}' "$1" 2>/dev/null || true; }
fresh() { [ "$FORCE" != 1 ] && [ "$(fp_of "$1")" = "$2" ]; }
fn_src() { sed -n "/^$1()/,/^}/p" "$0"; }

# The host's packages go onto $BASE: they must be Debian 12's.
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] && [ "$(dpkg --print-architecture)" = amd64 ] \
  || { log "needs an amd64 Debian 12 (bookworm) host, not ${PRETTY_NAME:-unknown}"; exit 1; }
$DOCKER image inspect "$BASE" >/dev/null 2>&1 || { log "no $BASE: run make-local-images.sh first"; exit 1; }
missing=()
for p in "${ROOTS[@]}" "${RUNTIME_PKGS[@]/%/:amd64}" "${RUNTIME_PKGS[@]/%/:arm64}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  # the arm64 ones come from setup-arm64.sh (dpkg architecture arm64); the rest is plain Debian
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
mkdir -p "$WORK"

# Installed packages (name:arch=version) reachable from the arguments through Depends and
# Pre-Depends, alternatives resolved to the installed one, virtual packages to their provider.
closure() {
  dpkg-query -W -f='${db:Status-Abbrev}\t${Package}:${Architecture}\t${Version}\t${Multi-Arch}\t${Provides}\t${Pre-Depends}, ${Depends}\n' \
    | python3 -c '
import re, sys
inst, provides = {}, {}
for line in sys.stdin:
    st, pkg, ver, ma, prov, deps = line.rstrip("\n").split("\t")
    if not st.startswith("ii"):
        continue
    inst[pkg] = (ver, ma, deps)
    name, arch = pkg.split(":")
    for p in filter(None, (x.strip() for x in prov.split(","))):
        provides.setdefault(p.split()[0] + ":" + arch, []).append(pkg)
def find(dep, arch):
    name = re.sub(r"\s*[\(\[].*", "", dep.strip())
    name, _, qual = name.partition(":")
    arches = [a for a in (inst.keys()) if a.startswith(name + ":")] if qual == "any" else \
             [name + ":" + arch, name + ":all", name + ":amd64"]
    for cand in arches:
        if cand in inst:
            # a dependency on a package of another architecture holds only if it is foreign
            if cand.split(":")[1] in (arch, "all") or inst[cand][1] in ("foreign", "allowed") or qual == "any":
                return cand
    for cand in [name + ":" + arch, name + ":amd64"]:
        if cand in provides:
            return provides[cand][0]
    return None
todo, seen = sys.argv[1:], set()
while todo:
    p = todo.pop()
    if p in seen:
        continue
    seen.add(p)
    if p not in inst:
        sys.exit("not installed: " + p)
    arch = p.split(":")[1]
    arch = "amd64" if arch == "all" else arch
    for item in filter(None, (x.strip() for x in inst[p][2].split(","))):
        alts = [find(a, arch) for a in item.split("|")]
        hit = next((a for a in alts if a), None)
        if hit is None:
            sys.exit("unresolved dependency of %s: %s" % (p, item))
        todo.append(hit)
for p in sorted(seen):
    print(p + "=" + inst[p][0])
' "$@"
}

# The file list on stdin without documentation, relative to /, with merged-/usr paths (/lib/x → /usr/lib/x,
# as on this host and in the base): a tar entry under lib/ would replace the image's /lib symlink
# with a directory.
keep() {
  grep -v -E '^/usr/share/(doc|man|info|locale|lintian)/' | sed -E 's#^/(lib|lib64|bin|sbin)/#/usr/\1/#; s#^/##' | sort -u
}

# Make a context dir $1 holding rootfs.tar: the files of the packages in $2 (a name:arch list)
# that $BASE lacks at the same version, with the alternatives symlinks (cc, c++) that point into
# them.
pack() {
  local ctx=$1 list=$2
  rm -rf "$ctx"; mkdir -p "$ctx"
  $DOCKER run --rm "$BASE" dpkg-query -W -f='${Package}:${Architecture}=${Version}\n' | sort > "$ctx/base.txt"
  comm -23 "$list" "$ctx/base.txt" > "$ctx/add.txt"
  : > "$ctx/files"
  while IFS== read -r pkg _; do
    dpkg -L "$pkg" | while read -r f; do
      if [ -L "$f" ] || [ -f "$f" ]; then echo "$f"; fi
    done >> "$ctx/files"
  done < "$ctx/add.txt"
  for alt in /etc/alternatives/*; do
    [ -L "$alt" ] || continue
    local to; to=$(readlink "$alt")
    if grep -qxF "$to" "$ctx/files"; then
      echo "$alt" >> "$ctx/files"
      find /usr/bin -maxdepth 1 -lname "$alt" >> "$ctx/files"
    fi
  done
  keep < "$ctx/files" > "$ctx/files.keep"
  tar -C / --no-recursion -T "$ctx/files.keep" -cf "$ctx/rootfs.tar"
}

# --- the builder ---------------------------------------------------------------------------------
closure "${ROOTS[@]}" > "$WORK/builder.pkgs"
ca=/etc/ssl/certs/ca-certificates.crt
fp=$( { echo "rev=$REV"; $DOCKER image inspect -f '{{.Id}}' "$BASE"; cat "$WORK/builder.pkgs"; sha256sum "$ca";
        cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum; fn_src pack; fn_src closure; sed -n '/^# --- the builder/,/^# --- the runtimes/p' "$0"; } | sha)
if fresh "$BUILDER" "$fp"; then
  log "$BUILDER up to date"
else
  log "building $BUILDER ($(wc -l < "$WORK/builder.pkgs") packages)"
  ctx=$WORK/ctx-builder
  pack "$ctx" "$WORK/builder.pkgs"
  mkdir -p "$ctx/certs"
  cp "$ca" "$ctx/ca-certificates.crt"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/" 2>/dev/null || true
  cat > "$ctx/Dockerfile" <<EOF
FROM $BASE
ENV CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=1.96.0
ADD rootfs.tar /
# this machine reaches crates.io through a proxy: its CA must be trusted inside builds too
COPY certs/ /usr/local/share/ca-certificates/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The proof: both standard libraries are there, and the cross linker links an aarch64 program.
RUN ldconfig && mkdir -p /usr/local/cargo/bin && chmod -R a+w /usr/local/cargo \\
 && rustc --version && cargo --version \\
 && test -d "\$(rustc --print target-libdir --target x86_64-unknown-linux-gnu)" \\
 && test -d "\$(rustc --print target-libdir --target aarch64-unknown-linux-gnu)" \\
 && printf 'fn main() {}\n' > /tmp/a.rs \\
 && rustc --target aarch64-unknown-linux-gnu -C linker=aarch64-linux-gnu-gcc -o /tmp/a /tmp/a.rs \\
 && rustc -o /tmp/b /tmp/a.rs && /tmp/b && rm /tmp/a /tmp/b /tmp/a.rs
LABEL gantry.local-image.fingerprint=$fp
EOF
  $DOCKER build -t "$BUILDER" "$ctx" >"$WORK/build-builder.log" 2>&1 || { tail -30 "$WORK/build-builder.log" >&2; exit 1; }
  rm -rf "$ctx"
fi

# --- the runtimes --------------------------------------------------------------------------------
# $1 Debian architecture (amd64|arm64)
build_runtime() {
  local arch=$1 img=$RUNTIME:$1 pkgs=()
  for p in "${RUNTIME_PKGS[@]}"; do pkgs+=("$p:$arch"); done
  closure "${pkgs[@]}" > "$WORK/runtime-$arch.pkgs"
  local fp; fp=$( { echo "rev=$REV $arch"; cat "$WORK/runtime-$arch.pkgs"; sha256sum "$ca"; fn_src keep; fn_src build_runtime; } | sha)
  if fresh "$img" "$fp"; then log "$img up to date"; return; fi
  log "building $img"
  local ctx=$WORK/ctx-runtime-$arch; rm -rf "$ctx"; mkdir -p "$ctx/root"
  while IFS== read -r pkg _; do
    dpkg -L "$pkg" | while read -r f; do
      if [ -L "$f" ] || [ -f "$f" ]; then echo "$f"; fi
    done
  done < "$WORK/runtime-$arch.pkgs" | keep | grep -v -E '(^|/)s?bin/|^etc/' > "$ctx/files"
  tar -C / --no-recursion -T "$ctx/files" -cf - | tar -C "$ctx/root" -xf -
  ( cd "$ctx/root"
    # merged /usr like Debian 12: the dynamic loader's path starts with /lib or /lib64
    for d in lib lib64 bin sbin; do if [ -e "usr/$d" ] && [ ! -e "$d" ]; then ln -s "usr/$d" "$d"; fi; done
    mkdir -p etc/ssl/certs tmp home/nonroot
    cp "$ca" etc/ssl/certs/ca-certificates.crt
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > etc/passwd
    printf 'root:x:0:\nnonroot:x:65532:\n' > etc/group
    chmod 1777 tmp
  )
  if find "$ctx/root" \( -name sh -o -name bash -o -name dash \) -not -type d | grep -q .; then
    log "a shell ended up in $img"; exit 1
  fi
  tar -C "$ctx/root" --sort=name --mtime=@0 --numeric-owner -cf "$ctx/rootfs.tar" .
  rm -rf "$ctx/root"
  # FROM scratch built for the platform: the image config names its architecture (`docker
  # import` on Docker 20.10 always says amd64)
  cat > "$ctx/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
LABEL gantry.local-image.fingerprint=$fp
EOF
  $DOCKER build --platform "linux/$arch" -t "$img" "$ctx" >"$WORK/build-runtime-$arch.log" 2>&1 \
    || { tail -30 "$WORK/build-runtime-$arch.log" >&2; exit 1; }
  rm -rf "$ctx"
}
build_runtime amd64
build_runtime arm64
log "done"
