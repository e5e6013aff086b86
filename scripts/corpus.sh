#!/usr/bin/env bash
# Run the real-world corpus (tests/corpus/projects.toml) through gantry, project by project:
#   cook        prepare → cook in an empty directory → copy the sources in with old mtimes →
#               plain `cargo build` with the same flags: no registry crate recompiled (the
#               `fresh` flags of --message-format json), the binary runs and is the real one
#   image       cargo gantry build --load → docker run (a CLI answers, a server stays up)
#   dockerfile  cargo gantry dockerfile → docker build → one-line edit → docker build again:
#               the rebuild compiles no external crate (projects with `dockerfile = true`)
# and prints a table and `corpus: N passed, M failed`.
#
#   ONLY="ripgrep jaq" STAGES=quick|cook|image|dockerfile|all scripts/corpus.sh
#
# STAGES=quick runs only fetch + prepare (tests/it/corpus.rs checks the recipes). Builds use
# ${GANTRY_CORPUS_DIR:-target/corpus} and its own CARGO_HOME; Docker is /usr/bin/docker with
# BuildKit and the local base images (scripts/test-env.sh); gantry reaches the builds as the
# local image cargo-gantry:<version>, made by `cargo run --release -- build --load`.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export GANTRY_CORPUS_DIR=${GANTRY_CORPUS_DIR:-$here/target/corpus}
dir=$GANTRY_CORPUS_DIR
export DOCKER_BUILDKIT=1
docker=/usr/bin/docker
stages=${STAGES:-all}
corpus() { python3 scripts/corpus/corpus.py "$@"; }
log() { printf '[corpus] %s\n' "$*" >&2; }

case $stages in
  quick) want="prepare" ;;
  cook) want="prepare cook" ;;
  image) want="prepare image" ;;
  dockerfile) want="prepare dockerfile" ;;
  all) want="prepare cook image dockerfile" ;;
  *) echo "error: STAGES must be quick, cook, image, dockerfile or all, not \`$stages\`" >&2; exit 1 ;;
esac
wants() { [[ " $want " == *" $1 "* ]]; }

scripts/corpus-fetch.sh ${ONLY:-} || exit 2
names=${ONLY:-$(corpus list)}

# gantry itself: the host binary for prepare/cook/build, the image for the Dockerfile builds.
gantry=${GANTRY:-$here/target/release/cargo-gantry}
if [ -z "${GANTRY:-}" ]; then
  cargo build --release --locked --quiet || { log "building gantry failed"; exit 2; }
fi
# Its own tag, passed as GANTRY_IMAGE: the engine is shared, and another checkout loading
# `cargo-gantry:<version>` must not swap the gantry under test.
gantry_image=cargo-gantry:corpus-$(git rev-parse --short HEAD 2>/dev/null || echo local)
if wants dockerfile && [ -z "${GANTRY_IMAGE:-}" ]; then
  nice -n 10 cargo run --release --locked --quiet -- build --load --tag "$gantry_image" >"$dir/gantry-image.log" 2>&1 \
    || { log "gantry's own image failed: $(tail -c 800 "$dir/gantry-image.log")"; exit 2; }
fi
gantry_image=${GANTRY_IMAGE:-$gantry_image}
# Only now the corpus's own CARGO_HOME: gantry itself builds with the user's (its registry
# sources are part of cargo's fingerprints, another home would rebuild it from scratch).
export CARGO_HOME=$dir/cargo-home

results=$dir/results
mkdir -p "$results"
# result NAME STAGE TEXT
result() { printf '%s' "$3" >"$results/$1.$2"; log "$1 $2: $3"; }
tail_of() { tail -c 1500 "$1" | tr '\n' ' ' | sed 's/  */ /g' | tail -c 300; }

# A server must still be running after a few seconds; a CLI must print `expect`.
# check_run NAME KIND EXPECT OUTFILE PID-or-empty
check_cli() { grep -qF -- "$2" "$1"; }

