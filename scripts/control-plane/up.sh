#!/usr/bin/env bash
# Start a local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok with one fake node) on free
# ports of 127.0.0.1, everything under RUN_DIR.
#
# Usage: scripts/control-plane/up.sh RUN_DIR
#
#   stdout: the admin kubeconfig path (RUN_DIR/kubeconfig), as the LAST line.
#   stderr: log, and the time from start to ready.
#   RUN_DIR/cluster.env: KUBECONFIG, CLUSTER_BIN_DIR, ports, node name (sourceable).
#   RUN_DIR/logs/NAME.log, RUN_DIR/pids/NAME.pid: one per process.
# Stop with scripts/control-plane/down.sh RUN_DIR. On failure, up.sh stops what it
# started and prints the tail of the log concerned.
#
# Env: CLUSTER_BIN_DIR     binaries (default: the output of build.sh, which
#                          builds them on first use)
#      CLUSTER_UP_TIMEOUT  seconds allowed for each wait (default 60)
#      CLUSTER_PV_COUNT    pre-created PersistentVolumes (default 8)
#      CLUSTER_PV_SIZE     size of each (default 100Gi)
#      CLUSTER_NODES       kwok (default): kwok's fake node, the StorageClass and PVs;
#                          external: none of those, real kubelets join (scripts/node/up.sh):
#                          --allow-privileged, and a client certificate for kubelet calls
#      CLUSTER_BIND_ADDRESS       kube-apiserver --bind-address (default 127.0.0.1)
#      CLUSTER_ADVERTISE_ADDRESS  its --advertise-address, the default/kubernetes endpoint
#                          (default 127.0.0.1: then no endpoint, see README.md)
#      CLUSTER_API_HOST    the address in the kubeconfigs' server URL (default 127.0.0.1);
#                          the serving certificate covers it and the advertise address
#      CLUSTER_EXTRA_CLIENTS  "NAME=SUBJECT ...": a client certificate and RUN_DIR/NAME.kubeconfig
#                          each (e.g. kubelet=/O=system:nodes/CN=system:node:node-0)
# See README.md in this directory.
# (Over 300 lines on purpose: one start in order, certificates to ready, each wait beside its process.)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=cluster
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

case "${1:-}" in -h | --help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;; esac
if [ $# -ne 1 ] || [ -z "$1" ]; then
	usage_from_header "${BASH_SOURCE[0]}"
	exit 2
fi
T_START=$EPOCHREALTIME
mkdir -p "$1"
RUN="$(cd "$1" && pwd)"
TIMEOUT="${CLUSTER_UP_TIMEOUT:-60}"
PV_COUNT="${CLUSTER_PV_COUNT:-8}"
PV_SIZE="${CLUSTER_PV_SIZE:-100Gi}"
NODE=kwok-node-0
STORAGE_CLASS=standard
NODES="${CLUSTER_NODES:-kwok}"
case "$NODES" in kwok | external) ;; *) log "ERROR: CLUSTER_NODES=$NODES: kwok or external"; exit 2 ;; esac
BIND_ADDRESS="${CLUSTER_BIND_ADDRESS:-127.0.0.1}"
ADVERTISE_ADDRESS="${CLUSTER_ADVERTISE_ADDRESS:-127.0.0.1}"
API_HOST="${CLUSTER_API_HOST:-127.0.0.1}"

# RUN_DIR is ours only if it is new, empty, or marked by an earlier up.sh: the reset
# below deletes what a previous run left there, and must never touch anything else.
MARKER="$RUN/.fastapi-service-cluster-run"
if [ ! -f "$MARKER" ] && [ -n "$(ls -A "$RUN")" ]; then
	log "ERROR: $RUN holds files up.sh did not write; give it a new or empty RUN_DIR"
	exit 2
fi
touch "$MARKER"

