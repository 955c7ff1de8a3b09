#!/usr/bin/env bash
# Build the node's binaries from the Go module proxy: containerd, ctr, containerd-shim-runc-v2,
# runc, the CNI plugins ptp/host-local/loopback/portmap, CoreDNS, kube-network-policies,
# local-path-provisioner, and the pause binary of the sandbox image. Versions: versions.env.
# (kubelet and kube-proxy come from scripts/control-plane/build.sh.)
#
# Usage: scripts/node/build.sh [--relock] [--force]
#
#   --relock   rebuild and write lock/<module>.go.sum (+ .go.mod, for reference) from what
#              was resolved; commit them afterwards.
#   --force    rebuild even when the cache is complete.
#
# Env: NODE_TOOLCHAIN_CACHE  cache root (default ~/.cache/fastapi-service/node)
#      NODE_TOOLCHAIN_JOBS   go build -p (default: number of cores)
#
#   stdout: the bin directory, as the LAST line (the CNI plugins are in ../cni).
#   stderr: log, each piece with its time, a heartbeat every 30 s while Go runs.
# See README.md in this directory.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# One { ... } block: bash parses the whole script before running it, so editing this file
# during a build cannot break that build.
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=node-toolchain

FORCE=0 GMB_RELOCK=0
for arg in "$@"; do
	case "$arg" in
	*) gmb_common_arg "$arg" "${BASH_SOURCE[0]}" || gmb_die "unknown argument: $arg (try --help)" ;;
	esac
done

# --- 1. Versions and cache layout --------------------------------------------
# shellcheck source=versions.env
. "$HERE/versions.env"
# shellcheck source=../control-plane/versions.env
. "$HERE/../control-plane/versions.env"
for v in CONTAINERD_VERSION RUNC_VERSION CNI_PLUGINS_VERSION COREDNS_VERSION \
	KUBE_NETWORK_POLICIES_VERSION LOCAL_PATH_PROVISIONER_VERSION PAUSE_VERSION KUBERNETES_VERSION; do
	[ -n "${!v:-}" ] || gmb_die "$v missing in versions.env"
done

GMB_HERE="$HERE"
# The patches applied (patches/*.patch) are part of what is built: their hash is in the key.
PATCHES_SUM="$(cat "$HERE"/patches/*.patch | sha256sum | cut -c1-8)"
GMB_KEY="containerd-${CONTAINERD_VERSION}_runc-${RUNC_VERSION}_cni-${CNI_PLUGINS_VERSION}_coredns-${COREDNS_VERSION}_knp-${KUBE_NETWORK_POLICIES_VERSION}_lpp-${LOCAL_PATH_PROVISIONER_VERSION}_pause-${PAUSE_VERSION}_patches-${PATCHES_SUM}"
GMB_CACHE_ROOT="${NODE_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/node}"
GMB_JOBS="${NODE_TOOLCHAIN_JOBS:-$(nproc)}"
BIN="$GMB_CACHE_ROOT/$GMB_KEY/bin"
BINARIES="containerd ctr containerd-shim-runc-v2 runc coredns kube-network-policies local-path-provisioner pause"
CNI_PLUGINS="ptp host-local loopback portmap"

# --- 2. Fast path ------------------------------------------------------------
if [ "$FORCE" = 0 ] && gmb_cached; then
	gmb_log "using cached node binaries $BIN"
	printf '%s\n' "$BIN"
	exit 0
fi

# runc needs cgo and libseccomp: say so before anything is downloaded.
command -v gcc >/dev/null || gmb_die "gcc not found (runc and pause are C/cgo builds: apt-get install gcc libc6-dev)"
command -v patch >/dev/null || gmb_die "patch not found (apt-get install patch)"
pkg-config --exists libseccomp 2>/dev/null || gmb_die "libseccomp not found by pkg-config (apt-get install libseccomp-dev pkg-config)"

# --- 3. Set up ---------------------------------------------------------------
if ! gmb_start; then
	printf '%s\n' "$BIN"
	exit 0
