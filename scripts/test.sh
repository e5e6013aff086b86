#!/usr/bin/env bash
# The one test command (README and CI): prepare the machine, then run every test and the lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-env.sh
# The real-world corpus for tests/it/corpus.rs (cached: about a second).
bash scripts/corpus-fetch.sh
export DOCKER_BUILDKIT=1
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
