# Shared settings for scripts/image/*.sh and tests/integration/run.sh (sourced, not executed).
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

# Stand-in base images (used when the real bases cannot be pulled).
STANDIN_PYTHON_IMAGE="${STANDIN_PYTHON_IMAGE:-localhost/standin-python:bookworm}"
STANDIN_UV_IMAGE="${STANDIN_UV_IMAGE:-localhost/standin-uv:0.13.9}"
STANDIN_UV_VERSION="${STANDIN_UV_VERSION:-0.13.9}"
STANDIN_SUITE="${STANDIN_SUITE:-bookworm}"

# buildah: vfs storage works without fuse-overlayfs or kernel overlay support in nested setups.
BUILDAH_STORAGE_DRIVER="${BUILDAH_STORAGE_DRIVER:-vfs}"
bah() { buildah --storage-driver "$BUILDAH_STORAGE_DRIVER" "$@"; }

# docker is used only when a daemon answers.
have_docker() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

log() { printf '%s %s\n' "[$(date +%H:%M:%S)]" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

image_exists() {
    if have_docker; then docker image inspect "$1" >/dev/null 2>&1; else bah inspect --type image "$1" >/dev/null 2>&1; fi
}
