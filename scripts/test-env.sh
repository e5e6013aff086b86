#!/usr/bin/env bash
# Install and start what the test suite needs, when it is missing: the Docker engine (Debian's
# docker.io, used through /usr/bin/docker with BuildKit), the local stand-ins for the base images
# (../shared/docker/make-local-images.sh; nothing can be pulled here), the OCI validators (skopeo,
# umoci, crun), check-jsonschema (GitHub's workflow schema), the distribution registry and
# htpasswd for the registry tests, openssl for the signature tests, the arm64 cross toolchain, the
# C libraries the ELF tests link against, and the cross builder and arm64 runtime images of the
# Dockerfile platform tests (scripts/cross-builder.sh). Idempotent: a second run takes about a
# second.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[test-env] %s\n' "$*" >&2; }

need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /usr/bin/docker ] || need+=(docker.io)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v crun >/dev/null || need+=(crun)
command -v docker-registry >/dev/null || [ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v git >/dev/null || need+=(git)
arch=$(dpkg --print-architecture)
dpkg -s "zlib1g-dev:$arch" >/dev/null 2>&1 || need+=(zlib1g-dev)
dpkg -s "libssl-dev:$arch" >/dev/null 2>&1 || need+=(libssl-dev)
dpkg -s "pkg-config:$arch" >/dev/null 2>&1 || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  log "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# GitHub's workflow schema for `cargo gantry ci github` (check-jsonschema ships its schemas).
if ! command -v check-jsonschema >/dev/null; then
  command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  }
  log "installing check-jsonschema"
  python3 -m pip install --quiet --break-system-packages check-jsonschema >/dev/null
fi
# The registry package starts a system service on install; the tests run their own instances.
# Its own init script stops it (by its pid file).
systemctl disable --now docker-registry >/dev/null 2>&1 || true
service docker-registry stop >/dev/null 2>&1 || true

if ! /usr/bin/docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (nohup dockerd >/var/log/gantry-dockerd.log 2>&1 &)
  for _ in $(seq 60); do /usr/bin/docker info >/dev/null 2>&1 && break; sleep 1; done
  /usr/bin/docker info >/dev/null 2>&1 || { tail -20 /var/log/gantry-dockerd.log >&2; exit 1; }
fi

images=
for shared in "${GANTRY_SHARED:-}" "$here/../shared" /work/shared; do
  if [ -n "$shared" ] && [ -f "$shared/docker/make-local-images.sh" ]; then images=$shared/docker/make-local-images.sh; break; fi
done
if [ -n "$images" ]; then
  log "making local base images (first run: about 5 minutes)"
  if ! bash "$images" >/var/tmp/gantry-make-local-images.log 2>&1; then
    tail -30 /var/tmp/gantry-make-local-images.log >&2; log "make-local-images.sh failed"; exit 1
  fi
else
  log "no shared/docker/make-local-images.sh beside the checkout (set GANTRY_SHARED): the Docker tests need the local base images"; exit 1
fi
# arm64: Debian's rustc-web with the aarch64 std (rustup toolchain `cross-1.96`), the cross gcc,
# arm64 dev packages and qemu in binfmt_misc. Debian's qemu-binfmt wrappers (`*-binfmt-P`) need
# the P flag (preserve argv[0]); register it so before the setup script, which keeps an existing
# registration, runs its proof.
cross=${images%/docker/make-local-images.sh}/cross/setup-arm64.sh
if [ -f "$cross" ]; then
  if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
     && [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
    sed 's/:[A-Z]*$/:POCF/' /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
  fi
  if ! bash "$cross" >/var/tmp/gantry-setup-arm64.log 2>&1; then
    # First run: the packages (and Debian's binfmt file) arrive inside the script; register
    # with the flag the wrapper needs and prove it again.
    if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && grep -q 'binfmt-P' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
       && ! grep -q '^flags: .*P' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
      echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64
      sed 's/:[A-Z]*$/:POCF/' /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
    fi
    bash "$cross" >/var/tmp/gantry-setup-arm64.log 2>&1 || { tail -20 /var/tmp/gantry-setup-arm64.log >&2; log "setup-arm64.sh failed"; exit 1; }
  fi
else
  log "no shared/cross/setup-arm64.sh beside the checkout: the arm64 tests need it"; exit 1
fi
# The builder and runtime images of the cross-compiled Dockerfile tests, made from the packages
# above (nothing pulled).
if ! bash "$here/scripts/cross-builder.sh" >/var/tmp/gantry-cross-builder.log 2>&1; then
  tail -30 /var/tmp/gantry-cross-builder.log >&2; log "cross-builder.sh failed"; exit 1
fi
# SBOM validators (PyPI) and the reader of cargo-auditable data (crates.io).
python3 -c 'import spdx_tools, cyclonedx' >/dev/null 2>&1 \
  || python3 -m pip install -q --break-system-packages spdx-tools cyclonedx-python-lib >&2
command -v rust-audit-info >/dev/null || cargo install -q rust-audit-info --locked >&2
log "ready"
