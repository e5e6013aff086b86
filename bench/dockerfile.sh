#!/usr/bin/env bash
# bench/dockerfile.sh — how fast do Dockerfiles build a real project, cold and after a one-line
# edit, and how big is the image? One run, one project, compared with the host's bare
# `cargo build --release`:
#
#   naive        COPY . . && cargo build --release (no dependency caching at all)
#   dummy        the classic blog recipe: manifests + placeholder sources, build, then real ones
#   cargo-chef   cargo-chef's README Dockerfile (cargo-chef installed from crates.io beforehand,
#                standing in for its prebuilt image, which cannot be pulled here)
#   gantry-*     `cargo gantry dockerfile --strategy chef|vendor|mounts`
#
# usage: bench/dockerfile.sh [CRATE [VERSION]]     (default: tokei 15.0.0, ~160 dependencies)
#        VARIANTS="gantry-chef gantry-vendor" bench/dockerfile.sh   (a subset of the rows)
#
# The crate's published source (with its Cargo.lock) comes from crates.io's static download
# host. Cache-mount ids get a per-run prefix so that every cold build starts with empty mounts
# without pruning anybody else's build cache. Needs Docker with BuildKit (scripts/test-env.sh).
set -euo pipefail

CRATE=${1:-tokei}
VERSION=${2:-15.0.0}
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$(mktemp -d /var/tmp/gantry-bench.XXXXXX)}
RUN=b$(date +%s)
BASE=rust:1-slim-trixie
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

# --- inputs: base images, gantry, cargo-chef, the project ---------------------------------------
bash "$REPO/scripts/test-env.sh" >/dev/null 2>&1
log "building cargo-gantry"
(cd "$REPO" && cargo build -q)
TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps | python3 -c 'import sys,json; print(json.load(sys.stdin)["target_directory"])')
GANTRY=$TARGET_DIR/debug/cargo-gantry
GVER=$("$GANTRY" --version | awk '{print $2}')
mkdir -p "$WORK/img-gantry" "$WORK/img-chef"
cp "$GANTRY" "$WORK/img-gantry/"
printf 'FROM debian:trixie-slim\nCOPY cargo-gantry /usr/local/bin/cargo-gantry\n' >"$WORK/img-gantry/Dockerfile"
$DOCKER build -q -t "cargo-gantry:$GVER" "$WORK/img-gantry" >/dev/null
log "installing cargo-chef from crates.io into a local image (not timed: its image would be pulled)"
printf 'FROM %s\nRUN cargo install cargo-chef --locked --root /usr/local\n' "$BASE" >"$WORK/img-chef/Dockerfile"
$DOCKER build -q -t bench-cargo-chef "$WORK/img-chef" >/dev/null

if [ ! -f "$WORK/src/Cargo.toml" ]; then
  log "fetching $CRATE $VERSION"
  mkdir -p "$WORK/src"
  curl -fsSL "https://static.crates.io/crates/$CRATE/$CRATE-$VERSION.crate" | tar xz -C "$WORK/src" --strip-components=1
fi
BIN=$("$GANTRY" dockerfile --manifest-path "$WORK/src/Cargo.toml" -o - | sed -n 's/^# Image for binary `\([^`]*\)`.*/\1/p')
DEPS=$(cd "$WORK/src" && cargo tree --locked --prefix none -e normal,build 2>/dev/null | sort -u | wc -l)
log "project: $CRATE $VERSION, binary $BIN, $DEPS crates in the build graph"

edit() { echo "// bench edit $(now)" >>"$1/src/main.rs"; }

# --- the host's bare cargo build: the reference ---------------------------------------------------
cp -a "$WORK/src" "$WORK/host"
(cd "$WORK/host" && cargo fetch --locked -q)
export CARGO_TARGET_DIR=$WORK/host-target
t=$(now); (cd "$WORK/host" && cargo build --release --locked -q); BARE_COLD=$(since "$t")
edit "$WORK/host"
t=$(now); (cd "$WORK/host" && cargo build --release --locked -q); BARE_WARM=$(since "$t")
unset CARGO_TARGET_DIR
log "bare: cold ${BARE_COLD}s, warm ${BARE_WARM}s"

# --- the Dockerfiles ------------------------------------------------------------------------------
naive() {
  cat <<EOF
FROM $BASE AS build
WORKDIR /app
COPY . .
RUN cargo build --release --locked
FROM debian:trixie-slim
COPY --from=build /app/target/release/$BIN /usr/local/bin/$BIN
ENTRYPOINT ["/usr/local/bin/$BIN"]
EOF
}

# Placeholders for exactly the targets the project has, then touch the real ones so cargo
# notices them (their mtimes from COPY are older than the placeholder build).
dummy() {
  local mk="mkdir -p src" touch=""
  [ -f "$1/src/main.rs" ] && mk+=" && echo 'fn main() {}' > src/main.rs" && touch+=" src/main.rs"
  [ -f "$1/src/lib.rs" ] && mk+=" && touch src/lib.rs" && touch+=" src/lib.rs"
  [ -f "$1/build.rs" ] && mk+=" && echo 'fn main() {}' > build.rs" && touch+=" build.rs"
  cat <<EOF
FROM $BASE AS build
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
RUN $mk && cargo build --release --locked && rm -rf src build.rs
COPY . .
RUN touch$touch && cargo build --release --locked
FROM debian:trixie-slim
COPY --from=build /app/target/release/$BIN /usr/local/bin/$BIN
ENTRYPOINT ["/usr/local/bin/$BIN"]
EOF
}

