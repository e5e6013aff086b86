#!/usr/bin/env bash
# Benchmark for `cargo gantry build` (issue 4), in one run on a real crate from crates.io
# (ripgrep 14.1.1):
#  1. warm rebuild after a one-line edit: `cargo gantry build` vs bare `cargo build --release`
#     (goal <= 1.1x), and vs `docker build` of gantry's own generated Dockerfile (reported);
#  2. image sizes: gantry (glibc, auto base) vs distroless cc + binary, goal <= binary + 4 MiB;
#     gantry static (+crt-static) vs binary, goal <= binary + 300 KiB.
# Usage: bench/build-image.sh   (needs crates.io and, for the Docker rows, a running dockerd)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gantry-bench-img-XXXXXX)
trap 'rm -rf "$work"' EXIT
unset RUSTUP_TOOLCHAIN CARGO_TARGET_DIR RUSTFLAGS
export DOCKER_BUILDKIT=1
docker=/usr/bin/docker

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
gantry=$repo/target/release/cargo-gantry
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
kib() { echo $(( $1 / 1024 )); }

curl -sSfL -o "$work/rg.crate" https://static.crates.io/crates/ripgrep/ripgrep-14.1.1.crate
tar xzf "$work/rg.crate" -C "$work" && src=$work/ripgrep-14.1.1
n=0
edit() { n=$((n+1)); sed -i "s/^fn main() -> ExitCode {/fn main() -> ExitCode {\n    let _gantry_bench_$n = $n;/" "$src/crates/core/main.rs"; }

cd "$src"
echo "== warm-up builds (not timed)"
cargo build --release --locked -q
"$gantry" build --locked --oci-layout "$work/oci" >/dev/null 2>&1

edit; t0=$(now); cargo build --release --locked -q; t_bare=$(since "$t0")
t0=$(now); "$gantry" build --locked --oci-layout "$work/oci" --message-format json > "$work/glibc.json" 2>/dev/null; t_gantry=$(since "$t0")
echo
printf '%-46s %8.2f s\n' "bare cargo build --release (one-line edit)" "$t_bare" "cargo gantry build (same edit)" "$t_gantry"
echo "gantry / bare warm rebuild: $(ratio "$t_gantry" "$t_bare")   (goal <= 1.10)"

if "$gantry" dockerfile --help >/dev/null 2>&1 && $docker info >/dev/null 2>&1; then
  bash "$repo/../shared/docker/make-local-images.sh" >/dev/null 2>&1 || true
  "$gantry" build --manifest-path "$repo/Cargo.toml" --load >/dev/null 2>&1
  # ripgrep pins rust-version 1.72; use the builder every other row uses
  "$gantry" dockerfile --force --builder rust:1.95-slim-trixie >/dev/null
  args=(--build-arg GANTRY_FROM=image --progress plain -t gantry-bench-rg "$src")
  $docker build "${args[@]}" >/dev/null 2>&1
  edit; t0=$(now); $docker build "${args[@]}" >/dev/null 2>&1; t_docker=$(since "$t0")
  printf '%-46s %8.2f s\n' "docker build of gantry's Dockerfile (edit)" "$t_docker"
  echo "docker build / bare warm rebuild: $(ratio "$t_docker" "$t_bare")"
else
  echo "(docker build row skipped: no \`cargo gantry dockerfile\` or no Docker daemon)"
fi

echo
echo "== image sizes (uncompressed, as the files in the image)"
bin=$(stat -c %s "$src/target/gantry/release/rg")
size_of_layout() { python3 - "$1" <<'PY'
import json, sys, gzip, os
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
man = json.load(open(os.path.join(d, "blobs/sha256", idx["manifests"][0]["digest"].split(":")[1])))
print(sum(len(gzip.open(os.path.join(d, "blobs/sha256", l["digest"].split(":")[1])).read()) for l in man["layers"]))
PY
}
g=$(size_of_layout "$work/oci")
printf '%-46s %8s KiB\n' "rg binary (glibc)" "$(kib "$bin")" "gantry image, auto base (tar bytes)" "$(kib "$g")"
echo "gantry glibc image - binary: $(kib $((g - bin))) KiB   (goal <= 4096 KiB)"
if $docker info >/dev/null 2>&1; then
  mkdir -p "$work/dl" && cp "$src/target/gantry/release/rg" "$work/dl/rg"
  printf 'FROM gcr.io/distroless/cc-debian13:nonroot\nCOPY rg /usr/local/bin/rg\nENTRYPOINT ["/usr/local/bin/rg"]\n' > "$work/dl/Dockerfile"
  $docker build -q -t gantry-bench-distroless "$work/dl" >/dev/null
  d=$($docker image inspect -f '{{.Size}}' gantry-bench-distroless)
  printf '%-46s %8s KiB\n' "distroless cc-debian13 + binary (docker size)" "$(kib "$d")"
  echo "gantry / distroless+binary: $(ratio "$g" "$d")"
fi

mkdir -p .cargo && printf '[target.x86_64-unknown-linux-gnu]\nrustflags = ["-C", "target-feature=+crt-static"]\n' > .cargo/config.toml
"$gantry" build --locked --target x86_64-unknown-linux-gnu --oci-layout "$work/oci-static" >/dev/null 2>&1
sbin=$(stat -c %s "$src/target/gantry/x86_64-unknown-linux-gnu/release/rg")
s=$(size_of_layout "$work/oci-static")
printf '%-46s %8s KiB\n' "rg binary (+crt-static)" "$(kib "$sbin")" "gantry image, static (tar bytes)" "$(kib "$s")"
echo "gantry static image - binary: $(kib $((s - sbin))) KiB   (goal <= 300 KiB)"
