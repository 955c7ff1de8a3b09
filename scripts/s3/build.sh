#!/usr/bin/env bash
# Build the S3-compatible test object store (SeaweedFS's `weed`) from the Go
# module proxy. Version: versions.env.
#
# Usage: scripts/s3/build.sh [--relock] [--force]
#
#   --relock   rebuild and write lock/seaweedfs.go.sum (+ .go.mod, for
#              reference) from what was resolved; commit them afterwards.
#   --force    rebuild even when the cache is complete.
#
# Env: S3_TOOLCHAIN_CACHE  cache root (default ~/.cache/fastapi-service/s3)
#      S3_TOOLCHAIN_JOBS   go build -p (default: number of cores)
#
#   stdout: the bin directory (holding `weed`), as the LAST line.
#   stderr: log, with times; a heartbeat every 30 s during long go steps.
# Cache layout: $S3_TOOLCHAIN_CACHE/seaweedfs-<version>/{bin/weed,.complete}.
# See README.md in this directory.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# One { ... } block: bash parses the whole script before running it, so
# editing this file during a build cannot break that build.
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=s3-toolchain

FORCE=0 GMB_RELOCK=0
for arg in "$@"; do
	gmb_common_arg "$arg" "${BASH_SOURCE[0]}" || gmb_die "unknown argument: $arg (try --help)"
done

# --- 1. Version and cache layout ---------------------------------------------
# shellcheck source=versions.env
. "$HERE/versions.env"
: "${SEAWEEDFS_VERSION:?missing in versions.env}"

NAME=seaweedfs
MODULE=github.com/seaweedfs/seaweedfs
MAIN_PKG=github.com/seaweedfs/seaweedfs/weed
GMB_HERE="$HERE"
GMB_KEY="$NAME-$SEAWEEDFS_VERSION"
GMB_CACHE_ROOT="${S3_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/s3}"
GMB_JOBS="${S3_TOOLCHAIN_JOBS:-$(nproc)}"
BIN="$GMB_CACHE_ROOT/$GMB_KEY/bin"

# --- 2. The cache, or the module in a wrapper with a tool directive for its main package ---
gmb_tool_module "$NAME" "$MODULE@$SEAWEEDFS_VERSION" "$MAIN_PKG" "$BIN"

# --- 4. Build ------------------------------------------------------------------
gmb_build "$NAME" "$GMB_NEW/bin/weed" weed "-X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=${SEAWEEDFS_VERSION##*-}" "$MAIN_PKG"
[ -x "$GMB_NEW/bin/weed" ] || gmb_die "go build did not produce weed (work dir $GMB_WORK)"

# --- 5. Publish --------------------------------------------------------------
gmb_publish
printf '%s\n' "$BIN"
exit 0
}
