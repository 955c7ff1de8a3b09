#!/usr/bin/env bash
# Build a local Kubernetes control plane from the Go module proxy: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok
# (fake nodes), plus kwok's Stage documents. Versions: versions.env.
#
# Usage: scripts/cluster/build.sh [--relock] [--force]
#
#   --relock   rebuild and write lock/<module>.go.sum (+ .go.mod, for
#              reference) from what was resolved; commit them afterwards.
#   --force    rebuild even when the cache is complete.
#
# Env: CLUSTER_TOOLCHAIN_CACHE  cache root (default ~/.cache/fastapi-service/cluster)
#      CLUSTER_TOOLCHAIN_JOBS   go build -p (default: number of cores)
#
#   stdout: the bin directory, as the LAST line (stages are in ../stages).
#   stderr: log.
# See README.md in this directory.
set -euo pipefail
# One { ... } block: bash parses the whole script before running it, so
# editing this file during a build cannot break that build.
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[cluster-toolchain] %s\n' "$*" >&2; }
die() { printf '[cluster-toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

FORCE=0 RELOCK=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	--relock) RELOCK=1 FORCE=1 ;;
	-h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done

# --- 1. Versions and cache layout --------------------------------------------
# shellcheck source=versions.env
. "$HERE/versions.env"
: "${KUBERNETES_VERSION:?missing in versions.env}"
: "${ETCD_VERSION:?missing in versions.env}"
: "${KWOK_VERSION:?missing in versions.env}"

KEY="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
CACHE_ROOT="${CLUSTER_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/cluster}"
PREFIX="$CACHE_ROOT/$KEY"
BIN="$PREFIX/bin"
STAMP="$PREFIX/.complete"
BINARIES="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok"

# --- 2. Fast path ------------------------------------------------------------
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ]; then
	log "using cached control plane $BIN"
	printf '%s\n' "$BIN"
	exit 0
fi

# --- 3. Set up ---------------------------------------------------------------
GO="$(command -v go 2>/dev/null || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || die "go not found (need Go >= 1.26)"
command -v python3 >/dev/null || die "python3 not found"
command -v flock >/dev/null || die "flock not found (util-linux)"
export GOFLAGS="-mod=mod -buildvcs=false -p=${CLUSTER_TOOLCHAIN_JOBS:-$(nproc)}"
export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local
unset GOOS GOARCH

mkdir -p "$CACHE_ROOT"
exec 9>"$PREFIX.lock"
if ! flock -n 9; then
	log "another build of $KEY is running; waiting for it"
	flock 9
fi
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ]; then
	log "using cached control plane $BIN (built by a concurrent run)"
	printf '%s\n' "$BIN"
	exit 0
fi

# Everything is built in NEW and renamed to PREFIX at the end, so PREFIX is
# either absent or complete.
NEW="$CACHE_ROOT/.new-$KEY"
WORK="$NEW/work"
rm -rf "$NEW"
mkdir -p "$WORK" "$NEW/bin" "$NEW/stages"
T0=$SECONDS
log "building $KEY into $PREFIX (go $("$GO" env GOVERSION), GOFLAGS=$GOFLAGS)"

HB_PID=
heartbeat_stop() {
	if [ -n "$HB_PID" ]; then
		kill "$HB_PID" 2>/dev/null || true
		wait "$HB_PID" 2>/dev/null || true
		HB_PID=
	fi
}
# heartbeat_start WHAT: log every 30 s while a long step runs.
heartbeat_start() {
	local what="$1" start
	start="$(date +%s)"
	(
		sp=
		trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0' TERM
		while :; do
			sleep 30 &
			sp=$!
			wait "$sp"
			printf '[cluster-toolchain] ... still %s (%ss)\n' "$what" "$(($(date +%s) - start))" >&2
		done
	) &
	HB_PID=$!
}
trap heartbeat_stop EXIT

# explain_failure LOG WHAT: show why a go command failed, naming refused modules.
explain_failure() {
	local logf="$1" what="$2" refused
	refused="$(grep -E '(403|404|410)|not available|unknown revision|invalid version' "$logf" | grep -v '^go: downloading' | sort -u | head -n 20 || true)"
	if [ -n "$refused" ]; then
		log "the module proxy ($("$GO" env GOPROXY)) refused a module needed by $what:"
		printf '%s\n' "$refused" | sed 's/^/    /' >&2
	fi
	if grep -q 'checksum mismatch' "$logf"; then
		log "a module does not match its hash in lock/*.go.sum (or go.sum) for $what"
	fi
	log "last lines of $logf:"
	grep -v '^go: downloading' "$logf" | tail -n 25 | sed 's/^/    /' >&2
	die "$what failed"
}

