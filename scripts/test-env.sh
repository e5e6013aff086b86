#!/usr/bin/env bash
# Prepare this machine for the end-to-end tests: a running Docker engine (BuildKit) and the
# local stand-ins for public base images (nothing can be pulled here). Idempotent, fast when
# everything is up to date. The image script lives in the shared folder beside the checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
for s in "${GANTRY_SHARED:-}" "$here/../shared" "$here/../../shared" /work/shared; do
  if [ -n "$s" ] && [ -f "$s/docker/make-local-images.sh" ]; then
    exec bash "$s/docker/make-local-images.sh"
  fi
done
echo "test-env: make-local-images.sh not found (set GANTRY_SHARED to the shared folder)" >&2
exit 1
