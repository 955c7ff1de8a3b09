#!/usr/bin/env bash
# Start a real single-node Kubernetes cluster on this machine, inside one network namespace,
# everything else under RUN_DIR: containerd + runc, the control plane of
# scripts/control-plane, kubelet, kube-proxy, CNI (ptp + host-local, like kind), CoreDNS,
# kube-network-policies, local-path-provisioner (StorageClass `standard`, the default), and a
# local registry holding every image the node and the stacks run, pulled by digest.
#
# Usage: scripts/node/up.sh [--with-s3] RUN_DIR
#
#   --with-s3   also start the S3 test server (scripts/s3) inside the namespace, on the node IP
#   stdout: the kubeconfig path (RUN_DIR/kubeconfig, usable from the host), as the LAST line.
#   stderr: one status line per step with its time; on failure the tail of the log concerned.
#   RUN_DIR/node.env (sourceable), RUN_DIR/images.env (every image by digest),
#   RUN_DIR/logs/*.log, RUN_DIR/pids/*.pid, RUN_DIR/state/started (what down.sh undoes).
# Stop with scripts/node/down.sh RUN_DIR; run a command in the namespace with
# scripts/node/exec.sh RUN_DIR CMD... On failure or SIGINT, up.sh undoes what it did.
#
# Env: NODE_UP_TIMEOUT   seconds allowed for each wait (default 180)
#      NODE_NAME         the node's name (default fastapi-node)
#      NODE_APP_IMAGE    see images.sh (unset: build app/Dockerfile; `none`: no app image)
#      NODE_WITH_S3=1    same as --with-s3
#      NODE_BIN_DIR, CLUSTER_BIN_DIR  binaries (default: build.sh's, scripts/control-plane/build.sh's)
# See README.md in this directory.
# (Over 300 lines on purpose: the node's steps in the order they run, each one undone by down.sh.)
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # the steps run through step(), which shellcheck cannot follow
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../lib/common.sh
. "$REPO/scripts/lib/common.sh"
# shellcheck source=names.sh
. "$HERE/names.sh"
LOG_PREFIX=node

WITH_S3="${NODE_WITH_S3:-0}"
ARGS=()
for arg in "$@"; do
	case "$arg" in
	--with-s3) WITH_S3=1 ;;
	-h | --help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
	-*) die "unknown option $arg (try --help)" ;;
	*) ARGS+=("$arg") ;;
	esac
done
if [ "${#ARGS[@]}" -ne 1 ] || [ -z "${ARGS[0]}" ]; then die "usage: $0 [--with-s3] RUN_DIR"; fi
T_START=$EPOCHREALTIME
TIMEOUT="${NODE_UP_TIMEOUT:-180}"

# --- Preflight: everything this needs from the machine, named in one message ---------------
preflight() {
	local missing=() c tool
	[ "$(id -u)" = 0 ] || missing+=("root (it creates a network namespace, cgroups and mounts; run it as root)")
	[ -c /dev/kmsg ] && [ -r /dev/kmsg ] || missing+=("/dev/kmsg (kubelet's OOM watcher reads it)")
	grep -qw overlay /proc/filesystems || missing+=("overlayfs (containerd's overlayfs snapshotter; modprobe overlay)")
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		missing+=("the cgroup v1 hierarchies: /sys/fs/cgroup is a cgroup v2 (unified) mount, and these scripts are written for the v1 layout of these VMs")
	else
		for c in cpu cpuacct cpuset memory pids devices freezer blkio; do
			awk -v c="$c" '$9 == "cgroup" && $5 == "/sys/fs/cgroup/" c { found = 1 } END { exit !found }' /proc/self/mountinfo ||
				missing+=("the cgroup v1 '$c' hierarchy at /sys/fs/cgroup/$c")
		done
	fi
	# Probed in throwaway namespaces, which only root can make.
	if [ "$(id -u)" = 0 ]; then
		[ -e /proc/self/ns/net ] && unshare --net true 2>/dev/null || missing+=("network namespaces (unshare --net failed)")
		unshare --net sh -c 'ip link add pf1 type veth peer name pf2' 2>/dev/null ||
			missing+=("veth interfaces (ip link add ... type veth failed in a scratch namespace)")
		# The node IP's interface: a dummy, or an ifb where the kernel has no dummy driver (as
		# this VM's): both are up and drop whatever is sent to them.
		if unshare --net ip link add pf0 type dummy 2>/dev/null; then
			DUMMY_TYPE=dummy
		elif unshare --net ip link add pf0 type ifb 2>/dev/null; then
			DUMMY_TYPE=ifb
		else
			missing+=("a dummy or ifb interface for the node IP (ip link add ... type dummy / ifb failed)")
		fi
	fi
	for tool in ip nsenter setsid iptables mount umount openssl curl python3 flock docker-registry buildah mmdebstrap setcap; do
		command -v "$tool" >/dev/null || missing+=("the $tool command")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		log "ERROR: this machine lacks what a node needs; nothing was started. Missing:"
		printf '    - %s\n' "${missing[@]}" >&2
		exit 1
	fi
}
preflight

