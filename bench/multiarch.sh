#!/usr/bin/env bash
# Benchmark for multi-platform images (`cargo gantry build --platform`), in one run on a real
# crates.io crate with 100+ dependencies: a throwaway binary depending on sqlx (postgres,
# runtime-tokio), ureq (rustls + ring: C and assembly through the cc crate) and clap (derive),
# resolved and built from the local cargo cache (`--offline`: no network needed when the cache
# holds them; set GANTRY_BENCH_ONLINE=1 to let cargo download).
# Every build starts from an empty target directory (cold compile, warm registry):
#  1. arm64 image (cross-compiled) / native amd64 image            goal <= 1.3
#  2. amd64+arm64 index / amd64 image                              goal <= 2.1 (2 cores)
#  3. reported: the two platforms as two concurrent gantry builds (separate target dirs), the
#     alternative to compiling one target after the other in one directory.
# Usage: bench/multiarch.sh   (toolchain: GANTRY_BENCH_TOOLCHAIN, default `cross-1.96` when
#        rustup has it — the toolchain with the aarch64 std on the test machines)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gantry-bench-multiarch-XXXXXX)
trap 'rm -rf "$work"' EXIT
unset CARGO_TARGET_DIR RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
gantry=$repo/target/release/cargo-gantry
toolchain=${GANTRY_BENCH_TOOLCHAIN:-}
if [ -z "$toolchain" ] && rustup toolchain list | grep -q '^cross-1.96'; then toolchain=cross-1.96; fi
[ -n "$toolchain" ] && export RUSTUP_TOOLCHAIN=$toolchain
[ "${GANTRY_BENCH_ONLINE:-0}" = 1 ] || export CARGO_NET_OFFLINE=true
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

src=$work/app
mkdir -p "$src/src"
cat > "$src/Cargo.toml" <<'EOF'
[package]
name = "bench-app"
version = "0.1.0"
edition = "2021"

[dependencies]
sqlx = { version = "0.8", default-features = false, features = ["postgres", "runtime-tokio"] }
ureq = "3"
clap = { version = "4", features = ["derive"] }
EOF
cat > "$src/src/main.rs" <<'EOF'
use clap::Parser;
#[derive(Parser)]
struct Args { #[arg(long, default_value = "postgres://localhost/db")] url: String }
fn main() {
    let args = Args::parse();
    let options: sqlx::postgres::PgConnectOptions = args.url.parse().unwrap();
    let agent = ureq::Agent::new_with_defaults();
    std::hint::black_box(&agent);
    println!("{} on {}", options.get_host(), std::env::consts::ARCH);
}
EOF
cd "$src"
cargo generate-lockfile -q
deps=$(cargo tree -e normal,build --prefix none --target aarch64-unknown-linux-gnu | sed 's/ (\*)$//' | sort -u | wc -l)
echo "== bench-app: $deps packages in its tree (sqlx, ureq, clap), toolchain ${toolchain:-default}, $(nproc) cores"

# one cold gantry build into target dir $1 with the remaining args; prints seconds
timed() {
  local dir=$1; shift
  local t0; t0=$(now)
  CARGO_TARGET_DIR=$work/$dir "$gantry" build --locked --oci-layout "$work/oci-$dir" "$@" \
    > "$work/$dir.out" 2> "$work/$dir.err" || { tail -30 "$work/$dir.err" >&2; exit 1; }
  since "$t0"
}

t_amd64=$(timed amd64)
t_arm64=$(timed arm64 --platform linux/arm64)
t_both=$(timed both --platform linux/amd64,linux/arm64)
t0=$(now)
timed par-amd64 >/dev/null & a=$!
timed par-arm64 --platform linux/arm64 >/dev/null & b=$!
wait "$a" "$b"
t_par=$(since "$t0")

echo
printf '%-58s %8.1f s\n' \
  "native amd64 image (cold)" "$t_amd64" \
  "arm64 image, cross-compiled (cold)" "$t_arm64" \
  "amd64+arm64 index, one target after the other (cold)" "$t_both" \
  "amd64 and arm64 as two concurrent builds (cold)" "$t_par"
echo "arm64 / amd64:        $(ratio "$t_arm64" "$t_amd64")   (goal <= 1.30)"
echo "both / amd64 only:    $(ratio "$t_both" "$t_amd64")   (goal <= 2.10 on 2 cores)"
echo "concurrent / both:    $(ratio "$t_par" "$t_both")   (< 1: concurrent builds would be faster here)"