cook_stage() {
  local name=$1 bin=$2 kind=$3 expect=$4 args=$5 work=$dir/run/$1
  rm -rf "$work" && mkdir -p "$work/cook"
  cp -a "$dir/src/$name" "$work/src"
  local flags=(--bin "$bin")
  [ -f "$work/src/Cargo.lock" ] && flags+=(--locked)
  (cd "$work/src" && "$gantry" gantry prepare --recipe-path "$work/recipe.json" --bin "$bin") \
    >"$work/prepare.log" 2>&1 || { result "$name" cook "FAIL(prepare: $(tail_of "$work/prepare.log"))"; return; }
  (cd "$work/cook" && nice -n 10 "$gantry" gantry cook --recipe-path "$work/recipe.json" "${flags[@]}") \
    >"$work/cook.log" 2>&1 || { result "$name" cook "FAIL(cook: $(tail_of "$work/cook.log"))"; return; }
  # The real sources, older than everything cook wrote: mtimes must not decide what is rebuilt.
  cp -a "$work/src/." "$work/cook/"
  find "$work/cook" -path "$work/cook/target" -prune -o -exec touch -h -d '2001-01-01 00:00:00' {} +
  (cd "$work/cook" && nice -n 10 cargo build "${flags[@]}" --message-format json) \
    >"$work/build.json" 2>"$work/build.log" || { result "$name" cook "FAIL(build: $(tail_of "$work/build.log"))"; return; }
  local stale
  stale=$(python3 - "$work/build.json" <<'EOF'
import json, sys
stale, local = [], []
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact":
        continue
    pid = m["package_id"]
    if not m["fresh"]:
        (local if pid.startswith("path+") else stale).append(pid.split("#")[-1])
print(" ".join(sorted(set(stale))) if stale else ("" if local else "NOTHING-COMPILED"))
EOF
)
  if [ -n "$stale" ]; then result "$name" cook "FAIL(recompiled after cook: $stale)"; return; fi
  local exe=$work/cook/target/debug/$bin out=$work/run.out
  if [ "$kind" = server ]; then
    # shellcheck disable=SC2086
    "$exe" $args >"$out" 2>&1 &
    local pid=$!
    sleep 3
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null
    else result "$name" cook "FAIL(server exited: $(tail_of "$out"))"; return; fi
  else
    # shellcheck disable=SC2086
    "$exe" $args >"$out" 2>&1
    check_cli "$out" "$expect" || { result "$name" cook "FAIL(binary said: $(tail_of "$out"))"; return; }
  fi
  result "$name" cook ok
}

run_image() {
  local name=$1 tag=$2 kind=$3 expect=$4 args=$5 out=$6
  if [ "$kind" = server ]; then
    local c=corpus-$name-$$
    # shellcheck disable=SC2086
    "$docker" run -d --name "$c" "$tag" $args >/dev/null 2>"$out" || return 1
    sleep 4
    local running
    running=$("$docker" inspect -f '{{.State.Running}}' "$c" 2>/dev/null)
    "$docker" logs "$c" >>"$out" 2>&1
    "$docker" rm -f "$c" >/dev/null 2>&1
    [ "$running" = true ]
  else
    # shellcheck disable=SC2086
    "$docker" run --rm "$tag" $args >"$out" 2>&1 && check_cli "$out" "$expect"
  fi
}

image_stage() {
  local name=$1 bin=$2 kind=$3 expect=$4 args=$5 work=$dir/run/$1-image tag=corpus-$1:latest
  rm -rf "$work" && mkdir -p "$work"
  cp -a "$dir/src/$name" "$work/src"
  (cd "$work/src" && nice -n 10 "$gantry" gantry build --bin "$bin" --tag "$tag" --load) \
    >"$work/build.log" 2>&1 || { result "$name" image "FAIL(gantry build: $(tail_of "$work/build.log"))"; return; }
  run_image "$name" "$tag" "$kind" "$expect" "$args" "$work/run.out" \
    || { result "$name" image "FAIL(docker run: $(tail_of "$work/run.out"))"; return; }
  "$docker" image rm -f "$tag" >/dev/null 2>&1
  result "$name" image ok
}

