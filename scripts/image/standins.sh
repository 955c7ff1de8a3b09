#!/usr/bin/env bash
# Build local stand-ins for the base images when they cannot be pulled (idempotent):
#   localhost/standin-python:bookworm  Debian bookworm + python3 (3.11) + this machine's CA bundle
#   localhost/standin-uv:<uv pin>      FROM scratch with /uv and /uvx (like ghcr.io/astral-sh/uv)
# Usage: scripts/image/standins.sh [--force]
# Prints the two image names (python first) on stdout.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=scripts/image/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

command -v buildah >/dev/null || die "buildah not installed"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[[ -r "$CA_BUNDLE" ]] || die "CA bundle $CA_BUNDLE not readable"

WORK="$(mktemp -d /tmp/standins.XXXXXX)"
CTR=""
cleanup() {
    [[ -n "$CTR" ]] && bah rm "$CTR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

build_python() {
    command -v mmdebstrap >/dev/null || die "mmdebstrap not installed"
    log "building $STANDIN_PYTHON_IMAGE with mmdebstrap ($STANDIN_SUITE)"
    # Apt sources of the host (reachable mirror); apt lists and caches are dropped from the tarball.
    mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$STANDIN_SUITE" "$WORK/rootfs.tar"
    CTR="$(bah from --pull=never scratch)"
    bah add "$CTR" "$WORK/rootfs.tar" / >/dev/null
    # The network here goes through a CA that Debian's bundle lacks.
    bah copy "$CTR" "$CA_BUNDLE" /etc/ssl/certs/ca-certificates.crt >/dev/null
    bah config \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 \
        --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
        --cmd python3 \
        --label org.opencontainers.image.description="stand-in for python:3.x-slim-bookworm (Debian python3)" \
        "$CTR"
    bah commit --quiet --rm "$CTR" "$STANDIN_PYTHON_IMAGE" >/dev/null
    CTR=""
}

build_uv() {
    log "building $STANDIN_UV_IMAGE from the PyPI uv==$STANDIN_UV_VERSION wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$WORK/whl" "uv==$STANDIN_UV_VERSION"
    local whl
    whl="$(ls "$WORK"/whl/uv-*.whl)"
    mkdir -p "$WORK/uv"
    python3 -m zipfile -e "$whl" "$WORK/uv"
    local bin
    bin="$(ls "$WORK"/uv/uv-*.data/scripts/uv)"
    install -m 0755 "$bin" "$WORK/uvbin"
    [[ -f "$(dirname "$bin")/uvx" ]] && install -m 0755 "$(dirname "$bin")/uvx" "$WORK/uvxbin"
    CTR="$(bah from --pull=never scratch)"
    bah copy --chmod 0755 "$CTR" "$WORK/uvbin" /uv >/dev/null
    [[ -f "$WORK/uvxbin" ]] && bah copy --chmod 0755 "$CTR" "$WORK/uvxbin" /uvx >/dev/null
    bah config --entrypoint '["/uv"]' "$CTR"
    bah commit --quiet --rm "$CTR" "$STANDIN_UV_IMAGE" >/dev/null
    CTR=""
}

if [[ $FORCE == 1 ]] || ! image_exists "$STANDIN_PYTHON_IMAGE"; then build_python; else log "reusing $STANDIN_PYTHON_IMAGE"; fi
if [[ $FORCE == 1 ]] || ! image_exists "$STANDIN_UV_IMAGE"; then build_uv; else log "reusing $STANDIN_UV_IMAGE"; fi

echo "$STANDIN_PYTHON_IMAGE"
echo "$STANDIN_UV_IMAGE"