mkdir -p "${ARGS[0]}"
RUN="$(cd "${ARGS[0]}" && pwd -P)"
node_names
# RUN_DIR is ours only if it is new, empty, or marked by an earlier up.sh: the reset below
# deletes what a previous run left there, and must never touch anything else.
MARKER="$RUN/.fastapi-service-node-run"
if [ ! -f "$MARKER" ] && [ -n "$(ls -A "$RUN")" ]; then
	die "$RUN holds files up.sh did not write; give it a new or empty RUN_DIR"
fi
if [ -s "$RUN/state/started" ] || [ -e "$NETNS_PATH" ]; then
	die "$RUN has a node that is up (or was not taken down): run $HERE/down.sh $RUN first"
fi
if awk -v run="$RUN" '$5 == run || index($5, run "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	die "there are mounts under $RUN left from an earlier node: run $HERE/down.sh $RUN first"
fi
touch "$MARKER"

# --- Teardown on failure or interruption -----------------------------------------------------
READY=0
CURRENT_LOG=""
# fd 3: up.sh's own stderr, for the traps (a signal may arrive while a step's output goes to a
# log). Closed for every process that outlives up.sh (3>&-): a caller reading up.sh's output
# through a pipe would otherwise wait for the daemons to exit.
exec 3>&2
# shellcheck disable=SC2317 # run by the EXIT trap
on_exit() {
	local rc=$?
	[ "$READY" = 1 ] && return 0
	exec 2>&3
	trap - INT TERM
	log "ERROR: the node did not come up${STEP:+ (step: $STEP)}"
	if [ -n "$CURRENT_LOG" ]; then tail_log "$CURRENT_LOG" 40; fi
	# Nothing started yet (a build failed, or was interrupted): nothing to undo.
	if [ -s "$RUN/state/started" ]; then
		local f
		for f in "$RUN"/pids/*.pid; do
			[ -f "$f" ] || continue
			[ "$RUN/logs/$(basename "$f" .pid).log" != "$CURRENT_LOG" ] || continue
			if ! pid_is "$(cat "$f")" "$RUN/"; then tail_log "$RUN/logs/$(basename "$f" .pid).log" 20; fi
		done
		log "undoing what was started"
		"$HERE/down.sh" "$RUN" >&2 || log "down.sh failed: run it again ($HERE/down.sh $RUN)"
	fi
	exit "$((rc == 0 ? 1 : rc))"
}
trap on_exit EXIT
trap 'log "interrupted" 2>&3; exit 130' INT TERM
fail() {
	log "ERROR: $*"
	exit 1
}

# --- Binaries and images (built once, then cached outside the repository) ------------------
NODE_BIN="${NODE_BIN_DIR:-$("$HERE/build.sh" | tail -n 1)}"
CNI_BIN="$(cd "$NODE_BIN/../cni" && pwd)"
CLUSTER_BIN="${CLUSTER_BIN_DIR:-$("$REPO/scripts/control-plane/build.sh" | tail -n 1)}"
for b in kubelet kube-proxy kubectl; do
	[ -x "$CLUSTER_BIN/$b" ] || die "$CLUSTER_BIN has no $b: scripts/control-plane/build.sh builds it (K8S_CMDS)"
done
IMAGE_LIST="$(NODE_BIN_DIR="$NODE_BIN" "$HERE/images.sh")" || die "building the images failed (above)"

rm -rf "${RUN:?}/state" "${RUN:?}/logs" "${RUN:?}/pids" "${RUN:?}/containerd" "${RUN:?}/kubelet" "${RUN:?}/kubelet-pki" \
	"${RUN:?}/pod-logs" "${RUN:?}/cni" "${RUN:?}/nri" "${RUN:?}/registry" "${RUN:?}/control-plane" "${RUN:?}/volumes" \
	"${RUN:?}/s3" "${RUN:?}/config" "${RUN:?}/s" "$RUN/node.env" "$RUN/images.env" "$RUN/kubeconfig"
mkdir -p "$RUN/state" "$RUN/logs" "$RUN/pids" "$RUN/config" "$RUN/volumes"
: >"$RUN/state/started"

kctl() { "$CLUSTER_BIN/kubectl" --kubeconfig "$RUN/kubeconfig" --cache-dir "$RUN/control-plane/home/kubectl-cache" "$@"; }
in_netns() { nsenter --net="$NETNS_PATH" -- "$@"; }

# start_daemon NAME CGROUP_LEAF CMD...: CMD in the node's namespace, in its own session (a
# Ctrl-C at the terminal does not reach it), in cgroup CGROUP/CGROUP_LEAF when one is given;
# its log in logs/NAME.log, its pid in pids/NAME.pid, recorded for down.sh.
start_daemon() {
	local name="$1" leaf="$2" pid
	shift 2
	if [ -n "$leaf" ]; then
		# The launcher joins the cgroup and execs: every child (containerd's shims) stays in it.
		# shellcheck disable=SC2016,SC2046 # the script is for bash -c; the paths have no spaces
		setsid nsenter --net="$NETNS_PATH" -- bash -c 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ >"$f"; done; while [ "$1" != -- ]; do shift; done; shift; exec "$@"' \
			cgjoin $(cg_procs_files "$leaf") -- "$@" </dev/null >"$RUN/logs/$name.log" 2>&1 3>&- &
	else
		setsid nsenter --net="$NETNS_PATH" -- "$@" </dev/null >"$RUN/logs/$name.log" 2>&1 3>&- &
	fi
	pid=$!
	echo "$pid" >"$RUN/pids/$name.pid"
	record process "$name"
	CURRENT_LOG="$RUN/logs/$name.log"
	await_exec "$pid" "$RUN/"
}
# alive NAME: the process started as NAME still runs.
alive() { pid_is "$(cat "$RUN/pids/$1.pid")" "$RUN/"; }

# --- cgroups ---------------------------------------------------------------------------------
# Every cgroup v1 hierarchy mounted under /sys/fs/cgroup (cpu, memory, ..., name=systemd).
cg_hierarchies() { awk '$9 == "cgroup" && $5 ~ "^/sys/fs/cgroup/" { print $5 }' /proc/self/mountinfo; }
cg_procs_files() { local h; for h in $(cg_hierarchies); do printf '%s\n' "$h$CGROUP/$1/cgroup.procs"; done; }
# cg_create LEAF: CGROUP/LEAF in every hierarchy (cpuset needs its cpus and mems copied down).
cg_create() {
	local h d
	for h in $(cg_hierarchies); do
		for d in "$h$CGROUP" "$h$CGROUP/$1"; do
			[ -d "$d" ] && continue
			mkdir "$d"
			if [ -f "$d/cpuset.cpus" ]; then
				cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus"
				cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems"
			fi
		done
	done
}

# === Steps ===================================================================================

# netns: the namespace, its interfaces, and the mount propagation kubelet and containerd need.
step_netns() {
	# Volumes kubelet and containerd mount under RUN_DIR must propagate into containers
	# (mountPropagation: HostToContainer needs a shared source): RUN_DIR becomes a shared bind
	# mount of itself, so `/` stays as it is (private here).
	mount --bind "$RUN" "$RUN"
	record bind-mount "$RUN"
	mount --make-rshared "$RUN"
	# What kubelet and containerd mount under RUN_DIR, unmounted by down.sh.
	record mounts-under "$RUN"
	# `ip netns add` makes /run/netns a shared bind mount when it is not one.
	if ! mountpoint -q /run/netns 2>/dev/null; then
		if [ -d /run/netns ]; then record netns-dir-mount keep-dir; else record netns-dir-mount remove-dir; fi
	fi
	ip netns add "$NETNS_NAME"
	record netns "$NETNS_NAME"
	ip -n "$NETNS_NAME" link set lo up
	ip -n "$NETNS_NAME" link add dummy0 type "$DUMMY_TYPE"
	ip -n "$NETNS_NAME" addr add "$NODE_IP/24" dev dummy0
	ip -n "$NETNS_NAME" link set dummy0 up
	# Node-IP detection needs a default route; through a dummy, nothing ever leaves.
	ip -n "$NETNS_NAME" route add default dev dummy0
	# The host reaches the API server through a /30: nothing else is routed.
	local taken
	taken="$(ip -4 route show match "$VETH_NODE_IP" | grep -v '^default ' || true)"
	[ -z "$taken" ] || fail "the host already routes $VETH_NODE_IP ($taken): change the veth range in names.sh"
	ip link add "$VETH_HOST" type veth peer name "$VETH_NODE" netns "$NETNS_NAME"
	record veth "$VETH_HOST"
	ip addr add "$VETH_HOST_IP/30" dev "$VETH_HOST"
	ip link set "$VETH_HOST" up
	ip -n "$NETNS_NAME" addr add "$VETH_NODE_IP/30" dev "$VETH_NODE"
	ip -n "$NETNS_NAME" link set "$VETH_NODE" up
	# iptables (kube-proxy, portmap) creates this lock file; remove it on down if it is ours.
	[ -e /run/xtables.lock ] || record file-created /run/xtables.lock
	# libcni's cache (containerd does not move it).
	if [ -e /var/lib/cni ]; then record cni-cache /var/lib/cni existed; else record cni-cache /var/lib/cni created; fi
	cg_create runtime
	record cgroup "$CGROUP"
	STEP_NOTE="$NETNS_NAME, node IP $NODE_IP on dummy0 ($DUMMY_TYPE), API from the host via $VETH_HOST ($VETH_HOST_IP -> $VETH_NODE_IP)"
}

# images: the local registry in the namespace, every image pushed, images.env by digest. It
# listens on every address of the namespace: 127.0.0.1:5000 for the node's own images, and the
# veth's end ($HOST_REGISTRY) for a Docker daemon on the host (image.mode build) to push to;
# pods pull either name.
step_images() {
	mkdir -p "$RUN/registry/data"
	cat >"$RUN/config/registry.yml" <<-EOF
		version: 0.1
		log: {level: warn, accesslog: {disabled: true}}
		storage:
		  filesystem: {rootdirectory: $RUN/registry/data}
		  delete: {enabled: true}
		http:
		  addr: 0.0.0.0:${REGISTRY##*:}
		  secret: $(head -c 24 /dev/urandom | base64)
	EOF
	start_daemon registry "" docker-registry serve "$RUN/config/registry.yml"
	WAIT_ALIVE="alive registry" wait_for "the registry on $REGISTRY" 30 in_netns curl -fsS "http://$REGISTRY/v2/" || fail "the registry did not answer"
	local name dir ref pushed key count=0
	{
		printf '# The images on the node registry %s, by digest (scripts/node/up.sh).\n' "$REGISTRY"
		while IFS=$'\t' read -r name dir ref; do
			[ -n "$name" ] || continue
			pushed="$(in_netns python3 "$HERE/registry.py" push "$REGISTRY" "$dir" "$ref")" || fail "pushing $name ($dir) to the registry failed"
			key="$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')"
			case "$name" in busybox) key=LOCAL_PATH_HELPER ;; esac
			printf '%s_IMAGE=%s\n' "$key" "$pushed"
			count=$((count + 1))
		done <<<"$IMAGE_LIST"
	} >"$RUN/images.env"
	# shellcheck disable=SC1091
	. "$RUN/images.env"
	STEP_NOTE="$count images on $REGISTRY (images.env)"
}

# containerd: own root, state, sockets and config in RUN_DIR; runc from build.sh; the node's
# registry over plain HTTP, also as registry.k8s.io's mirror (the sandbox image's name).
step_containerd() {
	local c="$RUN/containerd" socket_dir
	mkdir -p "$c/root" "$c/state" "$c/tmp" "$c/runc" "$c/certs.d/$REGISTRY" "$c/certs.d/$HOST_REGISTRY" "$c/certs.d/registry.k8s.io" \
		"$RUN/cni/net.d" "$RUN/cni/ipam" "$RUN/nri/plugins" "$RUN/nri/conf.d"
	# Shim sockets: 42 characters at most for the directory (containerd's limit).
	socket_dir="$RUN/s"
	if [ "${#socket_dir}" -gt 42 ]; then
		socket_dir="/run/fastapi-node-$NODE_HASH"
		[ -e "$socket_dir" ] || record file-created "$socket_dir"
	fi
	mkdir -p "$socket_dir"
	cat >"$c/certs.d/$REGISTRY/hosts.toml" <<-EOF
		server = "http://$REGISTRY"
		[host."http://$REGISTRY"]
		  capabilities = ["pull", "resolve", "push"]
	EOF
	cat >"$c/certs.d/$HOST_REGISTRY/hosts.toml" <<-EOF
		server = "http://$HOST_REGISTRY"
		[host."http://$HOST_REGISTRY"]
		  capabilities = ["pull", "resolve"]
	EOF
	cat >"$c/certs.d/registry.k8s.io/hosts.toml" <<-EOF
		# The node's registry holds the sandbox image as pause:$PAUSE_VERSION.
		server = "https://registry.k8s.io"
		[host."http://$REGISTRY"]
		  capabilities = ["pull", "resolve"]
	EOF
	cat >"$RUN/config/containerd.toml" <<-EOF
		version = 3
		root = "$c/root"
		state = "$c/state"
		temp = "$c/tmp"
		imports = []
		disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile",
		  "io.containerd.snapshotter.v1.erofs", "io.containerd.differ.v1.erofs",
		  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$c/containerd.sock"
		[ttrpc]
		  address = "$c/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins]
		  [plugins.'io.containerd.internal.v1.opt']
		    path = "$c/opt"
		  [plugins.'io.containerd.image-verifier.v1.bindir']
		    bin_dir = "$c/image-verifier"
		  [plugins.'io.containerd.shim.v1.manager']
		    socket_dir = "$socket_dir"
		  [plugins.'io.containerd.nri.v1.nri']
		    disable = false
		    socket_path = "$RUN/nri/nri.sock"
		    plugin_path = "$RUN/nri/plugins"
		    plugin_config_path = "$RUN/nri/conf.d"
		  [plugins.'io.containerd.cri.v1.images']
		    snapshotter = "overlayfs"
		    [plugins.'io.containerd.cri.v1.images'.pinned_images]
		      sandbox = "registry.k8s.io/pause:$PAUSE_VERSION"
		    [plugins.'io.containerd.cri.v1.images'.registry]
		      config_path = "$c/certs.d"
		  [plugins.'io.containerd.cri.v1.runtime']
		    # No process here may lower an oom_score_adj (CAP_SYS_RESOURCE is not in the
		    # bounding set): containers get at least containerd's, as in rootless kind.
		    restrict_oom_score_adj = true
		    netns_mounts_under_state_dir = true
		    cdi_spec_dirs = []
		    [plugins.'io.containerd.cri.v1.runtime'.containerd]
		      default_runtime_name = "runc"
		      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
		        runtime_type = "io.containerd.runc.v2"
		        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
		          BinaryName = "$NODE_BIN/runc"
		          Root = "$c/runc"
		          SystemdCgroup = false
		    [plugins.'io.containerd.cri.v1.runtime'.cni]
		      bin_dirs = ["$CNI_BIN"]
		      conf_dir = "$RUN/cni/net.d"
		  [plugins.'io.containerd.grpc.v1.cri']
		    stream_server_address = "127.0.0.1"
		    stream_server_port = "0"
	EOF
	# The shims find runc and the CNI plugins through PATH too.
	start_daemon containerd runtime env PATH="$NODE_BIN:$PATH" "$NODE_BIN/containerd" --config "$RUN/config/containerd.toml"
	WAIT_ALIVE="alive containerd" wait_for "containerd's socket" 60 "$NODE_BIN/ctr" --address "$c/containerd.sock" version ||
		fail "containerd did not start"
	STEP_NOTE="$("$NODE_BIN/containerd" --version | awk '{print $3}'), runc $("$NODE_BIN/runc" --version | awk 'NR==1 {print $3}')"
}

# control plane: scripts/control-plane/up.sh inside the namespace, the API server on every
# address there: the node IP (the default/kubernetes endpoint) and the veth end the host reaches.
step_control_plane() {
	CURRENT_LOG="$RUN/logs/control-plane.log"
	record control-plane "$RUN/control-plane"
	CLUSTER_NODES=external CLUSTER_BIN_DIR="$CLUSTER_BIN" CLUSTER_UP_TIMEOUT="$TIMEOUT" \
		CLUSTER_BIND_ADDRESS=0.0.0.0 CLUSTER_ADVERTISE_ADDRESS="$NODE_IP" CLUSTER_API_HOST="$VETH_NODE_IP" \
		CLUSTER_EXTRA_CLIENTS="kubelet=/O=system:nodes/CN=system:node:$NODE_NAME kube-proxy=/CN=system:kube-proxy" \
		nsenter --net="$NETNS_PATH" -- "$REPO/scripts/control-plane/up.sh" "$RUN/control-plane" >"$RUN/logs/control-plane.out" 2>"$CURRENT_LOG" 3>&- ||
		fail "the control plane did not start"
	cp "$RUN/control-plane/kubeconfig" "$RUN/kubeconfig"
	# shellcheck disable=SC1091
	API_SERVER="$(. "$RUN/control-plane/cluster.env" && echo "$CLUSTER_API_SERVER")"
	STEP_NOTE="$API_SERVER"
}

# kubelet: cgroupfs on cgroup v1, image GC and evictions off, its pods under CGROUP.
KUBELET_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
step_kubelet() {
	local s
	mkdir -p "$RUN/kubelet" "$RUN/kubelet-pki" "$RUN/pod-logs"
	# kubelet sets these VM-wide sysctls at start: down.sh puts the values back.
	for s in $KUBELET_SYSCTLS; do printf '%s=%s\n' "$s" "$(sysctl -n "$s")"; done >"$RUN/state/sysctls"
	record sysctls "$RUN/state/sysctls"
	# kubelet links every container's log into /var/log/containers (a fixed path): the links
	# go on down, and the directory too when kubelet created it.
	[ -e /var/log/containers ] || record file-created /var/log/containers
	record links-into /var/log/containers "$RUN/"
	# No DNS server outside: pods with dnsPolicy Default get the cluster DNS (which forwards
	# nothing), hostNetwork pods too.
	printf 'nameserver %s\n' "$SERVICE_DNS_IP" >"$RUN/config/resolv.conf"
	cat >"$RUN/config/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		failCgroupV1: false
		cgroupDriver: cgroupfs
		cgroupRoot: $CGROUP
		containerRuntimeEndpoint: unix://$RUN/containerd/containerd.sock
		address: $NODE_IP
		port: 10250
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		healthzPort: 10248
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: true}
		  x509: {clientCAFile: $RUN/control-plane/pki/ca.crt}
		authorization: {mode: Webhook}
		clusterDomain: cluster.local
		clusterDNS: [$SERVICE_DNS_IP]
		resolvConf: $RUN/config/resolv.conf
		podLogsDir: $RUN/pod-logs
		# An image garbage-collected or a pod evicted could not come back offline.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%", imagefs.inodesFree: "0%"}
		failSwapOn: false
		# Its own OOM score stays as it is (lowering it needs CAP_SYS_RESOURCE).
		oomScoreAdj: 0
		rotateCertificates: false
		serverTLSBootstrap: false
		staticPodPath: ""
		maxPods: 110
	EOF
	# The pods go (after kubelet, before the control plane) on down.
	record kill-cgroup "$CGROUP/kubepods"
	start_daemon kubelet "" "$CLUSTER_BIN/kubelet" --config="$RUN/config/kubelet.yaml" \
		--kubeconfig="$RUN/control-plane/kubelet.kubeconfig" --root-dir="$RUN/kubelet" --cert-dir="$RUN/kubelet-pki" \
		--node-ip="$NODE_IP" --hostname-override="$NODE_NAME" --v=1
	WAIT_ALIVE="alive kubelet" wait_for "node $NODE_NAME registered" "$TIMEOUT" kctl get node "$NODE_NAME" ||
		fail "kubelet did not register the node"
	STEP_NOTE="node $NODE_NAME ($("$CLUSTER_BIN/kubelet" --version | awk '{print $2}'))"
}

# kube-proxy: iptables mode; conntrack's global sysctls are read-only in a namespace.
step_kube_proxy() {
	cat >"$RUN/config/kube-proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		clientConnection: {kubeconfig: $RUN/control-plane/kube-proxy.kubeconfig}
		hostnameOverride: $NODE_NAME
		mode: iptables
		clusterCIDR: $CLUSTER_CIDR
		conntrack: {maxPerCore: 0}
		metricsBindAddress: 127.0.0.1:10249
		healthzBindAddress: 127.0.0.1:10256
	EOF
	local attempt
	for attempt in 1 2; do
		start_daemon kube-proxy "" "$CLUSTER_BIN/kube-proxy" --config="$RUN/config/kube-proxy.yaml" --v=1
		# Ready when the kubernetes Service is programmed.
		WAIT_ALIVE="alive kube-proxy" wait_for "kube-proxy's rules for the kubernetes Service" "$TIMEOUT" \
			sh -c "nsenter --net='$NETNS_PATH' -- iptables -t nat -S KUBE-SERVICES | grep -q 'default/kubernetes:https'" && return 0
		# Once seen in CI: gone at once, before writing a line. A second start, then the error.
		if [ "$attempt" = 1 ] && [ ! -s "$RUN/logs/kube-proxy.log" ] && ! alive kube-proxy; then
			warn "kube-proxy ended before its first log line: starting it once more"
		else
			break
		fi
	done
	fail "kube-proxy did not program the Services"
}

# CNI: ptp + host-local (+ portmap), as kind configures them; loopback for lo.
step_cni() {
	cat >"$RUN/cni/net.d/10-fastapi-node.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "fastapi-node",
		  "plugins": [
		    {
		      "type": "ptp",
		      "ipMasq": false,
		      "mtu": 1500,
		      "ipam": {
		        "type": "host-local",
		        "dataDir": "$RUN/cni/ipam",
		        "routes": [{"dst": "0.0.0.0/0"}],
		        "ranges": [[{"subnet": "$POD_SUBNET"}]]
		      }
		    },
		    {"type": "portmap", "capabilities": {"portMappings": true}}
		  ]
		}
	EOF
	# shellcheck disable=SC2317 # run by wait_for
	node_ready() { [ "$(kctl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
	CURRENT_LOG="$RUN/logs/kubelet.log"
	WAIT_ALIVE="alive kubelet" wait_for "node $NODE_NAME Ready" "$TIMEOUT" node_ready || fail "the node did not become Ready"
	STEP_NOTE="pods in $POD_SUBNET, node Ready"
}

# apply NAME: the manifest manifests/NAME.yaml with @VARIABLES@ filled in.
apply() {
	local name="$1" out="$RUN/config/$1.yaml"
	python3 - "$HERE/manifests/$name.yaml" "$out" <<-'PY'
		import os, re, sys
		text = open(sys.argv[1]).read()
		def value(match):
		    name = match.group(1)
		    if name not in os.environ:
		        sys.exit(f"{sys.argv[1]}: @{name}@ is not set")
		    return os.environ[name]
		open(sys.argv[2], "w").write(re.sub(r"@([A-Z0-9_]+)@", value, text))
	PY
	kctl apply --server-side --field-manager=node-up -f "$out" >>"$RUN/logs/manifests.log" 2>&1 ||
		{ CURRENT_LOG="$RUN/logs/manifests.log"; fail "kubectl apply of $out failed"; }
}
# rolled_out KIND/NAME NAMESPACE: wait for a rollout, bounded.
rolled_out() {
	CURRENT_LOG="$RUN/logs/kubelet.log"
	kctl rollout status "$1" -n "$2" --timeout="${TIMEOUT}s" >>"$RUN/logs/manifests.log" 2>&1 ||
		{ kctl get pods -n "$2" -o wide >&2 || true; kctl get events -n "$2" --sort-by=.lastTimestamp 2>/dev/null | tail -n 15 >&2 || true; fail "$1 in $2 did not roll out"; }
}

export_manifest_env() {
	export NODE_NAME NODE_IP SERVICE_DNS_IP RUN COREDNS_IMAGE KUBE_NETWORK_POLICIES_IMAGE \
		LOCAL_PATH_PROVISIONER_IMAGE LOCAL_PATH_HELPER_IMAGE
	NRI_DIR="$RUN/nri" CRI_NETNS_DIR="$RUN/containerd/state/io.containerd.grpc.v1.cri/netns" VOLUMES_DIR="$RUN/volumes"
	export NRI_DIR CRI_NETNS_DIR VOLUMES_DIR
	mkdir -p "$CRI_NETNS_DIR"
}

step_dns() {
	apply coredns
	rolled_out deployment/coredns kube-system
	STEP_NOTE="kube-dns $SERVICE_DNS_IP"
}
step_policies() {
	apply kube-network-policies
	rolled_out daemonset/kube-network-policies kube-system
}
step_storage() {
	apply local-path-provisioner
	rolled_out deployment/local-path-provisioner local-path-storage
	STEP_NOTE="StorageClass standard (default), volumes in $RUN/volumes"
}

# s3: the S3 test server of scripts/s3, in the namespace, on the node IP (reachable from pods).
step_s3() {
	CURRENT_LOG="$RUN/logs/s3.log"
	record s3 "$RUN/s3"
	S3_BIND_ADDRESS="$NODE_IP" S3_DOWN_TIMEOUT=1 nsenter --net="$NETNS_PATH" -- "$REPO/scripts/s3/up.sh" "$RUN/s3" >"$RUN/logs/s3.out" 2>"$CURRENT_LOG" 3>&- ||
		fail "the S3 server did not start"
	# shellcheck disable=SC1091
	S3_ENDPOINT="$(. "$RUN/s3/credentials.env" && echo "$S3_ENDPOINT")"
	STEP_NOTE="$S3_ENDPOINT (credentials in $RUN/s3/credentials.env)"
}

# --- Run ------------------------------------------------------------------------------------
# shellcheck source=versions.env
. "$HERE/versions.env"
step netns step_netns
step images step_images
step containerd step_containerd
step "control plane" step_control_plane
step kubelet step_kubelet
step kube-proxy step_kube_proxy
step CNI step_cni
export_manifest_env
step DNS step_dns
step policies step_policies
step storage step_storage
S3_ENDPOINT=""
if [ "$WITH_S3" = 1 ]; then step s3 step_s3; fi

S3_CREDENTIALS=""
if [ -n "$S3_ENDPOINT" ]; then S3_CREDENTIALS="$RUN/s3/credentials.env"; fi
cat >"$RUN/node.env" <<EOF
# The node of $RUN (scripts/node/up.sh); source it. Run commands in its namespace with
# scripts/node/exec.sh $RUN CMD...
KUBECONFIG=$RUN/kubeconfig
NODE_RUN_DIR=$RUN
NODE_NAME=$NODE_NAME
NODE_NETNS=$NETNS_PATH
NODE_NETNS_NAME=$NETNS_NAME
NODE_IP=$NODE_IP
NODE_API_SERVER=$API_SERVER
REGISTRY=$REGISTRY
NODE_HOST_REGISTRY=$HOST_REGISTRY
NODE_IMAGES_ENV=$RUN/images.env
NODE_STORAGE_CLASS=standard
NODE_BIN_DIR=$NODE_BIN
NODE_CNI_BIN_DIR=$CNI_BIN
CLUSTER_BIN_DIR=$CLUSTER_BIN
NODE_CONTAINERD_ADDRESS=$RUN/containerd/containerd.sock
S3_ENDPOINT=$S3_ENDPOINT
S3_CREDENTIALS=$S3_CREDENTIALS
EOF
READY=1
log "node $NODE_NAME ready in $(seconds_since "$T_START") s: kubectl --kubeconfig $RUN/kubeconfig get nodes"
log "stop it with: $HERE/down.sh $RUN"
printf '%s\n' "$RUN/kubeconfig"
exit 0
}
