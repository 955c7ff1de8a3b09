#!/usr/bin/env bash
# Stop the control plane that up.sh started in RUN_DIR.
#
# Usage: scripts/control-plane/down.sh RUN_DIR
#
# Sends SIGTERM to every process in RUN_DIR/pids (kwok and the controllers
# first, etcd last), waits up to CLUSTER_DOWN_TIMEOUT seconds (default 15)
# for each, then SIGKILL. A pid is only signalled while it is still the
# process up.sh started: its executable is named like its pid file and its
# command line mentions RUN_DIR. Idempotent; leaves logs and data in RUN_DIR
# (removing RUN_DIR is the caller's choice).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

LOG_PREFIX=cluster
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
if [ $# -ne 1 ] || [ -z "$1" ]; then
	usage_from_header "${BASH_SOURCE[0]}"
	exit 2
fi
[ -d "$1" ] || { log "nothing to stop: $1 does not exist"; exit 0; }
RUN="$(cd "$1" && pwd)"
TIMEOUT="${CLUSTER_DOWN_TIMEOUT:-15}"

# ours NAME PID: PID is still the NAME that up.sh started for RUN_DIR.
ours() {
	local name="$1" pid="$2" exe cmdline
	[ -d "/proc/$pid" ] || return 1
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
	exe="${exe% (deleted)}"
	[ "$(basename "$exe")" = "$name" ] || return 1
	cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
	case "$cmdline" in *"$RUN/"*) return 0 ;; *) return 1 ;; esac
}

stopped=0
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
	f="$RUN/pids/$name.pid"
	[ -f "$f" ] || continue
	pid="$(cat "$f")"
	if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! ours "$name" "$pid"; then
		rm -f "$f" # gone already, or the pid now belongs to someone else
		continue
	fi
	stop_pid "$name" "$pid" "$RUN/" "$TIMEOUT" || die "could not stop $name (pid $pid)"
	rm -f "$f"
	stopped=$((stopped + 1))
done
log "stopped $stopped process(es) of $RUN (logs kept in $RUN/logs)"
