#!/usr/bin/env bash
# Build restic at the backup pods' version (versions.env) from the Go module proxy,
# so tests and the drill run the restic the CronJobs run (Debian 12 ships 0.14.0, which
# lacks --retry-lock and the exit codes 10/11/12 the backup script relies on).
#
# Usage: scripts/backup/build-restic.sh [--force]
#
# Env: BACKUP_TOOLCHAIN_CACHE  cache root (default ~/.cache/fastapi-service/backup)
#      BACKUP_TOOLCHAIN_JOBS   go build -p (default: number of cores)
#
#   stdout: the bin directory (holding `restic`), as the LAST line.
#   stderr: log, with times.
# The module's own go.sum (inside the module zip, which the checksum database
# authenticates) pins every dependency: the build runs with -mod=readonly in the
# module's directory, so nothing is re-resolved and no lock file of ours is needed.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=backup-toolchain

FORCE=0
for arg in "$@"; do
	case "$arg" in
	--relock) gmb_die "restic needs no lock: its module's go.sum pins every dependency" ;;
	*) gmb_common_arg "$arg" "${BASH_SOURCE[0]}" || gmb_die "unknown argument: $arg (try --help)" ;;
	esac
done

# shellcheck source=versions.env
. "$HERE/versions.env"
: "${RESTIC_VERSION:?missing in versions.env}"

MODULE=github.com/restic/restic
GMB_HERE="$HERE"
GMB_KEY="restic-$RESTIC_VERSION"
GMB_RELOCK=0
GMB_CACHE_ROOT="${BACKUP_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/backup}"
GMB_JOBS="${BACKUP_TOOLCHAIN_JOBS:-$(nproc)}"
BIN="$GMB_CACHE_ROOT/$GMB_KEY/bin"

if [ "$FORCE" = 0 ] && gmb_cached; then
	gmb_log "using cached $BIN/restic"
	printf '%s\n' "$BIN"
	exit 0
fi
if ! gmb_start; then
	printf '%s\n' "$BIN"
	exit 0
fi
mkdir -p "$GMB_NEW/bin"
gmb_download "$MODULE@v$RESTIC_VERSION"
SOURCE="$(gmb_dir_of "$MODULE@v$RESTIC_VERSION")"
[ -f "$SOURCE/go.sum" ] || gmb_die "no go.sum in $SOURCE"

gmb_log "go build ./cmd/restic in $SOURCE"
gmb_heartbeat_start "building restic"
t=$SECONDS
(cd "$SOURCE" && GOFLAGS="-mod=readonly -buildvcs=false -p=$GMB_JOBS" "$GO" build -trimpath -ldflags "-s -w" -o "$GMB_NEW/bin/restic" ./cmd/restic) \
	>"$GMB_WORK/build.log" 2>&1 || gmb_explain_failure "$GMB_WORK/build.log" "go build of restic $RESTIC_VERSION"
gmb_heartbeat_stop
gmb_log "built restic in $((SECONDS - t)) s"

version="$("$GMB_NEW/bin/restic" version)"
case "$version" in "restic $RESTIC_VERSION "*) ;; *) gmb_die "built binary says '$version', expected restic $RESTIC_VERSION" ;; esac
gmb_publish
printf '%s\n' "$BIN"
exit 0
}