dockerfile_stage() {
  local name=$1 bin=$2 kind=$3 expect=$4 args=$5 work=$dir/run/$1-dockerfile tag=corpus-$1-df:latest
  rm -rf "$work" && mkdir -p "$work"
  cp -a "$dir/src/$name" "$work/src"
  local ctx=$work/src builder=()
  # Nothing can be pulled here: a project without a toolchain file gets the local builder
  # (gantry would derive `rust:<rust-version>`); a pinned one must name a local image itself.
  if [ ! -e "$ctx/rust-toolchain.toml" ] && [ ! -e "$ctx/rust-toolchain" ]; then
    builder=(env "GANTRY_BUILDER=${GANTRY_CORPUS_BUILDER:-rust:1.95.0-slim-trixie}")
  fi
  (cd "$ctx" && "${builder[@]}" "$gantry" gantry dockerfile --bin "$bin") >"$work/dockerfile.log" 2>&1 \
    || { result "$name" dockerfile "FAIL(dockerfile: $(tail_of "$work/dockerfile.log"))"; return; }
  build() {
    nice -n 10 "$docker" build --progress=plain --build-arg GANTRY_FROM=image \
      --build-arg GANTRY_IMAGE="$gantry_image" -t "$tag" "$ctx" >"$1" 2>&1
  }
  build "$work/build1.log" || { result "$name" dockerfile "FAIL(docker build: $(tail_of "$work/build1.log"))"; return; }
  run_image "$name" "$tag" "$kind" "$expect" "$args" "$work/run1.out" \
    || { result "$name" dockerfile "FAIL(docker run: $(tail_of "$work/run1.out"))"; return; }
  # One-line edit of the bin's main source.
  local main
  main=$(cd "$ctx" && cargo metadata --no-deps --format-version 1 --offline 2>/dev/null | python3 -c "
import json, sys
m = json.load(sys.stdin)
print(next(t['src_path'] for p in m['packages'] for t in p['targets'] if t['name'] == '$bin' and 'bin' in t['kind']))")
  [ -n "$main" ] || { result "$name" dockerfile "FAIL(no source for bin $bin)"; return; }
  echo "// corpus: one-line edit" >>"$main"
  build "$work/build2.log" || { result "$name" dockerfile "FAIL(rebuild: $(tail_of "$work/build2.log"))"; return; }
  local packages compiled external
  packages=$(corpus get "$name" packages)
  compiled=$(grep -o ' Compiling [^ ]* v' "$work/build2.log" | awk '{print $2}' | sort -u | tr '\n' ' ')
  external=$(for c in $compiled; do [[ " $packages " == *" $c "* ]] || echo "$c"; done | tr '\n' ' ')
  [ -n "$compiled" ] || { result "$name" dockerfile "FAIL(rebuild compiled nothing)"; return; }
  [ -z "$external" ] || { result "$name" dockerfile "FAIL(rebuild compiled external: $external)"; return; }
  run_image "$name" "$tag" "$kind" "$expect" "$args" "$work/run2.out" \
    || { result "$name" dockerfile "FAIL(docker run after edit: $(tail_of "$work/run2.out"))"; return; }
  "$docker" image rm -f "$tag" >/dev/null 2>&1
  result "$name" dockerfile "ok (rebuilt: $compiled)"
}

# A failure on a machine that lacks a program the project needs at build time on the host
# (projects.toml `host_tools`) is the machine's: say so, with gantry's own hint.
machine_note() {
  local name=$1 st=$2 missing="" t
  for t in $(corpus get "$name" host_tools); do command -v "$t" >/dev/null || missing+="$t "; done
  [ -n "$missing" ] && [[ $(cat "$results/$name.$st") == FAIL* ]] || return 0
  # What said so: gantry's hint (cook, build) or the build script's own message (plain cargo).
  local said logs=("$dir/run/$name/cook.log" "$dir/run/$name/build.log")
  [ "$st" = image ] && logs=("$dir/run/$name-image/build.log")
  said=$(grep -h -m1 -F "${missing%% *}" "${logs[@]}" 2>/dev/null | head -1 | sed 's/^ *//' | cut -c1-200)
  result "$name" "$st" "FAIL(machine: no ${missing% } here: ${said:-see the log})"
}

for name in $names; do
  for st in $want; do rm -f "$results/$name.$st"; done
  bin=$(corpus get "$name" bin)
  kind=$(corpus get "$name" run)
  expect=$(corpus get "$name" expect)
  args=$(corpus get "$name" args)
  start=$SECONDS
  if wants cook; then
    s=$SECONDS; cook_stage "$name" "$bin" "$kind" "$expect" "$args"; machine_note "$name" cook
    echo " $((SECONDS - s))s" >>"$results/$name.cook"
  fi
  if wants image; then
    s=$SECONDS; image_stage "$name" "$bin" "$kind" "$expect" "$args"; machine_note "$name" image
    echo " $((SECONDS - s))s" >>"$results/$name.image"
  fi
  if wants dockerfile && [ "$(corpus get "$name" dockerfile)" = True ]; then
    s=$SECONDS; dockerfile_stage "$name" "$bin" "$kind" "$expect" "$args"; echo " $((SECONDS - s))s" >>"$results/$name.dockerfile"
  fi
  if wants prepare && ! wants cook && ! wants image && ! wants dockerfile; then
    work=$dir/run/$name-quick && rm -rf "$work" && mkdir -p "$work" && cp -a "$dir/src/$name" "$work/src"
    if (cd "$work/src" && "$gantry" gantry prepare --recipe-path "$work/recipe.json" --bin "$bin") >"$work/prepare.log" 2>&1
    then result "$name" prepare ok; else result "$name" prepare "FAIL($(tail_of "$work/prepare.log"))"; fi
  fi
  log "$name: $((SECONDS - start))s"
done

passed=0 failed=0
printf '\n%-18s | %-28s | %-28s | %s\n' project cook image dockerfile
for name in $names; do
  row=() bad=0
  for st in cook image dockerfile; do
    [ "$st" = cook ] && [ "$stages" = quick ] && st=prepare
    if [ -f "$results/$name.$st" ]; then
      r=$(tr -d '\n' <"$results/$name.$st"); [[ $r == FAIL* ]] && bad=1
    else r=-; fi
    row+=("$r")
  done
  printf '%-18s | %-28s | %-28s | %s\n' "$name" "${row[@]}"
  if [ $bad = 1 ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
done
echo
echo "corpus: $passed passed, $failed failed"
[ $failed = 0 ]
