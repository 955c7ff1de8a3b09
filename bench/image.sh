#!/usr/bin/env bash
# Image benchmark: the real image (app/Dockerfile via scripts/image/build.sh) against a naive
# single-stage image of the same app (bench/naive.Dockerfile: base + build-essential + pip
# install), both built in the same run from the same context (app/) on the same base.
#   bench/image.sh                  writes build/bench/image.json (also printed on stdout)
# Measures: base size; real and naive image sizes and size added over the base (sum of the
# uncompressed layer sizes in local storage, as tests/integration/run.sh reports them);
# cold build (--no-cache, empty uv cache) and warm rebuild after a code-only change (a copy
# of app/ with a comment appended to src/service/main.py; the repo is untouched; the layer and
# uv caches the cold build left) of the real image, and warm/cold against its target
# (IMAGE_WARM_OVER_COLD_MAX in bench/targets/__init__.py, with every other bench target); the
# naive image's cold build and the same code-only rebuild for comparison.
# Environment:
#   BUILDAH_STORAGE_DRIVER (+ BUILDAH_ROOT / BUILDAH_RUNROOT)  image store; default: the
#       integration test's overlay store (/var/lib/containers/storage-itest-overlay) if the
#       kernel allows it, else vfs in the shared store
#   BENCH_PRUNE=1  after removing this run's tags, `buildah rmi --prune` (default 1 in the
#       overlay store of its own, 0 in a shared store)
#   BENCH_BUILD_TIMEOUT  seconds per build (default 1200)
#   BENCH_NAIVE_WARM=0   skip the naive image's code-only rebuild
#   OUT            output file (default <repo>/build/bench/image.json)
# Exit status: 0 when all builds ran (the target is reported, not asserted), 1 otherwise.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# shellcheck source=scripts/image/layer-store.sh
. "$HERE/../scripts/image/layer-store.sh"
# shellcheck source=scripts/image/common.sh
. "$HERE/../scripts/image/common.sh"
IMG="$REPO_ROOT/scripts/image"
WARM_OVER_COLD_MAX="$(cd "$REPO_ROOT" && python3 -m bench.targets --limit IMAGE_WARM_OVER_COLD_MAX)"

have_docker && die "a Docker daemon is available: this script drives buildah"
command -v buildah >/dev/null || die "buildah not installed"

OUT="${OUT:-$REPO_ROOT/build/bench/image.json}"
TMO="${BENCH_BUILD_TIMEOUT:-1200}"
TAG="localhost/fastapi-service:bench"
TAG_WARM="${TAG}-warm"
TAG_NAIVE="localhost/fastapi-service:bench-naive"
TAG_NAIVE_WARM="${TAG_NAIVE}-warm"
STARTED="$(date -u +%FT%TZ)"
WORK="$(mktemp -d /tmp/bench-image.XXXXXX)"
chmod 755 "$WORK"