# download MOD@VER...: fetch root modules first, so a refusal is reported
# within seconds, naming the module.
download() {
	local out rc=0
	out="$(cd "$WORK" && "$GO" mod download -json "$@" 2>&1)" || rc=$?
	python3 - "$rc" "$out" <<-'PY' || die "required Go modules are not available from the module proxy ($("$GO" env GOPROXY)); nothing was built"
		import json, sys
		rc, raw = int(sys.argv[1]), sys.argv[2]
		dec, i, bad, seen = json.JSONDecoder(), 0, 0, 0
		while True:
		    while i < len(raw) and raw[i].isspace():
		        i += 1
		    if i >= len(raw):
		        break
		    try:
		        obj, i = dec.raw_decode(raw, i)
		    except ValueError:
		        sys.stderr.write("[cluster-toolchain] go mod download: %s\n" % raw[i:].strip())
		        bad += 1
		        break
		    seen += 1
		    if obj.get("Error"):
		        sys.stderr.write("[cluster-toolchain] cannot download %s@%s: %s\n" % (obj.get("Path"), obj.get("Version"), obj["Error"]))
		        bad += 1
		sys.exit(1 if bad or (rc and not seen) else 0)
	PY
}

# upstream_replaces GO_MOD -> "OLD NEW NEW_VERSION" per replace directive
# (NEW_VERSION empty for a local directory).
upstream_replaces() {
	"$GO" mod edit -json "$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    print(r["Old"]["Path"], r["New"]["Path"], r["New"].get("Version", ""))'
}
go_directive_of() { "$GO" mod edit -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Go") or "1.26")'; }
gomod_of() { (cd "$WORK" && "$GO" mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])'); }
dir_of() { (cd "$WORK" && "$GO" mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'); }

# new_module NAME UPSTREAM_GO_MOD: a wrapper module in $WORK/NAME with the
# upstream's go directive and its non-local replace directives.
new_module() {
	local name="$1" upstream="$2" old new ver
	local dir="$WORK/$name"
	mkdir -p "$dir"
	printf 'module fastapi-service.local/cluster/%s\n\ngo %s\n' "$name" "$(go_directive_of "$upstream")" >"$dir/go.mod"
	while read -r old new ver; do
		if [ -n "$ver" ]; then (cd "$dir" && "$GO" mod edit -replace="$old=$new@$ver"); fi
	done < <(upstream_replaces "$upstream")
	return 0
}

# resolve NAME: go mod tidy against the committed lock (or write it).
resolve() {
	local name="$1" dir="$WORK/$1" lock="$HERE/lock/$1.go.sum" t=$SECONDS
	if [ "$RELOCK" = 1 ]; then
		rm -f "$dir/go.sum"
	elif [ -f "$lock" ]; then
		cp "$lock" "$dir/go.sum"
	else
		die "no lock file $lock: run $0 --relock once and commit lock/"
	fi
	heartbeat_start "resolving $name"
	if ! (cd "$dir" && "$GO" mod tidy) >"$dir/tidy.log" 2>&1; then
		heartbeat_stop
		explain_failure "$dir/tidy.log" "go mod tidy of the $name wrapper module ($dir)"
	fi
	heartbeat_stop
	if [ "$RELOCK" = 1 ]; then
		mkdir -p "$HERE/lock"
		cp "$dir/go.sum" "$lock"
		cp "$dir/go.mod" "$HERE/lock/$name.go.mod"
		log "relocked $lock"
	else
		# go verifies every module against the go.sum lines it has; a module
		# that the lock does not pin at all must fail too.
		local extra
		extra="$(grep -vxFf "$lock" "$dir/go.sum" || true)"
		if [ -n "$extra" ]; then
			log "go.sum entries of $name that lock/$name.go.sum does not have:"
			printf '%s\n' "$extra" | head -n 20 | sed 's/^/    /' >&2
			die "the $name module graph differs from lock/$name.go.sum (versions.env changed? run $0 --relock)"
		fi
	fi
	log "resolved $name in $((SECONDS - t))s"
}

# build NAME LABEL LDFLAGS PKG...: one go build for all main packages of a
# module (they share the compiled dependencies).
build() {
	local name="$1" names="$2" ldflags="$3" dir="$WORK/$1" t=$SECONDS
	shift 3
	log "go build $names"
	heartbeat_start "building $names"
	if ! (cd "$dir" && "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$NEW/bin/" "$@") >"$dir/build.log" 2>&1; then
		heartbeat_stop
		explain_failure "$dir/build.log" "go build of $names"
	fi
	heartbeat_stop
	log "built $names in $((SECONDS - t))s"
}

# --- 4. Root modules ---------------------------------------------------------
K8S_MOD="k8s.io/kubernetes@v$KUBERNETES_VERSION"
ETCD_MOD="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
KWOK_MOD="sigs.k8s.io/kwok@v$KWOK_VERSION"
STAGING_VERSION="v0.${KUBERNETES_VERSION#*.}" # 1.37.2 -> v0.37.2
t=$SECONDS
download "$K8S_MOD" "$ETCD_MOD" "$KWOK_MOD"
K8S_GOMOD="$(gomod_of "$K8S_MOD")"
ETCD_GOMOD="$(gomod_of "$ETCD_MOD")"
KWOK_GOMOD="$(gomod_of "$KWOK_MOD")"
KWOK_DIR="$(dir_of "$KWOK_MOD")"
# k8s.io/kubernetes replaces every k8s.io/* staging module with ./staging/...,
# which its module zip does not carry: use the published v0.<minor>.<patch>.
STAGING=()
while read -r old new ver; do
	if [ -z "$ver" ]; then STAGING+=("$old"); fi
done < <(upstream_replaces "$K8S_GOMOD")
# Only the staging modules that k8s.io/kubernetes requires are in the graph
# (the sample-* ones are not).
REQUIRED="$("$GO" mod edit -json "$K8S_GOMOD" | python3 -c 'import json,sys; print("\n".join(r["Path"] for r in json.load(sys.stdin)["Require"]))')"
STAGING_MODS=()
for m in "${STAGING[@]}"; do
	if grep -qxF "$m" <<<"$REQUIRED"; then STAGING_MODS+=("$m"); fi
done
[ "${#STAGING_MODS[@]}" -gt 0 ] || die "found no staging replace directives in $K8S_GOMOD"
download "${STAGING_MODS[@]/%/@$STAGING_VERSION}"
log "root modules available (${#STAGING_MODS[@]} k8s.io staging modules at $STAGING_VERSION) in $((SECONDS - t))s"

# --- 5. kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
new_module kubernetes "$K8S_GOMOD"
args=(-require="$K8S_MOD")
for m in "${STAGING_MODS[@]}"; do
	args+=(-replace="$m=$m@$STAGING_VERSION")
done
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
for c in "${K8S_CMDS[@]}"; do
	args+=(-tool="k8s.io/kubernetes/cmd/$c")
done
(cd "$WORK/kubernetes" && "$GO" mod edit "${args[@]}")
resolve kubernetes
# What hack/lib/version.sh stamps into a release build, so /version and
# `kubectl version` report this version.
K8S_DATE="$(cd "$WORK" && "$GO" mod download -json "$K8S_MOD" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Time") or "1970-01-01T00:00:00Z")')"
MINOR="${KUBERNETES_VERSION#*.}"
MINOR="${MINOR%%.*}"
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=${KUBERNETES_VERSION%%.*}"
	k8s_ldflags+=" -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean -X $pkg.buildDate=$K8S_DATE"
	k8s_ldflags+=" -X $pkg.gitCommit=module-$K8S_MOD"
done
build kubernetes "${K8S_CMDS[*]}" "$k8s_ldflags" "${K8S_CMDS[@]/#/k8s.io/kubernetes/cmd/}"

# --- 6. etcd -----------------------------------------------------------------
new_module etcd "$ETCD_GOMOD"
args=(-require="$ETCD_MOD")
# etcd's server module replaces its sibling modules with ../api etc.: use the
# published ones at the same version.
while read -r old new ver; do
	if [ -z "$ver" ]; then args+=(-require="$old@v$ETCD_VERSION"); fi
done < <(upstream_replaces "$ETCD_GOMOD")
(cd "$WORK/etcd" && "$GO" mod edit "${args[@]}")
cp "$HERE/etcd/main.go" "$WORK/etcd/main.go"
resolve etcd
build etcd etcd "-X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_MOD" .
[ -x "$NEW/bin/etcd" ] || die "go build did not produce etcd"

# --- 7. kwok, and its Stage documents ------------------------------------------
new_module kwok "$KWOK_GOMOD"
(cd "$WORK/kwok" && "$GO" mod edit -require="$KWOK_MOD" -tool=sigs.k8s.io/kwok/cmd/kwok)
resolve kwok
build kwok kwok "" sigs.k8s.io/kwok/cmd/kwok
# Every Stage document under kustomize/stage (pod/fast, node/fast,
# node/heartbeat, the chaos ones...), keeping the layout.
(cd "$KWOK_DIR/kustomize/stage" && find . -name '*.yaml' ! -path '*/testdata/*' ! -name kustomization.yaml) |
	while read -r f; do
		if grep -q '^kind: Stage$' "$KWOK_DIR/kustomize/stage/$f"; then
			install -D -m 0644 "$KWOK_DIR/kustomize/stage/$f" "$NEW/stages/$f"
		fi
	done
for f in pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml \
	node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml; do
	[ -f "$NEW/stages/$f" ] || die "kwok $KWOK_VERSION has no kustomize/stage/$f"
done

# --- 8. Publish --------------------------------------------------------------
for b in $BINARIES; do
	[ -x "$NEW/bin/$b" ] || die "missing $b after the build (work dir $WORK)"
done
date -u +%FT%TZ >"$NEW/.complete"
if [ -e "$PREFIX" ]; then
	mv "$PREFIX" "$CACHE_ROOT/.old-$KEY-$$"
fi
mv "$NEW" "$PREFIX"
rm -rf "$CACHE_ROOT/.old-$KEY-$$"
log "control plane complete in $((SECONDS - T0))s: $BIN ($(du -sh "$BIN" | cut -f1))"
printf '%s\n' "$BIN"
exit 0
}