fi
NEW="$GMB_NEW"
WORK="$GMB_WORK"
mkdir -p "$NEW/bin" "$NEW/cni"

CONTAINERD_MOD="github.com/containerd/containerd/v2@v$CONTAINERD_VERSION"
RUNC_MOD="github.com/opencontainers/runc@v$RUNC_VERSION"
CNI_MOD="github.com/containernetworking/plugins@v$CNI_PLUGINS_VERSION"
COREDNS_MOD="github.com/coredns/coredns@v$COREDNS_VERSION"
KNP_MOD="sigs.k8s.io/kube-network-policies@v$KUBE_NETWORK_POLICIES_VERSION"
LPP_MOD="github.com/rancher/local-path-provisioner@v$LOCAL_PATH_PROVISIONER_VERSION"
K8S_MOD="k8s.io/kubernetes@v$KUBERNETES_VERSION"
t=$SECONDS
gmb_download "$CONTAINERD_MOD" "$RUNC_MOD" "$CNI_MOD" "$COREDNS_MOD" "$KNP_MOD" "$LPP_MOD" "$K8S_MOD"
gmb_log "root modules available in $((SECONDS - t)) s"

# wrapper NAME MOD@VER TOOL_PKG...: a wrapper module requiring MOD with TOOL_PKGs as tool
# directives (a go directive of at least 1.24, which tool directives need), resolved against
# lock/NAME.go.sum. WRAPPER_EDITS: more `go mod edit` flags (a replace by a patched copy).
wrapper() {
	local name="$1" mod="$2" go_version args=()
	shift 2
	gmb_new_module "$name" "$(gmb_gomod_of "$mod")"
	args=(-require="$mod")
	if [ -n "${WRAPPER_EDITS:-}" ]; then args+=("$WRAPPER_EDITS"); fi
	for p in "$@"; do args+=(-tool="$p"); done
	go_version="$("$GO" mod edit -json "$WORK/$name/go.mod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])')"
	if python3 -c 'import sys; v = tuple(int(x) for x in sys.argv[1].split(".")[:2]); sys.exit(0 if v < (1, 24) else 1)' "$go_version"; then
		args+=(-go=1.24)
	fi
	(cd "$WORK/$name" && "$GO" mod edit "${args[@]}")
	gmb_resolve "$name"
}

# --- 4. containerd, ctr, containerd-shim-runc-v2 (tags as containerd's Makefile) ----------
CTRD=github.com/containerd/containerd/v2
wrapper containerd "$CONTAINERD_MOD" "$CTRD/cmd/containerd" "$CTRD/cmd/ctr" "$CTRD/cmd/containerd-shim-runc-v2"
ctrd_ldflags="-X $CTRD/version.Version=v$CONTAINERD_VERSION -X $CTRD/version.Revision=module-v$CONTAINERD_VERSION -X $CTRD/version.Package=$CTRD"
gmb_build containerd "$NEW/bin/" "containerd ctr" "$ctrd_ldflags" -tags urfave_cli_no_docs "$CTRD/cmd/containerd" "$CTRD/cmd/ctr"
gmb_build containerd "$NEW/bin/containerd-shim-runc-v2" containerd-shim-runc-v2 "$ctrd_ldflags" -tags "urfave_cli_no_docs no_grpc" "$CTRD/cmd/containerd-shim-runc-v2"

# --- 5. runc: cgo (its nsenter is C) with libseccomp; libpathrs (Rust) left out ----------
wrapper runc "$RUNC_MOD" github.com/opencontainers/runc
CGO_ENABLED=1 gmb_build runc "$NEW/bin/runc" runc "-X main.version=$RUNC_VERSION -X main.gitCommit=module-v$RUNC_VERSION" \
	-tags "seccomp urfave_cli_no_docs" github.com/opencontainers/runc
"$NEW/bin/runc" --version | grep -q "seccomp" || gmb_die "runc was built without seccomp support"

