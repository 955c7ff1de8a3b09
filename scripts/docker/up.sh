#!/usr/bin/env bash
# Start a private Docker daemon (Debian's dockerd, BuildKit built in) and a private registry
# (Debian's docker-registry) for image.mode build, everything under RUN_DIR: the daemon's socket,
# data root, exec root and pidfile, the registry's storage and config. It never touches a daemon
# the user runs: its own socket, no bridge, no iptables rules (builds use `image.buildNetwork:
# host`), no /var/lib/docker.
#
# Usage: scripts/docker/up.sh [--registry-auth USER] [--registry-address HOST:PORT | --use-registry HOST:PORT] RUN_DIR
#
#   --registry-auth USER      the registry asks for USER's password (htpasswd, bcrypt); the
#                             password is written to RUN_DIR/registry-password (mode 0600)
#   --registry-address A      where the registry listens (default 127.0.0.1 on a free port);
#                             dockerd treats 127.0.0.0/8 as plain HTTP, any other is added to
#                             its insecure-registries
#   --use-registry A          start no registry: push to the one at A (e.g. a node's), plain HTTP
#   stdout: RUN_DIR/docker.env as the LAST line: DOCKER_HOST, REGISTRY (host:port), and
#           REGISTRY_USER when authenticated (sourceable)
#   stderr: log; on failure the tail of the log concerned.
# Stop with scripts/docker/down.sh RUN_DIR (by PID; unmounts what dockerd mounted there).
# shellcheck disable=SC2317 # the wait conditions run through wait_for
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
. "$HERE/../lib/common.sh"
export LOG_PREFIX=docker-up

AUTH_USER="" ADDRESS="" RUN_ARG="" OWN_REGISTRY=1
while [ $# -gt 0 ]; do
	case "$1" in
	--registry-auth) AUTH_USER="${2:?--registry-auth needs a user}"; shift 2 ;;
	--registry-address) ADDRESS="${2:?--registry-address needs HOST:PORT}"; shift 2 ;;
	--use-registry) ADDRESS="${2:?--use-registry needs HOST:PORT}"; OWN_REGISTRY=0; shift 2 ;;
	-h | --help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
	-*) die "unknown option $1 (try --help)" ;;
	*) [ -z "$RUN_ARG" ] || die "one RUN_DIR only"; RUN_ARG="$1"; shift ;;
	esac
done
[ -n "$RUN_ARG" ] || die "usage: $0 [--registry-auth USER] [--registry-address HOST:PORT] RUN_DIR"
for tool in dockerd docker-registry htpasswd curl python3; do
	command -v "$tool" >/dev/null || die "$tool not found (Debian: scripts/system-packages.sh docker; htpasswd is apache2-utils)"
done
mkdir -p "$RUN_ARG"
RUN="$(cd "$RUN_ARG" && pwd -P)"
MARKER="$RUN/.fastapi-service-docker-run"
if [ ! -f "$MARKER" ] && [ -n "$(ls -A "$RUN")" ]; then
	die "$RUN holds files up.sh did not write; give it a new or empty RUN_DIR"
fi
touch "$MARKER"
for pidfile in "$RUN"/pids/*.pid; do
	[ -f "$pidfile" ] && pid_is "$(cat "$pidfile")" "$RUN/" && die "$RUN already runs $(basename "$pidfile" .pid); run down.sh $RUN first"
done
mkdir -p "$RUN/pids" "$RUN/logs" "$RUN/data" "$RUN/exec" "$RUN/registry/storage"

READY=0
# shellcheck disable=SC2317 # the EXIT trap
on_exit() {
	local rc=$?
	[ "$READY" = 1 ] && return 0
	tail_log "$RUN/logs/dockerd.log"
	tail_log "$RUN/logs/registry.log"
	"$HERE/down.sh" "$RUN" >&2 || true
	exit "$((rc == 0 ? 1 : rc))"
}
trap on_exit EXIT

# --- the registry ---------------------------------------------------------------------------
start_registry() {
	if [ -z "$ADDRESS" ]; then
		ADDRESS="127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
	fi
	local auth=""
	if [ -n "$AUTH_USER" ]; then
		umask 077
		python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$RUN/registry-password"
		htpasswd -Bbn "$AUTH_USER" "$(cat "$RUN/registry-password")" >"$RUN/registry/htpasswd" 2>/dev/null
		umask 022
		auth="$(printf 'auth:\n  htpasswd:\n    realm: fastapi-service-test\n    path: %s' "$RUN/registry/htpasswd")"
	fi
	printf '%s\n' \
		"version: 0.1" "log:" "  level: info" \
		"storage:" "  filesystem:" "    rootdirectory: $RUN/registry/storage" "  delete:" "    enabled: true" \
		"http:" "  addr: $ADDRESS" "$auth" >"$RUN/registry/config.yml"
	docker-registry serve "$RUN/registry/config.yml" </dev/null >"$RUN/logs/registry.log" 2>&1 &
	echo $! >"$RUN/pids/registry.pid"
	await_exec "$(cat "$RUN/pids/registry.pid")" "$RUN/"
	registry_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDRESS/v2/")" != 000 ]; }
	WAIT_ALIVE="pid_is $(cat "$RUN/pids/registry.pid") $RUN/" wait_for "the registry on $ADDRESS" 30 registry_up ||
		die "the registry did not answer on $ADDRESS"
	log "registry on $ADDRESS${AUTH_USER:+ (htpasswd: $AUTH_USER)}"
}
if [ "$OWN_REGISTRY" = 1 ]; then
	start_registry
else
	[ -z "$AUTH_USER" ] || die "--registry-auth is for the registry up.sh starts, not one given with --use-registry"
	log "pushing to the registry at $ADDRESS (not started here)"
fi

# --- dockerd ----------------------------------------------------------------------------------
insecure=()
case "$ADDRESS" in 127.*) ;; *) insecure=(--insecure-registry "$ADDRESS") ;; esac
# No bridge and no iptables: nothing on this machine's network or firewall changes. The daemon's
# own containerd lives in the exec root.
dockerd \
	--data-root "$RUN/data" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
	-H "unix://$RUN/docker.sock" \
	--bridge=none --iptables=false --ip6tables=false --ip-masq=false \
	--storage-driver=overlay2 "${insecure[@]}" \
	</dev/null >"$RUN/logs/dockerd.log" 2>&1 &
echo $! >"$RUN/pids/dockerd.pid"
await_exec "$(cat "$RUN/pids/dockerd.pid")" "$RUN/"
daemon_up() { curl -s --unix-socket "$RUN/docker.sock" http://docker/_ping | grep -q OK; }
WAIT_ALIVE="pid_is $(cat "$RUN/pids/dockerd.pid") $RUN/" wait_for "dockerd" 60 daemon_up || die "dockerd did not answer on $RUN/docker.sock"
log "dockerd on unix://$RUN/docker.sock ($(curl -s --unix-socket "$RUN/docker.sock" http://docker/version | python3 -c 'import json,sys; print(json.load(sys.stdin)["Version"])'))"

{
	echo "DOCKER_HOST=unix://$RUN/docker.sock"
	echo "REGISTRY=$ADDRESS"
	[ -z "$AUTH_USER" ] || echo "REGISTRY_USER=$AUTH_USER"
} >"$RUN/docker.env"
READY=1
printf '%s\n' "$RUN/docker.env"
exit 0
}
