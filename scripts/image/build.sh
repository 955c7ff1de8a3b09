#!/usr/bin/env bash
# Build the service image from app/Dockerfile and print the image name on stdout.
# Usage: scripts/image/build.sh [TAG] [-- extra build args...]
#   TAG          image name (default localhost/fastapi-service:dev)
# Environment:
#   CONTEXT        build context (default <repo>/app; tests pass a modified copy)
#   PYTHON_IMAGE   base image override; UV_IMAGE   uv image override
#   USE_STANDINS   1 = build/reuse the local stand-ins and use them (default 1 without docker,
#                  since base images cannot be pulled here; 0 with docker)
#   BUILD_TIMES    file to append "<iso-date> <tag> <seconds>" to (default <repo>/build/image-build-times.txt)
# With a Docker daemon (docker info succeeds) `docker build` is used, else buildah (vfs, chroot).
# The build seconds are printed on stderr and appended to BUILD_TIMES.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=scripts/image/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TAG="${1:-localhost/fastapi-service:dev}"
shift || true
[[ "${1:-}" == "--" ]] && shift
CONTEXT="${CONTEXT:-$REPO_ROOT/app}"
[[ -f "$CONTEXT/Dockerfile" ]] || die "no Dockerfile in $CONTEXT"
BUILD_TIMES="${BUILD_TIMES:-$REPO_ROOT/build/image-build-times.txt}"

if have_docker; then ENGINE=docker; USE_STANDINS="${USE_STANDINS:-0}"; else ENGINE=buildah; USE_STANDINS="${USE_STANDINS:-1}"; fi
if [[ "$ENGINE" == buildah ]]; then command -v buildah >/dev/null || die "neither a Docker daemon nor buildah available"; fi

ARGS=()
if [[ "$USE_STANDINS" == 1 ]]; then
    "$(dirname "${BASH_SOURCE[0]}")/standins.sh" >/dev/null
    PYTHON_IMAGE="${PYTHON_IMAGE:-$STANDIN_PYTHON_IMAGE}"
    UV_IMAGE="${UV_IMAGE:-$STANDIN_UV_IMAGE}"
fi
[[ -n "${PYTHON_IMAGE:-}" ]] && ARGS+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
[[ -n "${UV_IMAGE:-}" ]] && ARGS+=(--build-arg "UV_IMAGE=$UV_IMAGE")

log "building $TAG with $ENGINE from $CONTEXT ${PYTHON_IMAGE:+(PYTHON_IMAGE=$PYTHON_IMAGE UV_IMAGE=${UV_IMAGE:-default})}"
start=$(date +%s.%N)
if [[ "$ENGINE" == docker ]]; then
    DOCKER_BUILDKIT=1 docker build "${ARGS[@]}" "$@" -t "$TAG" -f "$CONTEXT/Dockerfile" "$CONTEXT" >&2
else
    # --layers: keep intermediate layers so the dependency layer is reused on code-only changes.
    # --format docker: OCI image configs cannot carry HEALTHCHECK.
    # --pull=never: stand-ins are local; nothing can be pulled here (set BUILDAH_PULL=missing to allow).
    # buildah 1.28 leaves a working container behind for the FROM-only `uv` stage: remove the
    # ones this build created (containers of the uv image that did not exist before).
    uv_ref="${UV_IMAGE:-ghcr.io/astral-sh/uv:0.9.13}"
    before="$(bah containers -q --filter ancestor="$uv_ref" 2>/dev/null || true)"
    # shellcheck disable=SC2154 # c is the trap's own loop variable
    trap 'for c in $(bah containers -q --filter ancestor="$uv_ref" 2>/dev/null); do
              grep -qx "$c" <<<"$before" || bah rm "$c" >/dev/null 2>&1 || true; done' EXIT
    bah bud --isolation chroot --layers --format docker --pull="${BUILDAH_PULL:-never}" \
        "${ARGS[@]}" "$@" -t "$TAG" -f "$CONTEXT/Dockerfile" "$CONTEXT" >&2
fi
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
log "built $TAG in ${secs}s"
mkdir -p "$(dirname "$BUILD_TIMES")"
printf '%s %s %s %s\n' "$(date -u +%FT%TZ)" "$TAG" "$ENGINE" "$secs" >> "$BUILD_TIMES"
echo "$TAG"
