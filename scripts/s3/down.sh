#!/usr/bin/env bash
# Stop the object store that up.sh started for RUN_DIR. Idempotent.
#
# Usage: scripts/s3/down.sh RUN_DIR
#
# Env: S3_DOWN_TIMEOUT  seconds to wait after SIGTERM before SIGKILL
#                      (default 25: weed's graceful stop takes about 16 s,
#                      its filer waiting out a 15 s flush; 1 is fine for a
#                      store whose RUN_DIR is deleted afterwards)
#
# Only processes named in RUN_DIR/pids/*.pid whose command line mentions
# RUN_DIR are signalled; stale pid files are removed. Data, logs and
# credentials stay in RUN_DIR (delete it yourself when done).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
{

LOG_PREFIX=s3-down
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

[ $# -eq 1 ] || die "usage: $0 RUN_DIR"
case "$1" in -h | --help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;; esac
if [ ! -d "$1" ]; then
	log "$1 does not exist: nothing to stop"
	exit 0
fi
RUN_DIR="$(cd "$1" && pwd -P)"
TIMEOUT="${S3_DOWN_TIMEOUT:-25}"

shopt -s nullglob
stopped=0
for pidfile in "$RUN_DIR"/pids/*.pid; do
	pid="$(cat "$pidfile" 2>/dev/null || true)"
	name="$(basename "$pidfile" .pid)"
	case "$pid" in '' | *[!0-9]*)
		log "ignoring $pidfile (no pid in it)"
		rm -f "$pidfile"
		continue
		;;
	esac
	if ! pid_is "$pid" "$RUN_DIR/"; then
		log "$name (pid $pid) is not running for $RUN_DIR: removing stale $pidfile"
		rm -f "$pidfile"
		continue
	fi
	t0=$SECONDS
	stop_pid "$name" "$pid" "$RUN_DIR/" "$TIMEOUT" || die "$name (pid $pid) survived SIGKILL"
	log "stopped $name (pid $pid) in $((SECONDS - t0))s"
	rm -f "$pidfile"
	stopped=$((stopped + 1))
done

# Without a private /tmp (see up.sh), weed leaves gRPC unix sockets named
# after its ports in /tmp: remove exactly those.
if [ "$(cat "$RUN_DIR/pids/private-tmp" 2>/dev/null || echo 1)" = 0 ] && [ -f "$RUN_DIR/ports.env" ]; then
	# shellcheck disable=SC1091
	. "$RUN_DIR/ports.env"
	for s in "master-grpc-${MASTER_GRPC_PORT:-x}" "volume-grpc-${VOLUME_GRPC_PORT:-x}" \
		"filer-grpc-${FILER_GRPC_PORT:-x}" "s3-grpc-${S3_GRPC_PORT:-x}"; do
		if [ -S "/tmp/seaweedfs-$s.sock" ]; then rm -f "/tmp/seaweedfs-$s.sock"; fi
	done
fi
[ "$stopped" -gt 0 ] || log "nothing running for $RUN_DIR"
exit 0
}
