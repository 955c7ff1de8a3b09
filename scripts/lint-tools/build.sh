#!/usr/bin/env bash
# Build a linter `make lint` runs from the Go module proxy: actionlint (the GitHub Actions
# workflow linter, over .github/workflows/) or promtool (Prometheus's rule checker, over the
# monitoring room's alert rules and their unit tests). Versions: versions.env.
#
# Usage: scripts/lint-tools/build.sh [--relock] [--force] [actionlint|promtool]
#
#   TOOL       the tool to build (default actionlint).
#   --relock   rebuild and write lock/TOOL.go.sum (+ .go.mod, for
#              reference) from what was resolved; commit them afterwards.
#   --force    rebuild even when the cache is complete.
#
# Env: LINT_TOOLS_CACHE  cache root (default ~/.cache/fastapi-service/lint-tools)
#      LINT_TOOLS_JOBS   go build -p (default: number of cores)
#
#   stdout: the bin directory (holding TOOL), as the LAST line.
#   stderr: log, with times; a heartbeat every 30 s during long go steps.
# Cache layout: $LINT_TOOLS_CACHE/TOOL-<version>/{bin/TOOL,.complete}.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# One { ... } block: bash parses the whole script before running it, so
# editing this file during a build cannot break that build.
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=lint-tools

FORCE=0 GMB_RELOCK=0 NAME=actionlint
for arg in "$@"; do
	case "$arg" in
	actionlint | promtool) NAME="$arg" ;;
	*) gmb_common_arg "$arg" "${BASH_SOURCE[0]}" || gmb_die "unknown argument: $arg (try --help)" ;;
	esac
done

# --- 1. Version and cache layout ---------------------------------------------
# shellcheck source=versions.env
. "$HERE/versions.env"
case "$NAME" in
actionlint)
	VERSION="${ACTIONLINT_VERSION:?missing in versions.env}"
	MODULE=github.com/rhysd/actionlint
	MODULE_VERSION="v$VERSION"
	MAIN_PKG=github.com/rhysd/actionlint/cmd/actionlint
	# Built from a wrapper module, the binary's build info names the wrapper, not the tool:
	# stamp the version the way upstream's release build does.
	LDFLAGS="-X $MODULE.version=v$VERSION"
	VERSION_ARGS=(-version)
	VERSION_LINE="v$VERSION" # the first line of its version output, exactly
	;;
promtool)
	VERSION="${PROMTOOL_VERSION:?missing in versions.env}"
	[[ "$VERSION" =~ ^3\.([0-9]+)\.([0-9]+)$ ]] || gmb_die "PROMTOOL_VERSION=$VERSION: expected 3.MINOR.PATCH"
	MODULE=github.com/prometheus/prometheus
	# Release 3.MM.P is the Go module's v0.(300+MM).P (Prometheus's own tagging since 3.0).
	MODULE_VERSION="v0.$((300 + BASH_REMATCH[1])).${BASH_REMATCH[2]}"
	MAIN_PKG=github.com/prometheus/prometheus/cmd/promtool
	# As upstream's .promu.yml stamps it (revision and branch are not known from a module zip).
	LDFLAGS="-X github.com/prometheus/common/version.Version=$VERSION -X github.com/prometheus/common/version.Branch=module -X github.com/prometheus/common/version.Revision=$MODULE_VERSION"
	VERSION_ARGS=(--version)
	VERSION_LINE="promtool, version $VERSION (branch: module, revision: $MODULE_VERSION)"
	;;
esac

GMB_HERE="$HERE"
GMB_KEY="$NAME-$VERSION"
GMB_CACHE_ROOT="${LINT_TOOLS_CACHE:-$HOME/.cache/fastapi-service/lint-tools}"
GMB_JOBS="${LINT_TOOLS_JOBS:-$(nproc)}"
BIN="$GMB_CACHE_ROOT/$GMB_KEY/bin"

# --- 2. The cache, or the module in a wrapper with a tool directive for its main package ---
gmb_tool_module "$NAME" "$MODULE@$MODULE_VERSION" "$MAIN_PKG" "$BIN"

# --- 4. Build ------------------------------------------------------------------
gmb_build "$NAME" "$GMB_NEW/bin/$NAME" "$NAME" "$LDFLAGS" "$MAIN_PKG"
[ -x "$GMB_NEW/bin/$NAME" ] || gmb_die "go build did not produce $NAME (work dir $GMB_WORK)"
version="$("$GMB_NEW/bin/$NAME" "${VERSION_ARGS[@]}" 2>&1 | head -n1)"
[ "$version" = "$VERSION_LINE" ] || gmb_die "built binary says '$version', expected '$VERSION_LINE'"

# --- 5. Publish --------------------------------------------------------------
gmb_publish
printf '%s\n' "$BIN"
exit 0
}
