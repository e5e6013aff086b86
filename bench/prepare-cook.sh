#!/usr/bin/env bash
# Benchmark for prepare/cook (issue 2). Prints, in one run:
#  A. `cargo gantry prepare` on a generated 300-member workspace, as a ratio to
#     `cargo metadata --no-deps` on the same workspace (median of N runs each);
#  B. on a real published crate with 50+ dependencies (ripgrep, from crates.io), the `cargo build
#     --release` after a cook + copy of the real sources + a one-line edit, as a ratio to the
#     host's incremental rebuild of the same one-line edit.
# Usage: bench/prepare-cook.sh [RUNS]   (needs crates.io; takes a few minutes on 2 cores)
set -euo pipefail
runs=${1:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gantry-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
unset RUSTUP_TOOLCHAIN CARGO_TARGET_DIR RUSTFLAGS

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
gantry=$repo/target/release/cargo-gantry
now() { date +%s.%N; }
# median wall time of running "$@" $runs times
median() {
  local times=()
  for _ in $(seq "$runs"); do
    local t0; t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; times+=("$(echo "$(now) - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
ratio() { echo "scale=2; $1 / $2" | bc -l; }

echo "== A. prepare on a generated 300-member workspace"
ws=$work/ws
mkdir -p "$ws"
{ echo '[workspace]'; echo 'members = ["crates/*"]'; echo 'resolver = "2"'; } > "$ws/Cargo.toml"
for i in $(seq 1 300); do
  d=$ws/crates/m$i; mkdir -p "$d/src"
  dep=""; [ "$i" -gt 1 ] && dep="m$((i-1)) = { path = \"../m$((i-1))\" }"
  printf '[package]\nname = "m%s"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n%s\n' "$i" "$dep" > "$d/Cargo.toml"
  echo "pub fn f() {}" > "$d/src/lib.rs"
done
(cd "$ws" && cargo generate-lockfile --offline -q)
t_meta=$(cd "$ws" && median cargo metadata --no-deps --format-version 1)
t_prep=$(cd "$ws" && median "$gantry" prepare --recipe-path "$work/ws-recipe.json")
printf '%-40s %8.3f s\n' "cargo metadata --no-deps" "$t_meta" "cargo gantry prepare" "$t_prep"
echo "prepare / metadata ratio: $(ratio "$t_prep" "$t_meta")"

echo
echo "== B. ripgrep 14.1.1 (58 packages): rebuild after cook vs host incremental rebuild"
crate=$work/rg.crate
curl -sSfL -o "$crate" https://static.crates.io/crates/ripgrep/ripgrep-14.1.1.crate
mkdir -p "$work/src" && tar xzf "$crate" -C "$work/src" && src=$work/src/ripgrep-14.1.1
edit() { sed -i 's/^fn main() -> ExitCode {/fn main() -> ExitCode {\n    let _gantry_bench = 1;/' "$1/crates/core/main.rs"; }

# Host: a warm build, then the one-line edit, then the timed incremental rebuild.
host=$work/host; cp -a "$src" "$host"
(cd "$host" && cargo build --release --locked -q)
edit "$host"
t0=$(now); (cd "$host" && cargo build --release --locked -q); t_bare=$(echo "$(now) - $t0" | bc -l)

# gantry: prepare, cook in an empty dir, copy the sources over (keeping mtimes, like COPY),
# the same edit, then the timed plain build with the same flags.
(cd "$src" && "$gantry" prepare --recipe-path "$work/rg-recipe.json" 2>/dev/null)
cook=$work/cook; mkdir -p "$cook"
(cd "$cook" && "$gantry" cook --recipe-path "$work/rg-recipe.json" --release --locked 2>/dev/null)
cp -a "$src/." "$cook/"; edit "$cook"
t0=$(now); (cd "$cook" && cargo build --release --locked -q); t_cook=$(echo "$(now) - $t0" | bc -l)
"$cook/target/release/rg" --version | head -1
printf '%-40s %8.3f s\n' "host incremental rebuild" "$t_bare" "build after cook" "$t_cook"
echo "after-cook / host-rebuild ratio: $(ratio "$t_cook" "$t_bare")"
