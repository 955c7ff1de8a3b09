#!/usr/bin/env bash
# Integration test of the service image (app/Dockerfile), run by `make test-integration`.
#   tests/integration/run.sh
# Steps: stand-in bases -> cold build (timed, --no-cache) -> code-only change in a COPY of app/
# (the repo is not modified) -> warm rebuild (timed; the dependency layer must come from cache)
# -> image size and size over the base -> real MariaDB + Redis on free 127.0.0.1 ports ->
# `python -m service migrate` and the server run from the image as uid 10001 (buildah run,
# host network, secrets dir bind-mounted read-only) -> /healthz, /readyz, the image's
# HEALTHCHECK command, a CRUD round trip with a Bearer key -> server uid != 0, no uv/compiler
# in the image, no writes outside /tmp -> cleanup (trap on EXIT).
# Prints one "PASS|FAIL <check>" line per check and the figures; exits 1 on any failure.
# (Over 300 lines on purpose: one image's life in order, each step's checks beside it.)
# Environment:
#   BUILDAH_STORAGE_DRIVER (+ BUILDAH_ROOT / BUILDAH_RUNROOT)  image store; default: overlay in
#       /var/lib/containers/storage-itest-overlay if the kernel allows it, else vfs (shared store)
#   ITEST_PRUNE=1  remove this run's images at exit (both tags, then `buildah rmi --prune`);
#       default 1 in the test's own overlay store, 0 in a shared store
#   KEEP_WORK=1    keep the temp dir (logs: cold.log warm.log migrate.log server.log)
#   IMAGE_TAG      default localhost/fastapi-service:itest (warm rebuild: ${IMAGE_TAG}-warm)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# shellcheck source=scripts/image/layer-store.sh
. "$HERE/../../scripts/image/layer-store.sh"
# shellcheck source=scripts/image/common.sh
. "$HERE/../../scripts/image/common.sh"
IMG="$REPO_ROOT/scripts/image"

TAG="${IMAGE_TAG:-localhost/fastapi-service:itest}"
TAG_WARM="${TAG}-warm"
WORK="$(mktemp -d /tmp/itest.XXXXXX)"
chmod 755 "$WORK"
FAILS=0
CONTAINERS=()
MOUNTED=()
PIDS=()   # background processes we started (server, mariadbd, redis-server)

pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() { local name="$1"; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

stop_pid() {  # stop_pid PID [seconds]: TERM, bounded wait, then KILL
    local pid="$1" t="${2:-15}" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? p c
    set +e
    for p in "${PIDS[@]}"; do stop_pid "$p" 10; done
    for c in "${MOUNTED[@]}"; do bah umount "$c" >/dev/null 2>&1; done
    for c in "${CONTAINERS[@]}"; do bah rm "$c" >/dev/null 2>&1; done
    # vfs keeps a full copy per layer: drop this run's images (tags, then dangling layers).
    if [[ "${ITEST_PRUNE:-$OWN_STORE}" == 1 ]]; then
        bah rmi "$TAG_WARM" "$TAG" >/dev/null 2>&1
        bah rmi --prune >/dev/null 2>&1
    fi
    if [[ "${KEEP_WORK:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS CMD...: poll until CMD succeeds
    local t="$1" i; shift
    for ((i = 0; i < t * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}
image_bytes() {  # sum of the image's (uncompressed) layer sizes, from local storage
    bah inspect --type image "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
m = json.loads(d["Manifest"])
print(sum(l["size"] for l in m["layers"]))'
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }

have_docker && die "a Docker daemon is available: this test drives buildah (buildah run); run it where docker is absent"

# ------------------------------------------------------------------ Dockerfile
DF="$REPO_ROOT/app/Dockerfile"
pinned() {
    grep -Eq '^ARG PYTHON_IMAGE=python:3\.12\.[0-9]+-slim-bookworm$' "$DF" &&
        grep -Eq '^ARG UV_IMAGE=ghcr\.io/astral-sh/uv:[0-9]+\.[0-9]+\.[0-9]+$' "$DF" && ! grep -qi ':latest' "$DF"
}
check "Dockerfile: base image ARG defaults are pinned (no latest)" pinned

# ------------------------------------------------------------------ builds
read -r PY_BASE UV_BASE < <("$IMG/standins.sh" | paste -sd' ')
pass "stand-in bases: $PY_BASE $UV_BASE"
export PYTHON_IMAGE="$PY_BASE" UV_IMAGE="$UV_BASE" BUILD_TIMES="$WORK/build-times.txt"

# Cold: no layer cache, and (TMPDIR moves buildah's cache-mount directory) an empty uv cache,
# so the dependencies are downloaded from PyPI as on a fresh CI runner.
mkdir -p "$WORK/tmp"
t0=$(date +%s.%N)
TMPDIR="$WORK/tmp" "$IMG/build.sh" "$TAG" --no-cache >"$WORK/cold.log" 2>&1 || { tail -30 "$WORK/cold.log"; die "cold build failed"; }
t1=$(date +%s.%N)
COLD=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
if [[ -d "$WORK/tmp/buildah-cache" ]]; then COLD_NOTE="no layer cache, empty uv cache"; else COLD_NOTE="no layer cache; uv cache mount was warm"; fi
pass "cold build ($COLD_NOTE): ${COLD}s"

# Code-only change in a copy of the build context; the repo stays untouched.
CTX="$WORK/context"
mkdir -p "$CTX"
tar -C "$REPO_ROOT/app" --exclude='__pycache__' --exclude='*.pyc' \
    -cf - Dockerfile .dockerignore pyproject.toml uv.lock README.md src | tar -C "$CTX" -xf -
MARKER="integration-test code-only change $(date +%s)"
printf '# %s\n' "$MARKER" >>"$CTX/src/service/main.py"

# Warm: with the uv cache the cold build left (same TMPDIR), as a user's next build finds it.
t0=$(date +%s.%N)
TMPDIR="$WORK/tmp" CONTEXT="$CTX" "$IMG/build.sh" "$TAG_WARM" >"$WORK/warm.log" 2>&1 || { tail -30 "$WORK/warm.log"; die "warm rebuild failed"; }
t1=$(date +%s.%N)
WARM=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
pass "warm rebuild after a code-only change: ${WARM}s"
dep_cached() { grep -A1 -- '--no-install-project' "$WORK/warm.log" | grep -q 'Using cache'; }
check "warm rebuild reused the dependency layer (uv sync --no-install-project: Using cache)" dep_cached
code_rebuilt() { ! grep -A1 -- '--no-editable' "$WORK/warm.log" | grep -q 'Using cache'; }
check "warm rebuild re-ran the project install" code_rebuilt

# ------------------------------------------------------------------ image contents
CTR=$(bah from --pull=never "$TAG_WARM"); CONTAINERS+=("$CTR")
MNT=$(bah mount "$CTR"); MOUNTED+=("$CTR")
has_change() { grep -rqs --include=main.py -- "$MARKER" "$MNT"/app/.venv/lib/python3*/site-packages/service/; }
check "warm image contains the code change (non-editable install in site-packages)" has_change
no_src() { [[ ! -e "$MNT/app/src" && ! -e "$MNT/app/pyproject.toml" ]]; }
check "runtime image has no sources/project files besides the venv" no_src
no_tools() {
    local found
    found=$(bah run --isolation chroot "$CTR" -- sh -c 'for t in uv uvx gcc cc c++ g++ clang make; do command -v $t; done; true')
    found+=$(find "$MNT"/bin "$MNT"/sbin "$MNT"/usr/bin "$MNT"/usr/sbin "$MNT"/usr/local/bin "$MNT"/app/.venv/bin \
        "$MNT"/usr/lib/gcc "$MNT"/usr/libexec \( -type f -o -type l \) \( -name uv -o -name uvx -o -name gcc \
        -o -name 'gcc-[0-9]*' -o -name cc -o -name 'c++' -o -name 'g++*' -o -name cc1 -o -name clang \) 2>/dev/null | head -5)
    [[ -z "$found" ]] || { echo "  found: $found"; return 1; }
}
check "no uv and no compiler in the image" no_tools
cfg() { bah inspect --type image "$TAG_WARM" | python3 -c "import json,sys; c=json.load(sys.stdin)['Docker']['config']; print(json.dumps(c.get('$1')))"; }
ENTRY=$(cfg Entrypoint); USER_CFG=$(cfg User); HC=$(cfg Healthcheck); EXPOSED=$(cfg ExposedPorts)
check "exec-form entrypoint python -m service ($ENTRY)" test "$ENTRY" = '["python", "-m", "service"]'
check "USER is numeric non-root ($USER_CFG)" test "$USER_CFG" = '"10001:10001"'
check "EXPOSE 8000 ($EXPOSED)" grep -q '8000/tcp' <<<"$EXPOSED"
check "HEALTHCHECK present and needs no curl" bash -c '[[ "$1" == *urllib* && "$1" != *curl* ]]' _ "$HC"
ENVS=$(bah inspect --type image "$TAG_WARM" | python3 -c "import json,sys; print(' '.join(json.load(sys.stdin)['Docker']['config']['Env']))")
check "env PYTHONUNBUFFERED PYTHONDONTWRITEBYTECODE TZ LANG" bash -c 'for v in PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 TZ= LANG=; do [[ " $1" == *" $v"* ]] || exit 1; done' _ "$ENVS"

SIZE=$(image_bytes "$TAG_WARM"); BASE_SIZE=$(image_bytes "$PY_BASE")
SIZE_MB=$(mb "$SIZE"); ADDED_MB=$(mb $((SIZE - BASE_SIZE)))
pass "image size ${SIZE_MB} MB, base ${PY_BASE} $(mb "$BASE_SIZE") MB, added ${ADDED_MB} MB"

# ------------------------------------------------------------------ MariaDB + Redis
DB_PORT=$(free_port); REDIS_PORT=$(free_port); SERVICE_PORT=$(free_port)
DB_PW="itest-db-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
REDIS_PW="itest-redis-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
API_KEY="itest-key-$(od -An -N16 -tx8 /dev/urandom | tr -d ' \n')"
mkdir -p "$WORK/db" "$WORK/redis" "$WORK/secrets"
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
run_as=(); [[ $(id -u) == 0 ]] && run_as=(--user=root)
mariadb-install-db --no-defaults "${run_as[@]}" --datadir="$WORK/db/data" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >"$WORK/db/install.log" 2>&1 || { tail "$WORK/db/install.log"; die "mariadb-install-db failed"; }
"$MARIADBD" --no-defaults "${run_as[@]}" --datadir="$WORK/db/data" --socket="$WORK/db/sock" --pid-file="$WORK/db/pid" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-networking=0 --skip-name-resolve --skip-log-bin \
    --innodb-buffer-pool-size=32M --innodb-log-file-size=16M >"$WORK/db/server.log" 2>&1 &
PIDS+=($!)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" \
    --requirepass "$REDIS_PW" --daemonize no >"$WORK/redis/server.log" 2>&1 &
PIDS+=($!)
wait_for 60 mariadb --no-defaults --socket="$WORK/db/sock" -uroot -e 'SELECT 1' || { tail "$WORK/db/server.log"; die "mariadbd did not start"; }
mariadb --no-defaults --socket="$WORK/db/sock" -uroot <<SQL
CREATE DATABASE app CHARACTER SET utf8mb4;
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '$DB_PW';
GRANT ALL PRIVILEGES ON app.* TO 'app'@'127.0.0.1';
SQL
wait_for 20 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -a "$REDIS_PW" --no-auth-warning ping || die "redis-server did not start"
pass "MariaDB on 127.0.0.1:$DB_PORT and Redis on 127.0.0.1:$REDIS_PORT (password auth)"

# Secrets as Kubernetes mounts them: one file per setting, readable by the service user.
printf '%s\n' "$DB_PW" >"$WORK/secrets/db_password"
printf '%s\n' "$REDIS_PW" >"$WORK/secrets/redis_password"
printf '%s\n' "$API_KEY" >"$WORK/secrets/api_keys"
chmod 755 "$WORK/secrets"; chmod 644 "$WORK/secrets"/*

RUN_OPTS=(--isolation chroot --user 10001:10001 --volume "$WORK/secrets:/run/secrets/app:ro"
    --env APP_ENV=dev --env LOG_LEVEL=INFO --env SERVICE_PORT="$SERVICE_PORT" --env WORKERS=1
    --env DB_HOST=127.0.0.1 --env DB_PORT="$DB_PORT" --env DB_NAME=app --env DB_USER=app
    --env REDIS_HOST=127.0.0.1 --env REDIS_PORT="$REDIS_PORT" --env SECRETS_DIR=/run/secrets/app)
read -ra ENTRY_ARGV < <(python3 -c "import json,sys; print(' '.join(json.loads(sys.argv[1])))" "$ENTRY")

# Files written to the root filesystem from here on (read-only root fs check at the end).
touch "$WORK/rofs.marker"; sleep 1

# ------------------------------------------------------------------ migrate
migrate() { timeout 120 buildah "${BUILDAH_GLOBAL_OPTS[@]}" run "${RUN_OPTS[@]}" "$CTR" -- "${ENTRY_ARGV[@]}" migrate >>"$WORK/migrate.log" 2>&1; }
check "migrate: python -m service migrate as 10001 (exit 0)" migrate
check "migrate again: idempotent (exit 0)" migrate
tables() { mariadb --no-defaults --socket="$WORK/db/sock" -uroot -N -e 'SHOW TABLES' app | tr '\n' ' '; }
TABLES=$(tables)
check "migrate created the schema (tables: $TABLES)" grep -q alembic_version <<<"$TABLES"

# ------------------------------------------------------------------ serve
setsid buildah "${BUILDAH_GLOBAL_OPTS[@]}" run "${RUN_OPTS[@]}" "$CTR" -- "${ENTRY_ARGV[@]}" serve \
    >"$WORK/server.log" 2>&1 &
SERVER=$!; PIDS=("$SERVER" "${PIDS[@]}")
URL="http://127.0.0.1:$SERVICE_PORT"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
is200() { [[ $(code "$URL$1") == 200 ]]; }
if wait_for 60 is200 /healthz; then pass "GET /healthz 200"; else fail "GET /healthz 200"; tail -20 "$WORK/server.log"; fi
if wait_for 30 is200 /readyz; then pass "GET /readyz 200 ($(curl -s --max-time 5 "$URL/readyz"))"; else fail "GET /readyz 200 ($(curl -s --max-time 5 "$URL/readyz"))"; fi

# The image's own HEALTHCHECK command, in a second container of the image (host network).
HC_CMD=$(python3 -c "import json,sys; t=json.loads(sys.argv[1])['Test']; print(t[-1] if t[0]=='CMD' else '')" "$HC")
CTR2=$(bah from --pull=never "$TAG_WARM"); CONTAINERS+=("$CTR2")
healthcheck() { timeout 20 buildah "${BUILDAH_GLOBAL_OPTS[@]}" run --isolation chroot --user 10001:10001 --env SERVICE_PORT="$SERVICE_PORT" "$CTR2" -- python -c "$HC_CMD"; }
check "HEALTHCHECK command (python urllib) exits 0 against the running server" healthcheck

# Server process uid: the python process under our buildah run.
descendants() { local p c; for p in "$@"; do for c in $(pgrep -P "$p" || true); do echo "$c"; descendants "$c"; done; done; }
PY_PID=""
for p in $(descendants "$SERVER"); do [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == python* ]] && { PY_PID=$p; break; }; done
PY_UID=$([[ -n "$PY_PID" ]] && awk '/^Uid:/ { print $2 }' "/proc/$PY_PID/status" || echo unknown)
check "server process runs as uid $PY_UID (pid ${PY_PID:-?}), not 0" test "$PY_UID" = 10001

# ------------------------------------------------------------------ CRUD round trip
AUTH=(-H "Authorization: Bearer $API_KEY")
J=(-H 'Content-Type: application/json')
check "no key -> 401" test "$(code "$URL/api/v1/items")" = 401
check "wrong key -> 401" test "$(code -H 'Authorization: Bearer nope' "$URL/api/v1/items")" = 401
BODY=$(curl -s --max-time 5 -w '\n%{http_code}' "${AUTH[@]}" "${J[@]}" -X POST -d '{"name":"widget","description":"from the image test","quantity":3}' "$URL/api/v1/items")
ID=$(sed -n 1p <<<"$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null || true)
check "POST /api/v1/items -> 201 (id=$ID)" test "$(sed -n 2p <<<"$BODY")" = 201
get_field() { curl -s --max-time 5 "${AUTH[@]}" "$URL/api/v1/items/$ID" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1'))"; }
check "GET item -> 200 name=widget" test "$(get_field name)" = widget
check "GET item again -> X-Cache: hit" bash -c 'curl -s -D - -o /dev/null --max-time 5 -H "Authorization: Bearer $1" "$2" | grep -qi "^x-cache: hit"' _ "$API_KEY" "$URL/api/v1/items/$ID"
check "PATCH quantity -> 200" test "$(code "${AUTH[@]}" "${J[@]}" -X PATCH -d '{"quantity":7}' "$URL/api/v1/items/$ID")" = 200
check "GET after PATCH -> quantity 7" test "$(get_field quantity)" = 7
check "PUT full replace -> 200" test "$(code "${AUTH[@]}" "${J[@]}" -X PUT -d '{"name":"gadget","quantity":1}' "$URL/api/v1/items/$ID")" = 200
check "GET after PUT -> name gadget" test "$(get_field name)" = gadget
check "GET list -> 200" test "$(code "${AUTH[@]}" "$URL/api/v1/items?limit=10")" = 200
check "DELETE -> 204" test "$(code "${AUTH[@]}" -X DELETE "$URL/api/v1/items/$ID")" = 204
check "GET deleted -> 404" test "$(code "${AUTH[@]}" "$URL/api/v1/items/$ID")" = 404
check "GET /metrics -> 200" is200 /metrics

# ------------------------------------------------------------------ the worker, from the same image
# `python -m service worker` as the Worker Deployment runs it; its probes as exec probes run them
# (another process in the same container: they share /tmp, where the heartbeat lives).
setsid buildah "${BUILDAH_GLOBAL_OPTS[@]}" run "${RUN_OPTS[@]}" --env WORKER_CONCURRENCY=1 --env WORKER_METRICS_PORT=0 \
    "$CTR" -- "${ENTRY_ARGV[@]}" worker >"$WORK/worker.log" 2>&1 &
WORKER=$!; PIDS=("$WORKER" "${PIDS[@]}")
probe() { timeout 30 buildah "${BUILDAH_GLOBAL_OPTS[@]}" run "${RUN_OPTS[@]}" "$CTR" -- "${ENTRY_ARGV[@]}" "$1" >>"$WORK/probes.log" 2>&1; }
if wait_for 60 probe worker-alive; then pass "worker-alive exits 0 (heartbeat fresh)"; else fail "worker-alive exits 0"; tail -20 "$WORK/worker.log"; fi
check "worker-ready exits 0 (broker reachable)" probe worker-ready
BODY=$(curl -s --max-time 5 -w '\n%{http_code}' "${AUTH[@]}" "${J[@]}" -X POST \
    -d '{"items":[{"name":"bulk 1","quantity":1},{"name":"bulk 2","quantity":2},{"name":"bulk 3","quantity":3}]}' "$URL/api/v1/imports")
JOB=$(sed -n 1p <<<"$BODY" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null || true)
check "POST /api/v1/imports -> 202 (job $JOB)" test "$(sed -n 2p <<<"$BODY")" = 202
job_field() { curl -s --max-time 5 "${AUTH[@]}" "$URL/api/v1/imports/$JOB" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1'))"; }
succeeded() { [[ "$(job_field state)" == succeeded ]]; }
check "the worker ran the import to succeeded" wait_for 60 succeeded
check "the import inserted its 3 items" test "$(job_field inserted)" = 3
WORKER_PY=""
for p in $(descendants "$WORKER"); do [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == python* || "$(cat "/proc/$p/comm" 2>/dev/null)" == celery* ]] && { WORKER_PY=$p; break; }; done
WORKER_UID=$([[ -n "$WORKER_PY" ]] && awk '/^Uid:/ { print $2 }' "/proc/$WORKER_PY/status" || echo unknown)
check "worker process runs as uid $WORKER_UID (pid ${WORKER_PY:-?}), not 0" test "$WORKER_UID" = 10001
t0=$(date +%s)
if [[ -n "$WORKER_PY" ]]; then stop_pid "$WORKER_PY" 30; fi
stop_pid "$WORKER" 10
check "worker exited within 30 s of SIGTERM ($(($(date +%s) - t0)) s)" bash -c '! kill -0 "$1" 2>/dev/null' _ "$WORKER"
check "worker's warm shutdown logged" grep -q 'worker stopped' "$WORK/worker.log"

# ------------------------------------------------------------------ stop
# SIGTERM to the service process itself (as a kubelet would; `buildah run` answers its own
# SIGTERM by killing the child, which would not exercise the graceful shutdown).
t0=$(date +%s)
if [[ -n "$PY_PID" ]]; then stop_pid "$PY_PID" 30; fi
stop_pid "$SERVER" 10
check "server exited within 30 s of SIGTERM ($(($(date +%s) - t0)) s)" bash -c '! kill -0 "$1" 2>/dev/null' _ "$SERVER"
graceful() { grep -qiE 'shutdown|shutting down|stopp' "$WORK/server.log"; }
check "graceful shutdown logged" graceful
# service/server.py serves the listen queue before closing the listener; it logs a warning
# instead if the sandbox refused a step (queued connections would then be reset, as plain uvicorn does).
check "listen queue drained at shutdown" grep -q '"msg": *"listen queue drained"' "$WORK/server.log"
no_leaks() { ! grep -qF -e "$API_KEY" -e "$DB_PW" -e "$REDIS_PW" "$WORK/server.log" "$WORK/migrate.log" "$WORK/worker.log" "$WORK/probes.log"; }
check "no secret values in the server, migrate, worker and probe logs" no_leaks

# Read-only root filesystem: nothing but /tmp (and buildah's own run-time files) was written.
WRITTEN=$(cd "$MNT" && find . -xdev -newer "$WORK/rofs.marker" ! -type d \
    ! -path './tmp/*' ! -path './proc/*' ! -path './sys/*' ! -path './dev/*' ! -path './run/*' \
    ! -path './etc/hosts' ! -path './etc/resolv.conf' ! -path './etc/hostname' 2>/dev/null | head -20)
check "no writes outside /tmp while migrating, serving and working (read-only root fs ok)${WRITTEN:+: $WRITTEN}" test -z "$WRITTEN"

# ------------------------------------------------------------------ summary
RATIO=$(awk -v c="$COLD" -v w="$WARM" 'BEGIN { printf "%.2f", w / c }')
echo "----"
echo "image:            $TAG (warm: $TAG_WARM), buildah storage: $BUILDAH_STORAGE_DRIVER${BUILDAH_ROOT:+ at $BUILDAH_ROOT}"
echo "cold build:       ${COLD} s ($COLD_NOTE)"
echo "warm rebuild:     ${WARM} s (code-only change)"
echo "warm/cold ratio:  ${RATIO}"
echo "image size:       ${SIZE_MB} MB"
echo "added over base:  ${ADDED_MB} MB (base $PY_BASE $(mb "$BASE_SIZE") MB)"
if [[ $FAILS -gt 0 ]]; then echo "RESULT: $FAILS check(s) failed"; exit 1; fi
echo "RESULT: all checks passed"
