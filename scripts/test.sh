#!/usr/bin/env bash
# The one test command (README and CI): prepare the machine, then run every test and the lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-env.sh
export DOCKER_BUILDKIT=1
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