# Refuse to start twice in one RUN_DIR.
if [ -d "$RUN/pids" ]; then
	for f in "$RUN"/pids/*.pid; do
		[ -f "$f" ] || continue
		if kill -0 "$(cat "$f")" 2>/dev/null; then
			die "$RUN already has a running control plane ($(basename "$f" .pid) pid $(cat "$f")); run down.sh $RUN first"
		fi
	done
fi

for tool in openssl curl python3; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
if [ -n "${CLUSTER_BIN_DIR:-}" ]; then
	BIN="$CLUSTER_BIN_DIR"
else
	BIN="$("$HERE/build.sh" | tail -n 1)"
fi
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl $([ "$NODES" = kwok ] && echo kwok); do
	[ -x "$BIN/$b" ] || die "$BIN/$b not found (run build.sh)"
done
STAGES="$(cd "$BIN/.." && pwd)/stages"

rm -rf "${RUN:?}/pids" "${RUN:?}/logs" "${RUN:?}/pki" "${RUN:?}/etcd-data" "${RUN:?}/volumes" "${RUN:?}/home" \
	"$RUN/flexvolume" "$RUN/certs" "$RUN/kubectl-cache" "$RUN/kubeconfig" "$RUN"/*.kubeconfig "$RUN/cluster.env"
mkdir -p "$RUN/pids" "$RUN/logs" "$RUN/pki" "$RUN/etcd-data" "$RUN/volumes" "$RUN/home" \
	"$RUN/flexvolume" "$RUN/certs/kube-controller-manager" "$RUN/certs/kube-scheduler" "$RUN/certs/kube-apiserver"
chmod 0700 "$RUN/pki" "$RUN/etcd-data"
# Every process runs in RUN_DIR with HOME inside it: nothing they write by
# default (kwok's ~/.kwok, kubectl's ~/.kube/cache) lands outside.
cd "$RUN"
export HOME="$RUN/home"

# --- On failure: stop what we started, show the log concerned ---------------
CURRENT="" # the component being waited for
READY=0
# shellcheck disable=SC2317 # called by the EXIT trap
on_exit() {
	local rc=$?
	[ "$READY" = 1 ] && return 0
	log "ERROR: the control plane did not come up${CURRENT:+ (waiting for $CURRENT)}"
	local f name
	for f in "$RUN"/logs/*.log; do
		[ -f "$f" ] || continue
		name="$(basename "$f" .log)"
		if [ "$name" = "$CURRENT" ] || { [ -f "$RUN/pids/$name.pid" ] && ! kill -0 "$(cat "$RUN/pids/$name.pid")" 2>/dev/null; }; then
			tail_log "$f"
		fi
	done
	"$HERE/down.sh" "$RUN" >&2 || true
	exit "$((rc == 0 ? 1 : rc))"
}
trap on_exit EXIT

# --- Ports -------------------------------------------------------------------
read -r P_ETCD P_PEER P_API P_KCM P_SCHED P_KWOK < <(python3 -c '
import socket
socks = []
for _ in range(6):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()')
API="https://$API_HOST:$P_API"

# --- PKI -----------------------------------------------------------------------
PKI="$RUN/pki"
ossl() { openssl "$@" 2>>"$RUN/logs/openssl.log" >/dev/null || die "openssl $1 failed (see $RUN/logs/openssl.log)"; }
ossl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 365 -subj "/CN=fastapi-service-local-ca" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
# cert NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
cert() {
	local name="$1" subj="$2" ext="$3"
	ossl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj"
	printf '%b\n' "$ext" >"$PKI/$name.ext"
	ossl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 365 -out "$PKI/$name.crt" -extfile "$PKI/$name.ext"
	rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
CLIENT_EXT='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'
cert apiserver "/CN=kube-apiserver" \
	"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1$(for ip in "$API_HOST" "$ADVERTISE_ADDRESS"; do [ "$ip" = 127.0.0.1 ] || printf ',IP:%s' "$ip"; done),DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin "/O=system:masters/CN=kubernetes-admin" "$CLIENT_EXT"
cert kube-controller-manager "/CN=system:kube-controller-manager" "$CLIENT_EXT"
cert kube-scheduler "/CN=system:kube-scheduler" "$CLIENT_EXT"
# The API server's identity towards kubelets (logs, exec, port-forward).
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$CLIENT_EXT"
EXTRA_CLIENTS=()
for client in ${CLUSTER_EXTRA_CLIENTS:-}; do
	EXTRA_CLIENTS+=("${client%%=*}")
	cert "${client%%=*}" "${client#*=}" "$CLIENT_EXT"
done
# The service-account token signing key pair.
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key"
ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
chmod 0600 "$PKI"/*.key

# kubeconfig FILE USER: credentials embedded, so the file stands alone.
kubeconfig() {
	local file="$1" user="$2"
	cat >"$file" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: local
		  cluster:
		    server: $API
		    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
		users:
		- name: $user
		  user:
		    client-certificate-data: $(base64 -w0 "$PKI/$user.crt")
		    client-key-data: $(base64 -w0 "$PKI/$user.key")
		contexts:
		- name: local
		  context:
		    cluster: local
		    user: $user
		current-context: local
	EOF
	chmod 0600 "$file"
}
kubeconfig "$RUN/kubeconfig" admin
kubeconfig "$RUN/kube-controller-manager.kubeconfig" kube-controller-manager
kubeconfig "$RUN/kube-scheduler.kubeconfig" kube-scheduler
for client in "${EXTRA_CLIENTS[@]}"; do
	kubeconfig "$RUN/$client.kubeconfig" "$client"
done
kctl() { "$BIN/kubectl" --kubeconfig "$RUN/kubeconfig" --cache-dir "$RUN/kubectl-cache" "$@"; }

# --- Processes -----------------------------------------------------------------
# start NAME ARGS...: run $BIN/NAME in the background, log and pid in RUN_DIR.
start() {
	local name="$1"
	shift
	"$BIN/$name" "$@" </dev/null >"$RUN/logs/$name.log" 2>&1 &
	echo $! >"$RUN/pids/$name.pid"
	log "started $name (pid $!)"
}
alive() { kill -0 "$(cat "$RUN/pids/$1.pid")" 2>/dev/null; }
# ready NAME WHAT CMD...: poll CMD every 0.2 s, at most TIMEOUT seconds, while process NAME
# stays alive.
ready() {
	local name="$1" what="$2" rc=0
	shift 2
	CURRENT="$name"
	WAIT_INTERVAL=0.2 WAIT_ALIVE="alive $name" wait_for "$what" "$TIMEOUT" "$@" || rc=$?
	case "$rc" in
	0) ;;
	2) die "$name exited (see $RUN/logs/$name.log)" ;;
	*) die "$what: not after ${TIMEOUT}s" ;;
	esac
	CURRENT=""
}
# shellcheck disable=SC2317 # called by ready
https_ok() { # https_ok URL [curl args]: the body is "ok"
	local url="$1"
	shift
	[ "$(curl -sS --max-time 2 "$@" "$url")" = ok ]
}

start etcd \
	--name=local --data-dir="$RUN/etcd-data" \
	--listen-client-urls="http://127.0.0.1:$P_ETCD" --advertise-client-urls="http://127.0.0.1:$P_ETCD" \
	--listen-peer-urls="http://127.0.0.1:$P_PEER" --initial-advertise-peer-urls="http://127.0.0.1:$P_PEER" \
	--initial-cluster="local=http://127.0.0.1:$P_PEER" --initial-cluster-state=new \
	--unsafe-no-fsync=true --log-level=warn
ready etcd "etcd /health" sh -c "curl -sS --max-time 2 http://127.0.0.1:$P_ETCD/health | grep -q '\"health\":\"true\"'"

# The lease endpoint reconciler refuses a loopback --advertise-address: with
# "none", the default/kubernetes Service simply has no endpoints.
APISERVER_MODE_ARGS=()
if [ "$ADVERTISE_ADDRESS" = 127.0.0.1 ]; then APISERVER_MODE_ARGS+=(--endpoint-reconciler-type=none); fi
# Real nodes run privileged system pods (kube-network-policies), as kubeadm and kind allow.
if [ "$NODES" = external ]; then APISERVER_MODE_ARGS+=(--allow-privileged=true); fi
start kube-apiserver \
	--etcd-servers="http://127.0.0.1:$P_ETCD" \
	--bind-address="$BIND_ADDRESS" --advertise-address="$ADVERTISE_ADDRESS" --secure-port="$P_API" \
	"${APISERVER_MODE_ARGS[@]}" \
	--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types=InternalIP,Hostname \
	--cert-dir="$RUN/certs/kube-apiserver" \
	--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
	--client-ca-file="$PKI/ca.crt" \
	--authorization-mode=Node,RBAC \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
	--service-cluster-ip-range=10.96.0.0/16 \
	--profiling=false
ready kube-apiserver "kube-apiserver /readyz" https_ok "$API/readyz" \
	--cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key"
log "kube-apiserver ready on $API after $(seconds_since "$T_START")s"

start kube-controller-manager \
	--kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
	--authentication-kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
	--authorization-kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port="$P_KCM" --cert-dir="$RUN/certs/kube-controller-manager" \
	--leader-elect=false \
	--use-service-account-credentials=true \
	--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
	--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
	--service-cluster-ip-range=10.96.0.0/16 \
	--flex-volume-plugin-dir="$RUN/flexvolume" \
	--profiling=false
start kube-scheduler \
	--kubeconfig="$RUN/kube-scheduler.kubeconfig" \
	--authentication-kubeconfig="$RUN/kube-scheduler.kubeconfig" \
	--authorization-kubeconfig="$RUN/kube-scheduler.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port="$P_SCHED" --cert-dir="$RUN/certs/kube-scheduler" \
	--leader-elect=false \
	--profiling=false
if [ "$NODES" = kwok ]; then
	# kwok: kwok's fast pod and node stages, node heartbeats, and ours. It serves
	# (metrics, healthz, the fake kubelet API) only on --server-address.
	start kwok \
		--kubeconfig="$RUN/kubeconfig" \
		--config="$STAGES/pod/fast/pod-ready.yaml" \
		--config="$STAGES/pod/fast/pod-complete.yaml" \
		--config="$STAGES/pod/fast/pod-delete.yaml" \
		--config="$STAGES/node/fast/node-initialize.yaml" \
		--config="$STAGES/node/heartbeat/node-heartbeat.yaml" \
		--config="$HERE/stages/pod-fail.yaml" \
		--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--server-address="127.0.0.1:$P_KWOK" --node-ip=127.0.0.1 --node-port="$P_KWOK" \
		--cidr=10.244.0.0/16
fi

ready kube-controller-manager "kube-controller-manager /healthz" https_ok "https://127.0.0.1:$P_KCM/healthz" -k
ready kube-scheduler "kube-scheduler /healthz" https_ok "https://127.0.0.1:$P_SCHED/healthz" -k
if [ "$NODES" = kwok ]; then ready kwok "kwok /healthz" https_ok "http://127.0.0.1:$P_KWOK/healthz"; fi

# --- Cluster objects: the fake node, default storage (kwok only) -------------------
# shellcheck disable=SC2317 # called below
fake_node() {
CURRENT=kube-apiserver
pvs=""
for i in $(seq 0 $((PV_COUNT - 1))); do
	mkdir -p "$RUN/volumes/pv-$i"
	pvs+="
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv-$i
  labels: {fastapi-service.local/cluster: local}
spec:
  capacity: {storage: $PV_SIZE}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $STORAGE_CLASS
  volumeMode: Filesystem
  local: {path: $RUN/volumes/pv-$i}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [$NODE]}"
done
kctl apply --server-side --field-manager=cluster-up -f - >"$RUN/logs/objects.log" 2>&1 <<EOF || { cat "$RUN/logs/objects.log" >&2; die "creating the node and storage objects failed"; }
apiVersion: v1
kind: Node
metadata:
  name: $NODE
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $NODE
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "250", ephemeral-storage: 1Ti}
  capacity: {cpu: "64", memory: 256Gi, pods: "250", ephemeral-storage: 1Ti}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
$pvs
EOF
# shellcheck disable=SC2317 # called by ready
node_ready() { [ "$(kctl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
ready kwok "node $NODE Ready" node_ready
}
if [ "$NODES" = kwok ]; then
	fake_node
else
	NODE="" STORAGE_CLASS="" P_KWOK=""
fi
ready kube-controller-manager "ServiceAccount default/default" kctl get serviceaccount default -n default

cat >"$RUN/cluster.env" <<EOF
KUBECONFIG=$RUN/kubeconfig
CLUSTER_BIN_DIR=$BIN
CLUSTER_API_SERVER=$API
CLUSTER_NODE=$NODE
CLUSTER_STORAGE_CLASS=$STORAGE_CLASS
CLUSTER_ETCD_PORT=$P_ETCD
CLUSTER_KWOK_PORT=$P_KWOK
CLUSTER_NODES=$NODES
EOF
READY=1
if [ "$NODES" = kwok ]; then
	log "control plane ready in $(seconds_since "$T_START")s: $API, node $NODE, $PV_COUNT PVs of $PV_SIZE (StorageClass $STORAGE_CLASS, default)"
else
	log "control plane ready in $(seconds_since "$T_START")s: $API (advertised as $ADVERTISE_ADDRESS), no nodes yet"
fi
log "stop it with: $HERE/down.sh $RUN"
printf '%s\n' "$RUN/kubeconfig"
exit 0
}