cargo_chef() {
  cat <<EOF
FROM bench-cargo-chef AS chef
WORKDIR /app
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json
FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --bin $BIN
FROM debian:trixie-slim AS runtime
WORKDIR /app
COPY --from=builder /app/target/release/$BIN /usr/local/bin
ENTRYPOINT ["/usr/local/bin/$BIN"]
EOF
}

# Build `ctx` (tag bench-$RUN-$name); echo seconds; keep the log in $WORK/$name-$step.log.
build() {
  local name=$1 step=$2 ctx=$3; shift 3
  local t; t=$(now)
  $DOCKER build --progress=plain --build-arg GANTRY_FROM=image -t "bench-$RUN-$name" "$@" "$ctx" \
    >"$WORK/$name-$step.log" 2>&1 || { tail -30 "$WORK/$name-$step.log" >&2; exit 1; }
  since "$t"
}
# Dependencies cargo compiled in a build (every `Compiling` line but the project's own).
deps_compiled() { awk -v own=" Compiling $CRATE v" '/ Compiling / && index($0, own) == 0 { n++ } END { print n + 0 }' "$WORK/$1-$2.log"; }
# Fresh, empty cache mounts: a new id prefix for every gantry mount in the Dockerfile.
fresh_mounts() { sed -i -E "s/id=(gantry|b[0-9]+-[a-z-]+-[0-9]+)-/id=$RUN-$1-$2-/g" "$3/Dockerfile"; }

ROWS=()
for v in ${VARIANTS:-naive dummy cargo-chef gantry-chef gantry-vendor gantry-mounts}; do
  ctx=$WORK/ctx-$v
  rm -rf "$ctx"; cp -a "$WORK/src" "$ctx"
  printf 'target/\n.git/\n' >"$ctx/.dockerignore"
  case $v in
    naive) naive >"$ctx/Dockerfile" ;;
    dummy) dummy "$ctx" >"$ctx/Dockerfile" ;;
    cargo-chef) cargo_chef >"$ctx/Dockerfile" ;;
    gantry-*)
      rm "$ctx/.dockerignore"
      [ "$v" = gantry-vendor ] && (cd "$ctx" && cargo vendor --locked -q vendor >/dev/null)
      # The same builder image as the other variants (the crate's rust-version would pick an
      # older one), so that only the Dockerfile differs.
      (cd "$ctx" && "$GANTRY" dockerfile --builder "$BASE" --strategy "${v#gantry-}" 2>/dev/null)
      fresh_mounts "$v" 0 "$ctx" ;;
  esac
  log "$v: cold build"
  cold=$(build "$v" cold "$ctx" --no-cache)
  size=$($DOCKER image inspect -f '{{.Size}}' "bench-$RUN-$v")
  edit "$ctx"
  log "$v: warm rebuild after a one-line edit"
  warm=$(build "$v" warm "$ctx")
  fresh="-"
  if [ "$v" = gantry-chef ]; then
    # A fresh builder that has only the layer cache: empty cache mounts, layers still there.
    fresh_mounts "$v" 1 "$ctx"; edit "$ctx"
    log "$v: rebuild with empty cache mounts (layer cache only)"
    fresh=$(build "$v" fresh "$ctx")
    fresh=$(printf '%.1fs (%sx bare warm, %s deps compiled)' "$fresh" "$(echo "scale=2; $fresh / $BARE_WARM" | bc)" "$(deps_compiled "$v" fresh)")
  fi
  ROWS+=("$v|$cold|$warm|$(deps_compiled "$v" warm)|$size|$fresh")
done

# --- report ----------------------------------------------------------------------------------------
NAIVE_COLD=$(echo "${ROWS[0]}" | cut -d'|' -f2)
printf '\n%s %s (%s crates), %s cores; host bare cargo build --release: cold %.1fs, warm %.1fs\n\n' \
  "$CRATE" "$VERSION" "$DEPS" "$(nproc)" "$BARE_COLD" "$BARE_WARM"
printf '%-14s %8s %7s %8s %8s %7s %10s %9s\n' variant cold/s xbare xnaive warm/s xbare "deps(warm)" image/MB
for r in "${ROWS[@]}"; do
  IFS='|' read -r v cold warm deps size _ <<<"$r"
  printf '%-14s %8.1f %7.2f %8.2f %8.1f %7.2f %10s %9.1f\n' "$v" "$cold" \
    "$(echo "scale=3; $cold / $BARE_COLD" | bc)" "$(echo "scale=3; $cold / $NAIVE_COLD" | bc)" \
    "$warm" "$(echo "scale=3; $warm / $BARE_WARM" | bc)" "$deps" "$(echo "scale=1; $size / 1000000" | bc)"
done
for r in "${ROWS[@]}"; do
  IFS='|' read -r v _ _ _ _ fresh <<<"$r"
  [ "$fresh" != "-" ] && printf '\n%s, rebuild in a builder with only the layer cache: %s\n' "$v" "$fresh"
done
printf '\nlogs: %s\n' "$WORK"

# Our images; our cache mounts carry the run id in their description.
for v in naive dummy cargo-chef gantry-chef gantry-vendor gantry-mounts; do $DOCKER image rm -f "bench-$RUN-$v" >/dev/null 2>&1 || true; done
$DOCKER builder prune -f --filter "description~=$RUN" >/dev/null 2>&1 || true
