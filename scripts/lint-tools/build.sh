#!/usr/bin/env bash
# Build actionlint (the GitHub Actions workflow linter `make lint` runs over
# .github/workflows/) from the Go module proxy. Version: versions.env.
#
# Usage: scripts/lint-tools/build.sh [--relock] [--force]
#
#   --relock   rebuild and write lock/actionlint.go.sum (+ .go.mod, for
#              reference) from what was resolved; commit them afterwards.
#   --force    rebuild even when the cache is complete.
#
# Env: LINT_TOOLS_CACHE  cache root (default ~/.cache/fastapi-service/lint-tools)
#      LINT_TOOLS_JOBS   go build -p (default: number of cores)
#
#   stdout: the bin directory (holding `actionlint`), as the LAST line.
#   stderr: log, with times; a heartbeat every 30 s during long go steps.
# Cache layout: $LINT_TOOLS_CACHE/actionlint-<version>/{bin/actionlint,.complete}.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# One { ... } block: bash parses the whole script before running it, so
# editing this file during a build cannot break that build.
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=lint-tools

FORCE=0 GMB_RELOCK=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	--relock) GMB_RELOCK=1 FORCE=1 ;;
	-h | --help) awk 'NR > 1 && !/^# shellcheck/ { if (!/^#/) exit; sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}" >&2; exit 0 ;;
	*) gmb_die "unknown argument: $arg (try --help)" ;;
	esac
done

# --- 1. Version and cache layout ---------------------------------------------
# shellcheck source=versions.env
. "$HERE/versions.env"
: "${ACTIONLINT_VERSION:?missing in versions.env}"

NAME=actionlint
MODULE=github.com/rhysd/actionlint
MAIN_PKG=github.com/rhysd/actionlint/cmd/actionlint
GMB_HERE="$HERE"
GMB_KEY="$NAME-$ACTIONLINT_VERSION"
GMB_CACHE_ROOT="${LINT_TOOLS_CACHE:-$HOME/.cache/fastapi-service/lint-tools}"
GMB_JOBS="${LINT_TOOLS_JOBS:-$(nproc)}"
BIN="$GMB_CACHE_ROOT/$GMB_KEY/bin"

# --- 2. Fast path ------------------------------------------------------------
if [ "$FORCE" = 0 ] && gmb_cached; then
	gmb_log "using cached $BIN/actionlint"
	printf '%s\n' "$BIN"
	exit 0
fi

# --- 3. The module, a wrapper requiring it with a tool directive for its main package ----
if ! gmb_start; then
	printf '%s\n' "$BIN"
	exit 0
fi
mkdir -p "$GMB_NEW/bin"
gmb_download "$MODULE@v$ACTIONLINT_VERSION"
gmb_new_module "$NAME" "$(gmb_gomod_of "$MODULE@v$ACTIONLINT_VERSION")"
(cd "$GMB_WORK/$NAME" && "$GO" mod edit -require="$MODULE@v$ACTIONLINT_VERSION" -tool="$MAIN_PKG")
gmb_resolve "$NAME"

# --- 4. Build ------------------------------------------------------------------
# Built from a wrapper module, the binary's build info names the wrapper, not actionlint:
# stamp the version the way upstream's release build does.
gmb_build "$NAME" "$GMB_NEW/bin/actionlint" actionlint "-X $MODULE.version=v$ACTIONLINT_VERSION" "$MAIN_PKG"
[ -x "$GMB_NEW/bin/actionlint" ] || gmb_die "go build did not produce actionlint (work dir $GMB_WORK)"
version="$("$GMB_NEW/bin/actionlint" -version | head -n1)"
[ "$version" = "v$ACTIONLINT_VERSION" ] || gmb_die "built binary says '$version', expected v$ACTIONLINT_VERSION"

# --- 5. Publish --------------------------------------------------------------
gmb_publish
printf '%s\n' "$BIN"
exit 0
}
