#!/usr/bin/env bash
# Stop the Docker daemon and registry that up.sh started in RUN_DIR: by their PIDs (only while
# their command line names RUN_DIR), then unmount what dockerd left mounted under RUN_DIR (its
# network namespace handle, overlay layers). Idempotent; images, logs and data stay in RUN_DIR.
#
# Usage: scripts/docker/down.sh RUN_DIR
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
. "$HERE/../lib/common.sh"
export LOG_PREFIX=docker-down

[ $# -eq 1 ] || die "usage: $0 RUN_DIR"
if [ ! -d "$1" ]; then
	log "$1 does not exist: nothing to stop"
	exit 0
fi
RUN="$(cd "$1" && pwd -P)"

# The daemon first (it stops its containerd and builds), the registry last.
for name in dockerd registry; do
	pidfile="$RUN/pids/$name.pid"
	[ -f "$pidfile" ] || continue
	stop_pid "$name" "$(cat "$pidfile")" "$RUN/" 30 || die "could not stop $name (pid $(cat "$pidfile"))"
	rm -f "$pidfile"
	log "stopped $name"
done
# Deepest first, and only mount points below RUN_DIR.
while read -r mountpoint; do
	umount "$mountpoint" 2>/dev/null || umount -l "$mountpoint" || die "could not unmount $mountpoint"
done < <(awk -v run="$RUN/" 'index($5, run) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
