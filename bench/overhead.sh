#!/usr/bin/env bash
# bench/overhead.sh — gantry's own seconds on a rebuild after a one-line edit, against the floor
# (bare `cargo build --release`) and against a plain cache-mount Dockerfile, in one run, on one
# small and one large crate from crates.io:
#
#   bare            cargo build --release --locked on the host
#   plain           Docker's own template: bind-mount the context, cache-mount registry + target
#   gantry-chef     `cargo gantry dockerfile --strategy chef` + docker build
#   gantry-vendor   `... --strategy vendor` (after `cargo vendor`)
#   gantry-mounts   `... --strategy mounts`
#   gantry-oci      `cargo gantry build --oci-layout DIR` (daemonless)
#   gantry-archive  `cargo gantry build --docker-archive FILE` (daemonless)
#
# Every variant works on its own copy of the sources. Warm rounds are interleaved (round 1 of
# every variant, then round 2, ...) so that load from other users of a shared machine spreads
# over all rows alike; the table shows the median of ROUNDS (default 5) and ratios against the
# `bare` and `plain` medians of the same run. Cold = the first build (empty cache mounts, empty
# target dir), once.
#
# Before/after in one run: GANTRY_BEFORE=/path/to/old/cargo-gantry adds a `VARIANT@before` row
# for every gantry variant, built with the old binary (its own Dockerfile) under the same load,
# interleaved with the new one. A `@before` row shares the cache mounts (and, for the host
# rows, the directory) of its counterpart: its first build is not cold, so it has no cold
# figure, and every warm build still recompiles the edited crate.
#
# usage: bench/overhead.sh                    (tokei 15.0.0 and ripgrep 14.1.1)
#        CRATES="tokei@15.0.0" ROUNDS=3 VARIANTS="bare gantry-oci" bench/overhead.sh
#        GANTRY=/path/to/cargo-gantry bench/overhead.sh   (a gantry built elsewhere)
#        GANTRY_BEFORE=/tmp/old/cargo-gantry bench/overhead.sh
#        BEFORE_VARIANTS="gantry-oci gantry-archive" ...   (only these get a `@before` row)
#        BENCH_WORK=DIR BENCH_RUN=ID REUSE=1 ...   (continue a stopped run: variant directories
#                       and cache mounts that exist are reused, their cold column says so)
# Needs /usr/bin/docker with BuildKit and the local base images (scripts/test-env.sh).
set -euo pipefail

