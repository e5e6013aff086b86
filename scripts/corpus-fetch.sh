#!/usr/bin/env bash
# Download the corpus (tests/corpus/projects.toml) with cargo into ${GANTRY_CORPUS_DIR:-target/corpus},
# verify every .crate's sha256, lay out the source trees. Idempotent; about a second when cached.
#   scripts/corpus-fetch.sh [NAME…]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/corpus/corpus.py fetch "$@"
