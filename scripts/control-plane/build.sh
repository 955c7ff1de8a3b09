#!/usr/bin/env bash
# Build a local Kubernetes control plane from the Go module proxy: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy
# and kwok
# (fake nodes), plus kwok's Stage documents. Versions: versions.env.
#
# Usage: scripts/control-plane/build.sh [--relock] [--force]
#
#   --relock   rebuild and write lock/<module>.go.sum (+ .go.mod, for
#              reference) from what was resolved; commit them afterwards.
#   --force    rebuild even when the cache is complete.
#
# Env: CLUSTER_TOOLCHAIN_CACHE  cache root (default ~/.cache/fastapi-service/control-plane)
#      CLUSTER_TOOLCHAIN_JOBS   go build -p (default: number of cores)
#
#   stdout: the bin directory, as the LAST line (stages are in ../stages).
#   stderr: log.
# See README.md in this directory.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# One { ... } block: bash parses the whole script before running it, so
# editing this file during a build cannot break that build.
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=cluster-toolchain

FORCE=0 GMB_RELOCK=0
for arg in "$@"; do
	case "$arg" in
	*) gmb_common_arg "$arg" "${BASH_SOURCE[0]}" || gmb_die "unknown argument: $arg (try --help)" ;;
	esac
done

# --- 1. Versions and cache layout --------------------------------------------
# shellcheck source=versions.env
. "$HERE/versions.env"
: "${KUBERNETES_VERSION:?missing in versions.env}"
: "${ETCD_VERSION:?missing in versions.env}"
: "${KWOK_VERSION:?missing in versions.env}"

GMB_HERE="$HERE"
GMB_KEY="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
GMB_CACHE_ROOT="${CLUSTER_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/control-plane}"
GMB_JOBS="${CLUSTER_TOOLCHAIN_JOBS:-$(nproc)}"
BIN="$GMB_CACHE_ROOT/$GMB_KEY/bin"
BINARIES="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kwok"

# --- 2. Fast path ------------------------------------------------------------
if [ "$FORCE" = 0 ] && gmb_cached; then
	gmb_log "using cached control plane $BIN"
	printf '%s\n' "$BIN"
	exit 0
fi

# --- 3. Set up ---------------------------------------------------------------
if ! gmb_start; then
	printf '%s\n' "$BIN"
	exit 0
fi
NEW="$GMB_NEW"
WORK="$GMB_WORK"
mkdir -p "$NEW/bin" "$NEW/stages"

# --- 4. Root modules ---------------------------------------------------------
K8S_MOD="k8s.io/kubernetes@v$KUBERNETES_VERSION"
ETCD_MOD="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
KWOK_MOD="sigs.k8s.io/kwok@v$KWOK_VERSION"
STAGING_VERSION="v0.${KUBERNETES_VERSION#*.}" # 1.37.2 -> v0.37.2
t=$SECONDS
gmb_download "$K8S_MOD" "$ETCD_MOD" "$KWOK_MOD"
K8S_GOMOD="$(gmb_gomod_of "$K8S_MOD")"
ETCD_GOMOD="$(gmb_gomod_of "$ETCD_MOD")"
KWOK_GOMOD="$(gmb_gomod_of "$KWOK_MOD")"
KWOK_DIR="$(gmb_dir_of "$KWOK_MOD")"
# k8s.io/kubernetes replaces every k8s.io/* staging module with ./staging/...,
# which its module zip does not carry: use the published v0.<minor>.<patch>.
STAGING=()
while read -r old new ver; do
	if [ -z "$ver" ]; then STAGING+=("$old"); fi
done < <(gmb_upstream_replaces "$K8S_GOMOD")
# Only the staging modules that k8s.io/kubernetes requires are in the graph
# (the sample-* ones are not).
REQUIRED="$("$GO" mod edit -json "$K8S_GOMOD" | python3 -c 'import json,sys; print("\n".join(r["Path"] for r in json.load(sys.stdin)["Require"]))')"
STAGING_MODS=()
for m in "${STAGING[@]}"; do
	if grep -qxF "$m" <<<"$REQUIRED"; then STAGING_MODS+=("$m"); fi
done
[ "${#STAGING_MODS[@]}" -gt 0 ] || gmb_die "found no staging replace directives in $K8S_GOMOD"
gmb_download "${STAGING_MODS[@]/%/@$STAGING_VERSION}"
gmb_log "root modules available (${#STAGING_MODS[@]} k8s.io staging modules at $STAGING_VERSION) in $((SECONDS - t))s"

# --- 5. kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and the
# node's kubelet and kube-proxy (scripts/node runs them)
gmb_new_module kubernetes "$K8S_GOMOD"
args=(-require="$K8S_MOD")
for m in "${STAGING_MODS[@]}"; do
	args+=(-replace="$m=$m@$STAGING_VERSION")
done
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
for c in "${K8S_CMDS[@]}"; do
	args+=(-tool="k8s.io/kubernetes/cmd/$c")
done
(cd "$WORK/kubernetes" && "$GO" mod edit "${args[@]}")
gmb_resolve kubernetes
# What hack/lib/version.sh stamps into a release build, so /version and
# `kubectl version` report this version.
K8S_DATE="$(gmb_time_of "$K8S_MOD")"
K8S_DATE="${K8S_DATE:-1970-01-01T00:00:00Z}"
MINOR="${KUBERNETES_VERSION#*.}"
MINOR="${MINOR%%.*}"
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=${KUBERNETES_VERSION%%.*}"
	k8s_ldflags+=" -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean -X $pkg.buildDate=$K8S_DATE"
	k8s_ldflags+=" -X $pkg.gitCommit=module-$K8S_MOD"
done
gmb_build kubernetes "$NEW/bin/" "${K8S_CMDS[*]}" "$k8s_ldflags" "${K8S_CMDS[@]/#/k8s.io/kubernetes/cmd/}"

# --- 6. etcd -----------------------------------------------------------------
gmb_new_module etcd "$ETCD_GOMOD"
args=(-require="$ETCD_MOD")
# etcd's server module replaces its sibling modules with ../api etc.: use the
# published ones at the same version.
while read -r old new ver; do
	if [ -z "$ver" ]; then args+=(-require="$old@v$ETCD_VERSION"); fi
done < <(gmb_upstream_replaces "$ETCD_GOMOD")
(cd "$WORK/etcd" && "$GO" mod edit "${args[@]}")
cp "$HERE/etcd/main.go" "$WORK/etcd/main.go"
gmb_resolve etcd
gmb_build etcd "$NEW/bin/" etcd "-X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_MOD" .
[ -x "$NEW/bin/etcd" ] || gmb_die "go build did not produce etcd"

# --- 7. kwok, and its Stage documents ------------------------------------------
gmb_new_module kwok "$KWOK_GOMOD"
(cd "$WORK/kwok" && "$GO" mod edit -require="$KWOK_MOD" -tool=sigs.k8s.io/kwok/cmd/kwok)
gmb_resolve kwok
gmb_build kwok "$NEW/bin/" kwok "" sigs.k8s.io/kwok/cmd/kwok
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
	[ -f "$NEW/stages/$f" ] || gmb_die "kwok $KWOK_VERSION has no kustomize/stage/$f"
done

# --- 8. Publish --------------------------------------------------------------
for b in $BINARIES; do
	[ -x "$NEW/bin/$b" ] || gmb_die "missing $b after the build (work dir $WORK)"
done
gmb_publish
printf '%s\n' "$BIN"
exit 0
}
