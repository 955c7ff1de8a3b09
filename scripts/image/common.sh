# Shared settings for scripts/image/*.sh and tests/integration/run.sh (sourced, not executed).
# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

# Stand-in base images (used when the real bases cannot be pulled).
STANDIN_PYTHON_IMAGE="${STANDIN_PYTHON_IMAGE:-localhost/standin-python:bookworm}"
# The stand-in uv is the uv the project pins (once, in requirements-dev.txt).
STANDIN_UV_VERSION="${STANDIN_UV_VERSION:-$(sed -n 's/^uv==//p' "$REPO_ROOT/requirements-dev.txt")}"
STANDIN_UV_IMAGE="${STANDIN_UV_IMAGE:-localhost/standin-uv:$STANDIN_UV_VERSION}"
STANDIN_SUITE="${STANDIN_SUITE:-bookworm}"

# buildah: vfs storage works without fuse-overlayfs or kernel overlay support in nested setups.
BUILDAH_STORAGE_DRIVER="${BUILDAH_STORAGE_DRIVER:-vfs}"
# BUILDAH_ROOT / BUILDAH_RUNROOT: a separate image store (e.g. to try another storage driver).
BUILDAH_GLOBAL_OPTS=(--storage-driver "$BUILDAH_STORAGE_DRIVER")
[[ -n "${BUILDAH_ROOT:-}" ]] && BUILDAH_GLOBAL_OPTS+=(--root "$BUILDAH_ROOT")
[[ -n "${BUILDAH_RUNROOT:-}" ]] && BUILDAH_GLOBAL_OPTS+=(--runroot "$BUILDAH_RUNROOT")
bah() { buildah "${BUILDAH_GLOBAL_OPTS[@]}" "$@"; }

# docker is used only when a daemon answers.
have_docker() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

LOG_PREFIX="${LOG_PREFIX:-image}"
# shellcheck source=../lib/common.sh
. "$REPO_ROOT/scripts/lib/common.sh"

image_exists() {
    if have_docker; then docker image inspect "$1" >/dev/null 2>&1; else bah inspect --type image "$1" >/dev/null 2>&1; fi
}