# --- 6. CNI plugins ------------------------------------------------------------
CNI_PKGS=()
for p in $CNI_PLUGINS; do
	case "$p" in
	host-local) CNI_PKGS+=(github.com/containernetworking/plugins/plugins/ipam/host-local) ;;
	portmap) CNI_PKGS+=(github.com/containernetworking/plugins/plugins/meta/portmap) ;;
	*) CNI_PKGS+=("github.com/containernetworking/plugins/plugins/main/$p") ;;
	esac
done
wrapper cni-plugins "$CNI_MOD" "${CNI_PKGS[@]}"
gmb_build cni-plugins "$NEW/cni/" "CNI plugins ($CNI_PLUGINS)" \
	"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v$CNI_PLUGINS_VERSION" "${CNI_PKGS[@]}"

# --- 7. pause: k8s.io/kubernetes' build/pause/linux/pause.c, as its Makefile builds it ----
K8S_DIR="$(gmb_dir_of "$K8S_MOD")"
pause_tag="$(sed -n 's/^TAG ?= *//p' "$K8S_DIR/build/pause/Makefile")"
[ "$pause_tag" = "$PAUSE_VERSION" ] ||
	gmb_die "k8s.io/kubernetes v$KUBERNETES_VERSION builds pause $pause_tag, versions.env says PAUSE_VERSION=$PAUSE_VERSION"
gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-module-v$KUBERNETES_VERSION" \
	-o "$NEW/bin/pause" "$K8S_DIR/build/pause/linux/pause.c" 2>"$WORK/pause.log" ||
	{ cat "$WORK/pause.log" >&2; gmb_die "gcc of pause.c failed"; }
strip "$NEW/bin/pause"
gmb_log "built pause $PAUSE_VERSION (static)"

# --- 8. CoreDNS --------------------------------------------------------------------
wrapper coredns "$COREDNS_MOD" github.com/coredns/coredns
gmb_build coredns "$NEW/bin/coredns" coredns "-X github.com/coredns/coredns/coremain.GitCommit=module-v$COREDNS_VERSION" github.com/coredns/coredns

# --- 9. kube-network-policies (its Dockerfile: go build ./cmd, installed as /bin/netpol) --
# Patched (patches/kube-network-policies-xt-nfqueue.patch): this kernel has no nft `queue`
# expression, so packets go to the NFQUEUE through the xtables target instead.
KNP_SRC="$WORK/kube-network-policies/src" # a nested module: the wrapper's `replace` target
mkdir -p "$(dirname "$KNP_SRC")"
cp -r "$(gmb_dir_of "$KNP_MOD")" "$KNP_SRC"
chmod -R u+w "$KNP_SRC"
for p in "$HERE"/patches/kube-network-policies-*.patch; do
	patch -s -p1 -d "$KNP_SRC" <"$p" || gmb_die "$(basename "$p") does not apply to $KNP_MOD"
	gmb_log "applied $(basename "$p")"
done
WRAPPER_EDITS="-replace=sigs.k8s.io/kube-network-policies=./src" \
	wrapper kube-network-policies "$KNP_MOD" sigs.k8s.io/kube-network-policies/cmd
gmb_build kube-network-policies "$NEW/bin/kube-network-policies" kube-network-policies "" sigs.k8s.io/kube-network-policies/cmd

# --- 10. local-path-provisioner ---------------------------------------------------
wrapper local-path-provisioner "$LPP_MOD" github.com/rancher/local-path-provisioner
gmb_build local-path-provisioner "$NEW/bin/local-path-provisioner" local-path-provisioner \
	"-X main.VERSION=v$LOCAL_PATH_PROVISIONER_VERSION" github.com/rancher/local-path-provisioner

# --- 11. Publish -------------------------------------------------------------
for b in $BINARIES; do
	[ -x "$NEW/bin/$b" ] || gmb_die "missing $b after the build (work dir $WORK)"
done
for p in $CNI_PLUGINS; do
	[ -x "$NEW/cni/$p" ] || gmb_die "missing CNI plugin $p after the build (work dir $WORK)"
done
gmb_publish
printf '%s\n' "$BIN"
exit 0
}