CRATES=${CRATES:-"tokei@15.0.0 ripgrep@14.1.1"}
ROUNDS=${ROUNDS:-5}
VARIANTS=${VARIANTS:-"bare plain gantry-chef gantry-vendor gantry-mounts gantry-oci gantry-archive"}
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1
BUILDER=rust:1-slim-trixie
RUNTIME=gcr.io/distroless/cc-debian13:nonroot
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$(mktemp -d /var/tmp/gantry-overhead.XXXXXX)}
RUN=${BENCH_RUN:-ovh$(date +%s)}
unset RUSTUP_TOOLCHAIN CARGO_TARGET_DIR RUSTFLAGS CARGO_BUILD_TARGET_DIR
log() { printf '[overhead %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { echo "scale=3; $1 / $2" | bc; }
has() { [[ " $VARIANTS " == *" $1 "* ]]; }

# --- gantry: the binary, and its own image (built by itself) for GANTRY_FROM=image ---------------
if [ -z "${GANTRY:-}" ]; then
  log "building cargo-gantry (release)"
  (cd "$REPO" && cargo build --release -q)
  GANTRY=$REPO/target/release/cargo-gantry
fi
cp "$GANTRY" "$WORK/cargo-gantry" && GANTRY=$WORK/cargo-gantry
if [ -n "${GANTRY_BEFORE:-}" ]; then
  cp "$GANTRY_BEFORE" "$WORK/cargo-gantry-before" && GANTRY_BEFORE=$WORK/cargo-gantry-before
  all=""
  for v in $VARIANTS; do
    all+=" $v"
    [[ $v == gantry-* && " ${BEFORE_VARIANTS:-$VARIANTS} " == *" $v "* ]] && all+=" $v@before"
  done
  VARIANTS=$all
fi
# The gantry binary of a variant.
gantry_of() { if [[ $1 == *@before ]]; then echo "$GANTRY_BEFORE"; else echo "$GANTRY"; fi; }
GIMAGE=cargo-gantry-bench:$RUN # our own tag: the engine is shared, cargo-gantry:VERSION is not ours
if has gantry-chef || has gantry-vendor; then
  log "building gantry's own image with \`cargo gantry build --load\`"
  # Built from the checkout as it is now (for a baseline: run before editing it).
  (cd "$REPO" && "$GANTRY" build --load --tag "$GIMAGE" >/dev/null 2>"$WORK/self.log") ||
    { tail -20 "$WORK/self.log" >&2; exit 1; }
fi

# --- per crate --------------------------------------------------------------------------------------
REPORT=()
for spec in $CRATES; do
  crate=${spec%@*} version=${spec#*@}
  C=$WORK/$crate
  mkdir -p "$C"
  if [ ! -f "$C/src/Cargo.toml" ]; then
    log "$crate $version: fetching"
    mkdir -p "$C/src"
    curl -fsSL "https://static.crates.io/crates/$crate/$crate-$version.crate" | tar xz -C "$C/src" --strip-components=1
    (cd "$C/src" && cargo fetch --locked -q)
  fi
  # The binary, its package and its main source file, from cargo metadata.
  read -r BIN MAIN < <(cd "$C/src" && cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import sys, json, os
m = json.load(sys.stdin); root = m["workspace_root"]
for p in m["packages"]:
    if p["id"] in m["workspace_default_members"] or len(m["packages"]) == 1:
        for t in p["targets"]:
            if "bin" in t["kind"]:
                print(t["name"], os.path.relpath(t["src_path"], root)); sys.exit()')
  DEPS=$(cd "$C/src" && cargo tree --locked --prefix none -e normal,build 2>/dev/null | sort -u | wc -l)
  log "$crate $version: binary $BIN ($MAIN), $DEPS crates"

  n=0
  # A one-line edit that changes the binary (an unused function could be optimised away; a
  # `#[used]` static stays), at the end of the binary's main source.
  edit() { n=$((n + 1)); echo "#[used] static GANTRY_BENCH_EDIT_$n: u64 = $n;" >>"$1/$MAIN"; }

  plain_dockerfile() {
    cat <<EOF
FROM $BUILDER AS build
WORKDIR /app
RUN --mount=type=bind,target=/app,rw \\
    --mount=type=cache,id=$RUN-$crate-plain-registry,target=/usr/local/cargo/registry \\
    --mount=type=cache,id=$RUN-$crate-plain-git,target=/usr/local/cargo/git \\
    --mount=type=cache,id=$RUN-$crate-plain-target,target=/app/target \\
    cargo build --release --locked && cp target/release/$BIN /$BIN
FROM $RUNTIME
COPY --from=build /$BIN /usr/local/bin/$BIN
ENTRYPOINT ["/usr/local/bin/$BIN"]
EOF
  }

  # Every host gantry row builds in one directory (one cold host build); the first to build it
  # has the cold figure, the others "-". A `@before` Docker row has its own context (its own
  # Dockerfile) and the cache mounts of its counterpart.
  dir_of() {
    case ${1%@before} in
      gantry-oci | gantry-archive) echo "$C/gantry-host" ;;
      *) echo "$C/$1" ;;
    esac
  }
  # Prepare each variant's directory.
  setup() {
    local v=$1 d g
    d=$(dir_of "$v") g=$(gantry_of "$v")
    [ -d "$d" ] && return 1 # shared, already set up and built
    rm -rf "$d"; cp -a "$C/src" "$d"
    case ${v%@before} in
      bare) ;;
      plain) plain_dockerfile >"$d/Dockerfile"; printf 'target/\n' >"$d/.dockerignore" ;;
      gantry-*)
        local base=${v%@before}
        [ "$base" = gantry-vendor ] && (cd "$d" && cargo vendor --locked -q vendor >/dev/null)
        case $base in gantry-chef | gantry-vendor | gantry-mounts)
          (cd "$d" && "$g" dockerfile --force --builder "$BUILDER" --strategy "${base#gantry-}" >/dev/null 2>&1)
          # Per-run mount ids: cold builds start with empty mounts, nobody else's cache pruned.
          sed -i -E "s/id=gantry-/id=$RUN-$crate-$base-/g" "$d/Dockerfile" ;;
        esac ;;
    esac
    return 0
  }
  build() {
    local v=$1 d g log=$C/$1-$2.log
    d=$(dir_of "$v") g=$(gantry_of "$v")
    case ${v%@before} in
      bare) (cd "$d" && cargo build --release --locked -q) ;;
      plain | gantry-chef | gantry-vendor | gantry-mounts)
        $DOCKER build --progress=plain --build-arg GANTRY_FROM=image --build-arg "GANTRY_IMAGE=$GIMAGE" \
          -t "bench-$RUN-$crate-${v/@/-}" "$d" ;;
      gantry-oci) (cd "$d" && GANTRY_TIMINGS=1 "$g" build --locked --oci-layout "$C/out.oci") ;;
      gantry-archive) (cd "$d" && GANTRY_TIMINGS=1 "$g" build --locked --docker-archive "$C/out.tar") ;;
    esac >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
  }

  [ -n "${REUSE:-}" ] || for v in $VARIANTS; do rm -rf "$(dir_of "$v")"; done
  declare -A COLD=() WARM=()
  for v in $VARIANTS; do
    if [ -n "${REUSE:-}" ] && [ -d "$(dir_of "$v")" ] && [ -z "${COLD[$v]:-}" ] && [ -f "$C/$v-cold.log" ]; then
      log "$crate: $v reused from the stopped run (untimed build)"
      build "$v" reuse; COLD[$v]=reused; continue
    fi
    if ! setup "$v"; then COLD[$v]=-; continue; fi
    if [[ $v == *@before ]]; then
      log "$crate: $v first build (mounts shared: not cold)"
      build "$v" cold; COLD[$v]=-; continue
    fi
    log "$crate: $v cold"
    t=$(now); build "$v" cold; COLD[$v]=$(since "$t")
  done
  for r in $(seq "$ROUNDS"); do
    for v in $VARIANTS; do
      edit "$(dir_of "$v")"
      t=$(now); build "$v" "warm$r"; WARM[$v]="${WARM[$v]:-} $(since "$t")"
    done
    log "$crate: warm round $r of $ROUNDS done"
  done

  declare -A MED=()
  for v in $VARIANTS; do MED[$v]=$(median ${WARM[$v]}); done
  out=$(printf '\n%s %s: %s crates, binary `%s`; %s cores, load %s; warm = median of %s\n' \
    "$crate" "$version" "$DEPS" "$BIN" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$ROUNDS")
  out+=$(printf '\n%-22s %8s %8s %7s %7s %7s   %s' variant cold/s warm/s xbare xplain xbefore "warm runs/s")
  for v in $VARIANTS; do
    xb=-; xp=-; xo=-
    [ -n "${MED[bare]:-}" ] && xb=$(ratio "${MED[$v]}" "${MED[bare]}")
    [ -n "${MED[plain]:-}" ] && xp=$(ratio "${MED[$v]}" "${MED[plain]}")
    [ -n "${MED[$v@before]:-}" ] && xo=$(ratio "${MED[$v]}" "${MED[$v@before]}")
    cold=${COLD[$v]}; [[ $cold == [0-9]* ]] && cold=$(printf '%.2f' "$cold")
    out+=$(printf '\n%-22s %8s %8.2f %7s %7s %7s  %s' "$v" "$cold" "${MED[$v]}" "$xb" "$xp" "$xo" "$(printf ' %.2f' ${WARM[$v]})")
  done
  if [ -f "$C/gantry-oci-warm$ROUNDS.log" ]; then
    out+=$(printf '\n\ngantry-oci, last warm run, per stage (--timings):\n%s' "$(grep '  timing  ' "$C/gantry-oci-warm$ROUNDS.log")")
  fi
  if [ -f "$C/gantry-archive-warm$ROUNDS.log" ]; then
    out+=$(printf '\ngantry-archive, last warm run, output stage:\n%s' "$(grep '  timing  output' "$C/gantry-archive-warm$ROUNDS.log")")
  fi
  REPORT+=("$out")
  # Each crate's table as soon as it is done (a long run can be stopped after the first).
  printf '%s\n' "$out" | tee -a "$WORK/report.txt" >&2
  for v in $VARIANTS; do $DOCKER image rm -f "bench-$RUN-$crate-${v/@/-}" >/dev/null 2>&1 || true; done
  unset COLD WARM MED
done

printf '%s\n' "${REPORT[@]}"
printf '\ngoals: gantry Dockerfile strategies <= 1.05x plain; gantry-oci/-archive <= 1.03x bare\n'
printf 'logs: %s\n' "$WORK"
$DOCKER image rm -f "$GIMAGE" >/dev/null 2>&1 || true
$DOCKER builder prune -f --filter "description~=$RUN" >/dev/null 2>&1 || true
