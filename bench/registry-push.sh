#!/usr/bin/env bash
# Push throughput of gantry against `skopeo copy` of the same OCI layout, to a distribution
# registry on 127.0.0.1. Each push goes to a fresh registry (empty storage), so neither tool
# finds blobs already there; rounds alternate which tool goes first.
#
#   bench/registry-push.sh [MEGABYTES=100] [LAYERS=4] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-100}; layers=${2:-4}; rounds=${3:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release --example bench_push
bench=$CARGO_TARGET_DIR/release/examples/bench_push
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A fresh registry on a free port; prints the port.
registry() {
  local dir port
  dir=$(mktemp -d -p "$work"); port=$((RANDOM % 20000 + 30000))
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((RANDOM % 20000 + 30000)); done
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n  secret: bench\n' "$dir/data" "$port" >"$dir/config.yml"
  /usr/bin/docker-registry serve "$dir/config.yml" >/dev/null 2>"$dir/log" &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.05; done
  echo "$port"
}

echo "making a ${mb} MB image in $layers layers" >&2
"$bench" make "$work/layout" "$mb" "$layers" >/dev/null
bytes=$(du -sb "$work/layout/blobs" | cut -f1)

# Both timed from outside, process start and reading the layout included.
gantry_push() {
  local t0 t1; t0=$(date +%s.%N)
  "$bench" push "$work/layout" "127.0.0.1:$1/bench:g" >/dev/null 2>&1
  t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l
}
skopeo_push() {
  local t0 t1; t0=$(date +%s.%N)
  skopeo copy -q --dest-tls-verify=false "oci:$work/layout:bench" "docker://127.0.0.1:$1/bench:s" >/dev/null
  t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l
}

g_all=(); s_all=()
for r in $(seq "$rounds"); do
  if (( r % 2 )); then g=$(gantry_push "$(registry)"); s=$(skopeo_push "$(registry)")
  else s=$(skopeo_push "$(registry)"); g=$(gantry_push "$(registry)"); fi
  printf 'round %d: gantry %.2fs  skopeo %.2fs\n' "$r" "$g" "$s" >&2
  g_all+=("$g"); s_all+=("$s")
  sync
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
g=$(median "${g_all[@]}"); s=$(median "${s_all[@]}")
printf 'image: %d bytes of blobs (%s MB requested, %s layers), %s rounds, medians\n' "$bytes" "$mb" "$layers" "$rounds"
printf 'gantry push:  %.2fs  %6.1f MB/s\n' "$g" "$(echo "$bytes / $g / 1000000" | bc -l)"
printf 'skopeo copy:  %.2fs  %6.1f MB/s\n' "$s" "$(echo "$bytes / $s / 1000000" | bc -l)"
printf 'ratio (gantry throughput / skopeo throughput): %.2f\n' "$(echo "$s / $g" | bc -l)"
