# Shell helpers the scripts share: log lines with a prefix and the time, fatal errors, usage
# text, timed steps, bounded waits, and stopping a process by its PID. Sourced, not run.
# shellcheck shell=bash
#
# The caller sets LOG_PREFIX (e.g. node) before logging.
# shellcheck source-path=SCRIPTDIR

log() { printf '[%s %s] %s\n' "${LOG_PREFIX:-script}" "$(date -u +%T)" "$*" >&2; }
warn() { log "WARNING: $*"; }
die() {
	log "ERROR: $*"
	exit 1
}

# usage_from_header SCRIPT: print SCRIPT's header comment (its usage text) on stderr.
usage_from_header() { awk 'NR > 1 && !/^# shellcheck/ { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$1" >&2; }

# seconds_since START: seconds (one decimal) since START, an $EPOCHREALTIME value.
seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME FUNCTION [ARG...]: run FUNCTION and log one status line with its time (and
# STEP_NOTE, if FUNCTION sets it). STEP is the running step's name (for messages on failure).
STEP=""
step() {
	local name="$1" t0=$EPOCHREALTIME
	shift
	STEP="$name"
	"$@"
	log "$(printf '%-14s' "$name") ok in $(seconds_since "$t0") s${STEP_NOTE:+: $STEP_NOTE}"
	# shellcheck disable=SC2034 # STEP is read by the caller's failure messages
	STEP="" STEP_NOTE=""
}

# wait_for WHAT SECONDS CMD...: run CMD every WAIT_INTERVAL seconds (default 0.5) until it
# succeeds, at most SECONDS (a progress line every 15 s). Returns 1 on timeout: the caller
# says what failed.
# WAIT_ALIVE (optional): a command that must keep succeeding (e.g. "the process still runs");
# when it fails the wait ends at once with status 2.
wait_for() {
	local what="$1" seconds="$2" start=$SECONDS next=15
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ -n "${WAIT_ALIVE:-}" ] && ! $WAIT_ALIVE; then
			log "gave up waiting for $what: ${WAIT_ALIVE} failed"
			return 2
		fi
		if [ $((SECONDS - start)) -ge "$seconds" ]; then
			log "gave up waiting for $what after ${seconds} s"
			return 1
		fi
		if [ $((SECONDS - start)) -ge "$next" ]; then
			log "... still waiting for $what ($((SECONDS - start)) s)"
			next=$((next + 15))
		fi
		sleep "${WAIT_INTERVAL:-0.5}"
	done
}

# pid_is PID MATCH: PID runs and its command line contains MATCH (e.g. the run directory), so a
# stale pid file never leads to signalling someone else's process.
pid_is() {
	local pid="$1" match="$2"
	[[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$match"
}

# await_exec PID MATCH [SECONDS]: wait (bounded, default 10 s) until a process started with `&`
# has exec'd, its command line then holding MATCH. Until then it is a fork of the caller, whose
# command line does not match: an alive check in that moment (a loaded machine makes it long)
# reads as a death with an empty log.
await_exec() {
	local pid="$1" match="$2" deadline=$((SECONDS + ${3:-10}))
	while [ -d "/proc/$pid" ] && ! pid_is "$pid" "$match" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
}

# stop_pid NAME PID MATCH [SECONDS]: SIGTERM, wait up to SECONDS (default 15), then SIGKILL.
# Only while pid_is PID MATCH. Returns 1 if it survives.
stop_pid() {
	local name="$1" pid="$2" match="$3" seconds="${4:-15}" deadline
	pid_is "$pid" "$match" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + seconds))
	while pid_is "$pid" "$match" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
	if pid_is "$pid" "$match"; then
		log "$name (pid $pid) still running ${seconds} s after SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			pid_is "$pid" "$match" || break
			sleep 0.1
		done
	fi
	! pid_is "$pid" "$match"
}

# tail_log FILE [LINES]: the last lines of a log, indented, on stderr.
tail_log() {
	[ -f "$1" ] || return 0
	log "--- last lines of $1 ---"
	tail -n "${2:-30}" "$1" | sed 's/^/    /' >&2
}
