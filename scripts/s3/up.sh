#!/usr/bin/env bash
# Start a throwaway S3-compatible object store (SeaweedFS `weed server -s3`)
# on free random 127.0.0.1 (or S3_BIND_ADDRESS) ports, everything kept inside RUN_DIR.
#
# Usage: scripts/s3/up.sh RUN_DIR
#
# Env: S3_BUCKET         create this bucket once S3 answers (optional; either
#                        way, ready means an object was written and read back)
#      S3_UP_TIMEOUT     seconds to wait for readiness (default 60)
#      S3_BIND_ADDRESS   the address weed listens on and S3_ENDPOINT names (default
#                        127.0.0.1; scripts/node/up.sh runs it in the node's network
#                        namespace on the node IP, so pods reach it)
#      S3_REGION         region written to credentials.env (default us-east-1;
#                        SeaweedFS accepts any region in the signature)
#      S3_PRIVATE_TMP    auto|1|0: run weed in a private mount namespace whose
#                        /tmp is RUN_DIR/tmp (weed hard-codes unix sockets in
#                        /tmp). auto (default) = when `unshare -m` works.
#      S3_TOOLCHAIN_CACHE  passed to build.sh (the binary is built on first use)
#      WEED              use this weed binary instead of build.sh's
#
# RUN_DIR layout (created):
#   credentials.env  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_ENDPOINT,
#                    S3_REGION, AWS_DEFAULT_REGION, [S3_BUCKET]  (mode 0600)
#   ports.env        every port weed listens on (all on 127.0.0.1)
#   s3.json          SeaweedFS identities (the generated key, admin rights)
#   data/ home/ tmp/ weed's data dir, $HOME and $TMPDIR (and private /tmp)
#   logs/weed.log    weed's stdout+stderr      pids/weed.pid
#
#   stdout: the credentials.env path, as the LAST line.
#   stderr: progress and the start-to-ready time.
# Stop with scripts/s3/down.sh RUN_DIR. See README.md in this directory.
# shellcheck disable=SC2016,SC2317 # sh -c script; functions run through wait_for
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=s3-up
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

[ $# -eq 1 ] || die "usage: $0 RUN_DIR"
case "$1" in -h | --help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;; esac
for c in curl python3 awk; do command -v "$c" >/dev/null || die "$c not found"; done
# S3's bucket naming rules, checked here: the server would refuse the name and the wait run out.
if [ -n "${S3_BUCKET:-}" ] && ! [[ "$S3_BUCKET" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]]; then
	die "S3_BUCKET=$S3_BUCKET is not a bucket name: 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"
fi

mkdir -p "$1"
RUN_DIR="$(cd "$1" && pwd -P)"
case "$RUN_DIR" in / | /tmp) die "RUN_DIR must be a directory of its own, not $RUN_DIR" ;; esac
TIMEOUT="${S3_UP_TIMEOUT:-60}"
BIND="${S3_BIND_ADDRESS:-127.0.0.1}"
REGION="${S3_REGION:-us-east-1}"
PIDFILE="$RUN_DIR/pids/weed.pid"
LOGFILE="$RUN_DIR/logs/weed.log"
CRED="$RUN_DIR/credentials.env"

if [ -f "$PIDFILE" ]; then
	old="$(cat "$PIDFILE")"
	if [ -r "/proc/$old/cmdline" ] && tr '\0' ' ' <"/proc/$old/cmdline" | grep -qF -- "$RUN_DIR/"; then
		die "weed (pid $old) is already running for $RUN_DIR: run $HERE/down.sh $RUN_DIR first"
	fi
	rm -f "$PIDFILE"
fi

# --- 1. Binary (built once per version, then cached) ----------------------
if [ -n "${WEED:-}" ]; then
	[ -x "$WEED" ] || die "WEED=$WEED is not executable"
else
	WEED="$("$HERE/build.sh" | tail -n 1)/weed"
	[ -x "$WEED" ] || die "build.sh did not give a weed binary ($WEED)"
fi

T0=$EPOCHREALTIME
log "starting $("$WEED" version 2>/dev/null | head -n 1) for $RUN_DIR"

# --- 2. Layout, ports, credentials -----------------------------------------
mkdir -p "$RUN_DIR/data" "$RUN_DIR/home" "$RUN_DIR/tmp" "$RUN_DIR/logs" "$RUN_DIR/pids"
chmod 0700 "$RUN_DIR/tmp" "$RUN_DIR/home"

