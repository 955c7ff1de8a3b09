#!/usr/bin/env bash
# Take down the node that up.sh started in RUN_DIR and leave the machine as it was: undo, in
# reverse order, what RUN_DIR/state/started records (processes by their pid file, the control
# plane, the S3 server, every process left in the node's cgroup, the sysctls kubelet changed,
# the mounts under RUN_DIR, the network namespace and veth, the files up.sh created outside
# RUN_DIR).
#
# Usage: scripts/node/down.sh RUN_DIR
#
# Idempotent: a second run, or a RUN_DIR without a node, does nothing. If an undo fails, the
# record stays and a rerun tries again. Logs and data stay in RUN_DIR (remove it yourself).
# Env: NODE_DOWN_TIMEOUT  seconds to wait for each process after SIGTERM (default 15)
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the undo_* functions run by name, from the record
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../lib/common.sh
. "$REPO/scripts/lib/common.sh"
# shellcheck source=names.sh
. "$HERE/names.sh"
LOG_PREFIX=node-down

if [ $# -ne 1 ] || [ -z "$1" ]; then die "usage: $0 RUN_DIR"; fi
case "$1" in -h | --help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;; esac
if [ ! -d "$1" ]; then
	log "nothing to stop: $1 does not exist"
	exit 0
fi
RUN="$(cd "$1" && pwd -P)"
node_names
RECORD="$RUN/state/started"
TIMEOUT="${NODE_DOWN_TIMEOUT:-15}"
# One down.sh at a time per RUN_DIR (a second one waits, then finds nothing left to undo).
if [ -d "$RUN/state" ]; then
	exec 9>"$RUN/state/.down.lock"
	flock 9
fi
if [ ! -s "$RECORD" ]; then
	log "nothing to stop in $RUN"
	exit 0
fi
T0=$EPOCHREALTIME

# --- One undo per kind of record line -------------------------------------------------------

undo_process() {
	local name="$1" f="$RUN/pids/$1.pid"
	[ -f "$f" ] || return 0
	stop_pid "$name" "$(cat "$f")" "$RUN/" "$TIMEOUT" || { log "ERROR: could not stop $name (pid $(cat "$f"))"; return 1; }
	rm -f "$f"
}

undo_control-plane() { [ ! -d "$1" ] || CLUSTER_DOWN_TIMEOUT="$TIMEOUT" "$REPO/scripts/control-plane/down.sh" "$1" 2>>"$RUN/logs/down.log"; }
undo_s3() { [ ! -d "$1" ] || S3_DOWN_TIMEOUT=1 "$REPO/scripts/s3/down.sh" "$1" 2>>"$RUN/logs/down.log"; }

# Every cgroup hierarchy under /sys/fs/cgroup: the v1 ones up.sh created the node's cgroup in,
# and the hybrid layout's cgroup2 `unified`, where runc mirrors the pods' cgroups.
cg_hierarchies() { awk '($9 == "cgroup" || $9 == "cgroup2") && $5 ~ "^/sys/fs/cgroup/" { print $5 }' /proc/self/mountinfo; }
# Every process still in the node's cgroup (containerd's shims, containers, a CNI plugin): all
# of them were started for this node, by its runtime; then the cgroups themselves. kill-cgroup:
# the pods only (kubepods), once kubelet is stopped and before the API server stops (their
# watches would hold its graceful shutdown).
undo_kill-cgroup() { kill_cgroup "$1"; }
undo_cgroup() { kill_cgroup "$1" && remove_cgroup "$1"; }
kill_cgroup() {
	local group="$1" h pids round
	for round in $(seq 50); do
		pids="$(for h in $(cg_hierarchies); do [ -d "$h$group" ] && find "$h$group" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -un)"
		[ -n "$pids" ] || break
		if [ "$round" = 1 ]; then log "stopping $(wc -w <<<"$pids") process(es) left in cgroup $group"; fi
		# shellcheck disable=SC2086 # one pid per word
		kill -KILL $pids 2>/dev/null || true
		sleep 0.2
	done
	[ -z "$pids" ] || { log "ERROR: processes still in cgroup $group: $pids"; return 1; }
}
remove_cgroup() {
	local group="$1" h
	for h in $(cg_hierarchies); do
		[ -d "$h$group" ] || continue
		# Deepest first: a cgroup directory goes only once its children are gone.
		find "$h$group" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[ ! -d "$h$group" ] || { log "ERROR: could not remove $h$group"; return 1; }
	done
}

undo_sysctls() {
	local line
	[ -f "$1" ] || return 0
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		[ "$(sysctl -n "${line%%=*}")" = "${line#*=}" ] || sysctl -q -w "$line" >/dev/null
	done <"$1"
}

# The mount points under RUN_DIR (not RUN_DIR itself), deepest first; /proc/self/mountinfo
# escapes spaces as \040.
mounts_under() {
	awk -v run="$1" 'index($5, run "/") == 1 { print $5 }' /proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}
undo_mounts-under() {
	local m left round
	for round in 1 2 3; do
		while IFS= read -r m; do
			[ -n "$m" ] || continue
			m="$(printf '%b' "$m")"
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done < <(mounts_under "$1")
		left="$(mounts_under "$1")"
		[ -n "$left" ] || return 0
	done
	log "ERROR: still mounted under $1: $(head -n 3 <<<"$left" | tr '\n' ' ')"
	return 1
}
# cwd_holders DIR: "pid (command)" of the processes whose working directory, root or an open
# file is in DIR.
cwd_holders() {
	local d pid link
	for d in /proc/[0-9]*; do
		pid="${d#/proc/}"
		for link in "$d/cwd" "$d/root" "$d"/fd/*; do
			case "$(readlink "$link" 2>/dev/null)/" in "$1"/*)
				printf '%s (%s) ' "$pid" "$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null | cut -c1-60)"
				break
				;;
			esac
		done
	done
}
# RUN_DIR's bind mount of itself: a process whose working directory is inside (a shell in
# RUN_DIR) keeps it busy; then it is detached lazily (the directory underneath is the same).
undo_bind-mount() {
	local m="$1"
	# The last undo: our own lock file (in RUN_DIR/state) would keep the mount busy.
	exec 9>&-
	while awk -v m="$m" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; do
		if ! umount "$m" 2>/dev/null; then
			log "$m is busy (in use by: $(cwd_holders "$m"); mounts left: $(mounts_under "$m" | wc -l)): detaching it lazily"
			umount -l "$m" || return 1
		fi
	done
}

undo_netns() {
	if [ -e "/run/netns/$1" ]; then ip netns delete "$1"; fi
}
undo_veth() {
	if ip link show "$1" >/dev/null 2>&1; then ip link delete "$1"; fi
}
# /run/netns was made a mount point by `ip netns add`: undo that once no namespace is left in it.
undo_netns-dir-mount() {
	[ -z "$(ls -A /run/netns 2>/dev/null)" ] || return 0
	while mountpoint -q /run/netns; do umount /run/netns || return 1; done
	if [ "$1" = remove-dir ]; then rmdir /run/netns 2>/dev/null || true; fi
}
# A file or directory up.sh found absent and something it started created (iptables' lock,
# kubelet's /var/log/containers, the shim socket directory). A directory goes only when
# empty: another node on this machine may be using it.
undo_file-created() {
	local path="$1"
	if [ -d "$path" ]; then
		find "$path" -depth -type d -empty -delete 2>/dev/null || true
		[ ! -d "$path" ] || log "$path is not empty (another node uses it?): left in place"
	elif [ -e "$path" ]; then
		if [ "$path" = /run/xtables.lock ] && ! flock -n "$path" true; then
			log "/run/xtables.lock is held by a running iptables: left in place"
			return 0
		fi
		rm -f -- "$path"
	fi
}

# libcni's cache (/var/lib/cni, which containerd does not move): the results of this node's
# pod sandboxes (a DEL never ran for them), then the directory if up.sh found none.
undo_cni-cache() {
	local dir="$1" how="$2" sandboxes="$RUN/containerd/root/io.containerd.grpc.v1.cri/sandboxes" f id
	if [ -d "$dir/results" ] && [ -d "$sandboxes" ]; then
		for id in "$sandboxes"/*; do
			id="$(basename "$id")"
			for f in "$dir"/results/*"-$id-"*; do if [ -e "$f" ]; then rm -f -- "$f"; fi; done
		done
	fi
	if [ "$how" = created ] && [ -d "$dir" ]; then
		find "$dir" -depth -type d -empty -delete 2>/dev/null || true
		[ ! -d "$dir" ] || log "$dir is not empty (another node uses it?): left in place"
	fi
}

# Symbolic links in DIR that point into PREFIX (kubelet's /var/log/containers/*.log).
undo_links-into() {
	local dir="$1" prefix="$2" link
	[ -d "$dir" ] || return 0
	while IFS= read -r -d '' link; do
		case "$(readlink "$link")" in "$prefix"*) rm -f -- "$link" ;; esac
	done < <(find "$dir" -maxdepth 1 -type l -print0)
}

# --- Run the record backwards --------------------------------------------------------------
failed=()
mapfile -t lines < <(tac "$RECORD")
for line in "${lines[@]}"; do
	[ -n "$line" ] || continue
	read -r kind args <<<"$line"
	if ! declare -F "undo_$kind" >/dev/null; then
		log "ERROR: unknown record '$line' in $RECORD"
		failed+=("$line")
		continue
	fi
	t=$EPOCHREALTIME
	# shellcheck disable=SC2086 # the record's arguments are words
	if ! "undo_$kind" $args; then
		failed+=("$line")
	fi
	# The slow ones get a line: a process that ignored SIGTERM, a busy mount.
	if awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 2) }'; then log "undid '$line' in $(seconds_since "$t") s"; fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	log "ERROR: could not undo: ${failed[*]} (run $0 $RUN again)"
	exit 1
fi
: >"$RECORD"
log "node of $RUN down in $(seconds_since "$T0") s (logs kept in $RUN/logs)"
exit 0
}
