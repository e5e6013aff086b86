#!/usr/bin/env bash
# Benchmark for `cargo gantry resolve` (deploy loop): a workspace of 5 binaries that share their
# dependencies (crates from this repository's own Cargo.lock, so it runs offline once they are
# in the cargo cache), pushed to a loopback registry:
#   A. `cargo gantry resolve -f deploy --repo …` (one cargo run, 5 images)
#   B. `cargo gantry build --bin X --push …` five times, one after the other
# each from a cold target directory, in the same run. Prints both times and B/A's inverse
# (A / B, goal <= 0.4). Usage: bench/resolve.sh   (needs docker-registry: scripts/test-env.sh)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gantry-bench-resolve-XXXXXX)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
unset RUSTUP_TOOLCHAIN CARGO_TARGET_DIR RUSTFLAGS CARGO_BUILD_BUILD_DIR

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
gantry=$repo/target/release/cargo-gantry
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

# A loopback registry of our own (stopped by pid on exit).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: 127.0.0.1:$port }
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

# The workspace: five binaries using the same real dependencies.
ws=$work/ws
mkdir -p "$ws/deploy"
members=()
for b in api worker mailer billing search; do
  members+=("\"$b\"")
  mkdir -p "$ws/$b/src"
  cat > "$ws/$b/Cargo.toml" <<TOML
[package]
name = "$b"
version = "0.1.0"
edition = "2021"

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
flate2 = "1"
sha2 = "0.11"
tar = "0.4"
hex = "0.4"
TOML
  cat > "$ws/$b/src/main.rs" <<RS
fn main() {
    let v: serde_json::Value = serde_json::json!({"bin": "$b"});
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut h, v.to_string());
    println!("{} {}", v, hex::encode(sha2::Digest::finalize(h)));
}
RS
  printf -- '---\nkind: Deployment\nmetadata: {name: %s}\nspec: {template: {spec: {containers: [{name: %s, image: "gantry://%s"}]}}}\n' "$b" "$b" "$b" >> "$ws/deploy/all.yaml"
done
printf '[workspace]\nmembers = [%s]\nresolver = "2"\n' "$(IFS=,; echo "${members[*]}")" > "$ws/Cargo.toml"
# Lock to the versions this repository already uses, so nothing new is downloaded.
cp "$repo/Cargo.lock" "$ws/Cargo.lock"
(cd "$ws" && cargo metadata --format-version 1 --offline >/dev/null 2>&1 || cargo generate-lockfile -q)

cd "$ws"
rm -rf target
t0=$(now)
"$gantry" resolve -f deploy --repo "127.0.0.1:$port/bench" > "$work/resolved.yaml" 2>"$work/a.log" \
  || { tail -30 "$work/a.log" >&2; echo "resolve failed" >&2; exit 1; }
t_a=$(since "$t0")
rm -rf target
t0=$(now)
for b in api worker mailer billing search; do
  "$gantry" build --bin "$b" --push "127.0.0.1:$port/bench/$b:0.1.0" >/dev/null 2>>"$work/b.log" \
    || { tail -30 "$work/b.log" >&2; echo "build --bin $b failed" >&2; exit 1; }
done
t_b=$(since "$t0")
grep -c '@sha256:' "$work/resolved.yaml" | grep -qx 5 || { echo "resolve did not resolve 5 references" >&2; cat "$work/a.log" >&2; exit 1; }
printf '%-52s %8.2f s\n' "A. cargo gantry resolve (5 binaries, one cargo run)" "$t_a" "B. cargo gantry build --push, 5 times" "$t_b"
echo "resolve / one-by-one: $(ratio "$t_a" "$t_b")   (goal <= 0.40)"