# Eight distinct free ports, held open together while picking them so that
# none repeats.
read -r P_MASTER P_MASTER_GRPC P_VOLUME P_VOLUME_GRPC P_FILER P_FILER_GRPC P_S3 P_S3_GRPC < <(python3 -c '
import socket, sys
socks = []
for _ in range(8):
    s = socket.socket()
    s.bind((sys.argv[1], 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$BIND")
cat >"$RUN_DIR/ports.env" <<EOF
# Ports of weed for $RUN_DIR, all bound on $BIND (no auth except S3).
S3_PORT=$P_S3
S3_GRPC_PORT=$P_S3_GRPC
MASTER_PORT=$P_MASTER
MASTER_GRPC_PORT=$P_MASTER_GRPC
VOLUME_PORT=$P_VOLUME
VOLUME_GRPC_PORT=$P_VOLUME_GRPC
FILER_PORT=$P_FILER
FILER_GRPC_PORT=$P_FILER_GRPC
EOF

KEY_ID="$(python3 -c 'import secrets, string; a = string.ascii_uppercase + string.digits; print("AK" + "".join(secrets.choice(a) for _ in range(18)))')"
SECRET="$(python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(40)))')"
ENDPOINT="http://$BIND:$P_S3"
(
	umask 077
	cat >"$RUN_DIR/s3.json" <<EOF
{
  "identities": [
    {
      "name": "test-admin",
      "credentials": [{"accessKey": "$KEY_ID", "secretKey": "$SECRET"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
	{
		printf 'AWS_ACCESS_KEY_ID=%s\n' "$KEY_ID"
		printf 'AWS_SECRET_ACCESS_KEY=%s\n' "$SECRET"
		printf 'S3_ENDPOINT=%s\n' "$ENDPOINT"
		printf 'S3_REGION=%s\n' "$REGION"
		printf 'AWS_DEFAULT_REGION=%s\n' "$REGION"
		if [ -n "${S3_BUCKET:-}" ]; then printf 'S3_BUCKET=%s\n' "$S3_BUCKET"; fi
	} >"$CRED"
)

# --- 3. Start ---------------------------------------------------------------
# Global flags: log to stderr only (glog otherwise writes files to $TMPDIR).
# server flags: every listener on 127.0.0.1 with an explicit port (gRPC ports
# default to http+10000), no telemetry (it would call out to seaweedfs.com),
# no Iceberg/Lance listeners, no metrics/debug listener (off by default), a
# short pre-stop so down.sh is quick, small volumes. -filer.disableHttp: the
# filer's HTTP API (still bound, answering 404) would otherwise read and
# write every object without credentials; S3 does not need it.
ARGS=(
	-logtostderr=true
	server
	-ip="$BIND" -ip.bind="$BIND"
	-dir="$RUN_DIR/data"
	-master.port="$P_MASTER" -master.port.grpc="$P_MASTER_GRPC"
	-master.telemetry=false
	-master.volumeSizeLimitMB=256
	-volume.port="$P_VOLUME" -volume.port.grpc="$P_VOLUME_GRPC"
	-volume.max=64 -volume.preStopSeconds=0
	-filer.port="$P_FILER" -filer.port.grpc="$P_FILER_GRPC"
	-filer.disableHttp
	-s3 -s3.port="$P_S3" -s3.port.grpc="$P_S3_GRPC"
	-s3.port.iceberg=0 -s3.port.lance=0
	-s3.config="$RUN_DIR/s3.json"
	-metricsPort=0
)

PRIVATE_TMP="${S3_PRIVATE_TMP:-auto}"
if [ "$PRIVATE_TMP" = auto ]; then
	if command -v unshare >/dev/null && unshare -m --propagation private true 2>/dev/null; then
		PRIVATE_TMP=1
	else
		PRIVATE_TMP=0
	fi
fi
LAUNCH=()
if [ "$PRIVATE_TMP" = 1 ]; then
	# In a private mount namespace, /tmp is RUN_DIR/tmp. RUN_DIR and weed's own
	# directory, when under /tmp, are bound at the same paths inside the new /tmp
	# so that they keep working there.
	KEEP=()
	for dir in "$RUN_DIR" "$(cd "$(dirname "$WEED")" && pwd -P)"; do
		case "$dir/" in /tmp/*) KEEP+=("$dir"); mkdir -p "$RUN_DIR/tmp/${dir#/tmp/}" ;; esac
	done
	LAUNCH=(unshare -m --propagation private -- sh -c '
		set -e
		root="$1"
		shift
		while [ "$1" != -- ]; do mount --bind "$1" "$root/tmp/${1#/tmp/}"; shift; done
		shift
		mount --rbind "$root/tmp" /tmp
		exec "$@"' sh "$RUN_DIR" "${KEEP[@]}" --)
	log "weed's /tmp is $RUN_DIR/tmp (private mount namespace)"
else
	# Without a mount namespace, the gRPC unix sockets go to
	# /tmp/seaweedfs-<svc>-grpc-<port>.sock; down.sh removes them.
	ARGS+=(-filer.localSocket="$RUN_DIR/tmp/filer.sock" -s3.localSocket="$RUN_DIR/tmp/s3.sock")
	log "no private mount namespace: weed writes /tmp/seaweedfs-*-grpc-<port>.sock (removed by down.sh)"
fi
echo "$PRIVATE_TMP" >"$RUN_DIR/pids/private-tmp"

PID=
fail() {
	log "ERROR: $*"
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		log "stopping weed (pid $PID)"
		"$HERE/down.sh" "$RUN_DIR" >&2 || true
	fi
	if [ -f "$LOGFILE" ]; then
		log "last lines of $LOGFILE:"
		tail -n 30 "$LOGFILE" | sed 's/^/    /' >&2
	fi
	exit 1
}
trap 'fail "interrupted"' INT TERM

# The background child execs (unshare -> sh ->) weed, so $! is weed's pid.
(
	cd "$RUN_DIR"
	exec env HOME="$RUN_DIR/home" TMPDIR="$RUN_DIR/tmp" "${LAUNCH[@]}" "$WEED" "${ARGS[@]}"
) </dev/null >"$LOGFILE" 2>&1 &
PID=$!
echo "$PID" >"$PIDFILE"
log "weed pid $PID, S3 on $ENDPOINT, log $LOGFILE"

# --- 4. Wait until S3 answers a signed request, then can store an object ----
SIGV4=(--aws-sigv4 "aws:amz:$REGION:s3" --user "$KEY_ID:$SECRET")
# s3 METHOD PATH [curl args...] -> prints the HTTP status (000 when no answer)
s3() {
	local m="$1" p="$2"
	shift 2
	# A generous per-request limit (within the overall deadline): a PUT that
	# the client gave up on can still complete in the server later, and
	# recreate the probe object after it was deleted.
	local left=$((DEADLINE - $(date +%s)))
	[ "$left" -le 30 ] || left=30
	[ "$left" -ge 2 ] || left=2
	curl -s -o "$RUN_DIR/tmp/.up-response" -w '%{http_code}' --max-time "$left" -X "$m" "${SIGV4[@]}" "$@" "$ENDPOINT$p" || true
}
DEADLINE=$(($(date +%s) + TIMEOUT))
weed_alive() { kill -0 "$PID" 2>/dev/null; }
# s3_wait WHAT COMMAND...: retry COMMAND until it succeeds, within the overall deadline.
s3_wait() {
	local what="$1" rc=0
	shift
	WAIT_INTERVAL=0.25 WAIT_ALIVE=weed_alive wait_for "$what" $((DEADLINE - $(date +%s))) "$@" || rc=$?
	case "$rc" in
	0) ;;
	2) fail "weed exited while waiting for $what" ;;
	*) fail "$what not ready after ${TIMEOUT}s (S3_UP_TIMEOUT)" ;;
	esac
}
list_ok() { [ "$(s3 GET /)" = 200 ]; }
s3_wait "S3 ListBuckets" list_ok
log "S3 answers a signed ListBuckets after $(seconds_since "$T0")s"

bucket_ok() {
	local code
	code="$(s3 PUT "/$1")"
	[ "$code" = 200 ] || { [ "$code" = 409 ] && grep -q BucketAlreadyOwnedByYou "$RUN_DIR/tmp/.up-response"; }
}
# An object write needs the volume server registered with the master; the
# first write may also wait for volumes to be grown.
# curl 7.88 signs the payload hash but does not send it: SeaweedFS then
# rejects a PUT with a body (SignatureDoesNotMatch) unless it is sent.
PROBE_SHA256="$(printf probe | sha256sum | cut -d' ' -f1)"
put_ok() { [ "$(s3 PUT "/$1/.s3-up-probe" --data-binary probe -H "x-amz-content-sha256: $PROBE_SHA256")" = 200 ]; }
get_ok() { [ "$(s3 GET "/$1/.s3-up-probe")" = 200 ] && [ "$(cat "$RUN_DIR/tmp/.up-response")" = probe ]; }
del_ok() { [ "$(s3 DELETE "/$1/.s3-up-probe")" = 204 ] && [ "$(s3 GET "/$1/.s3-up-probe")" = 404 ]; }
# Ready means writable: ListBuckets answers seconds before the filer can
# store an object (volume server registration, volume growth, filer lock
# ring), so write, read back and delete a probe object, in S3_BUCKET or in a
# temporary bucket removed afterwards.
PROBE_BUCKET="${S3_BUCKET:-s3-up-probe-$(date +%s)}"
s3_wait "bucket $PROBE_BUCKET" bucket_ok "$PROBE_BUCKET"
s3_wait "a write to $PROBE_BUCKET" put_ok "$PROBE_BUCKET"
s3_wait "a read from $PROBE_BUCKET" get_ok "$PROBE_BUCKET"
s3_wait "a delete in $PROBE_BUCKET" del_ok "$PROBE_BUCKET"
if [ -n "${S3_BUCKET:-}" ]; then
	log "bucket $S3_BUCKET ready (probe object written, read back and deleted) after $(seconds_since "$T0")s"
else
	rmbucket_ok() { [ "$(s3 DELETE "/$1")" = 204 ]; }
	s3_wait "deleting bucket $PROBE_BUCKET" rmbucket_ok "$PROBE_BUCKET"
	log "S3 writable (probe bucket written, read back and deleted) after $(seconds_since "$T0")s"
fi
rm -f "$RUN_DIR/tmp/.up-response"
trap - INT TERM

log "ready in $(seconds_since "$T0")s: S3 $ENDPOINT (pid $PID); credentials in $CRED"
printf '%s\n' "$CRED"
exit 0
}