cleanup() {
    local rc=$?
    set +e
    bah rmi "$TAG_WARM" "$TAG" "$TAG_NAIVE_WARM" "$TAG_NAIVE" >/dev/null 2>&1
    [[ "${BENCH_PRUNE:-$OWN_STORE}" == 1 ]] && bah rmi --prune >/dev/null 2>&1
    if [[ "${KEEP_WORK:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

image_bytes() {  # sum of the image's (uncompressed) layer sizes, from local storage
    bah inspect --type image "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
m = json.loads(d["Manifest"])
print(sum(l["size"] for l in m["layers"]))'
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# timed NAME CMD...: run CMD (bounded), log to $WORK/NAME.log, set SECS
timed() {
    local name="$1" t0 t1; shift
    log "$name ..."
    t0=$(now)
    timeout "$TMO" "$@" >"$WORK/$name.log" 2>&1 || { tail -30 "$WORK/$name.log" >&2; die "$name failed (log above)"; }
    t1=$(now)
    SECS=$(secs "$t0" "$t1")
    log "$name: ${SECS}s"
}
naive_build() {  # naive_build TAG CONTEXT [extra bud args]: the argv (for `timed`)
    local tag="$1" ctx="$2"; shift 2
    NAIVE_ARGV=(buildah "${BUILDAH_GLOBAL_OPTS[@]}" bud --isolation chroot --layers --format docker --pull=never
        --build-arg "PYTHON_IMAGE=$PY_BASE" "$@" -t "$tag" -f "$HERE/naive.Dockerfile" "$ctx")
}

# ------------------------------------------------------------------ bases
read -r PY_BASE UV_BASE < <("$IMG/standins.sh" | paste -sd' ')
export PYTHON_IMAGE="$PY_BASE" UV_IMAGE="$UV_BASE" BUILD_TIMES="$WORK/build-times.txt"

# Code-only change in a copy of the context (the same files the .dockerignore lets through).
CTX="$WORK/context"
mkdir -p "$CTX" "$WORK/tmp"
tar -C "$REPO_ROOT/app" --exclude='__pycache__' --exclude='*.pyc' \
    -cf - Dockerfile .dockerignore pyproject.toml uv.lock README.md src | tar -C "$CTX" -xf -
printf '# bench code-only change %s\n' "$(date +%s)" >>"$CTX/src/service/main.py"

# ------------------------------------------------------------------ real image
# Cold: no layer cache and (TMPDIR moves buildah's cache-mount directory) an empty uv cache.
# Warm: the layer cache and the uv cache the cold build left, as a user's next build finds them
# (without TMPDIR it would get buildah's default cache directory, /var/tmp/buildah-cache: a
# cache of unknown state, kept across runs).
TMPDIR="$WORK/tmp" timed real-cold "$IMG/build.sh" "$TAG" --no-cache
COLD=$SECS
UV_CACHE_EMPTY=$([[ -d "$WORK/tmp/buildah-cache" ]] && echo True || echo False)
TMPDIR="$WORK/tmp" CONTEXT="$CTX" timed real-warm "$IMG/build.sh" "$TAG_WARM"
WARM=$SECS
DEP_CACHED=$(grep -A1 -- '--no-install-project' "$WORK/real-warm.log" | grep -q 'Using cache' && echo True || echo False)

# ------------------------------------------------------------------ naive image
naive_build "$TAG_NAIVE" "$REPO_ROOT/app" --no-cache
timed naive-cold "${NAIVE_ARGV[@]}"
NAIVE_COLD=$SECS
NAIVE_WARM=null
if [[ "${BENCH_NAIVE_WARM:-1}" == 1 ]]; then
    naive_build "$TAG_NAIVE_WARM" "$CTX"
    timed naive-warm "${NAIVE_ARGV[@]}"
    NAIVE_WARM=$SECS
fi

# ------------------------------------------------------------------ sizes + report
BASE_B=$(image_bytes "$PY_BASE")
REAL_B=$(image_bytes "$TAG")
NAIVE_B=$(image_bytes "$TAG_NAIVE")
mkdir -p "$(dirname "$OUT")"
python3 - "$OUT" <<PY
import json, sys
mb = lambda b: round(b / 1e6, 1)
base, real, naive = $BASE_B, $REAL_B, $NAIVE_B
cold, warm, ncold, nwarm = $COLD, $WARM, $NAIVE_COLD, $NAIVE_WARM
target = $WARM_OVER_COLD_MAX
ratio = round(warm / cold, 3)
r = {
    "started": "$STARTED",
    "finished": "$(date -u +%FT%TZ)",
    "engine": "buildah $(buildah --version | awk '{print $3}')",
    "storage": "$BUILDAH_STORAGE_DRIVER${BUILDAH_ROOT:+ at $BUILDAH_ROOT}",
    "base": {"image": "$PY_BASE", "mb": mb(base)},
    "real": {"dockerfile": "app/Dockerfile", "mb": mb(real), "added_mb": mb(real - base)},
    "naive": {"dockerfile": "bench/naive.Dockerfile", "mb": mb(naive), "added_mb": mb(naive - base)},
    "added_ratio_real_vs_naive": round((real - base) / (naive - base), 3),
    "build": {
        "real_cold_s": cold,
        "real_cold_uv_cache_empty": $UV_CACHE_EMPTY,
        "real_warm_s": warm,
        "real_warm_dependency_layer_cached": $DEP_CACHED,
        "warm_over_cold": ratio,
        "target": target,
        "pass": ratio <= target,
        "naive_cold_s": ncold,
        "naive_warm_s": nwarm,
    },
    "sizes": "sum of uncompressed layer sizes in local storage; MB = 10^6 bytes",
}
open(sys.argv[1], "w").write(json.dumps(r, indent=1) + "\n")
print(json.dumps(r, indent=1))
PY
log "wrote $OUT"
