# The names and addresses of the node in RUN (an absolute path), shared by up.sh, down.sh and
# exec.sh: the same RUN_DIR always gives the same network namespace, cgroup and veth pair, and two
# RUN_DIRs never share one. Sourced, not run.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# shellcheck source-path=SCRIPTDIR

node_names() {
	local hash
	hash="$(printf '%s' "$RUN" | sha256sum | cut -c1-8)"
	NODE_HASH="$hash"
	NETNS_NAME="fastapi-node-$hash"
	NETNS_PATH="/run/netns/$NETNS_NAME"
	# Every process of the runtime and every pod lives under this cgroup (in each v1 hierarchy).
	CGROUP="/fastapi-node-$hash"
	NODE_NAME="${NODE_NAME:-fastapi-node}"
	# The node's address, on a dummy interface inside the namespace: the same for every node,
	# since each has its own namespace.
	NODE_IP=10.250.0.2
	POD_SUBNET=10.244.0.0/24
	CLUSTER_CIDR=10.244.0.0/16
	SERVICE_DNS_IP=10.96.0.10
	REGISTRY=127.0.0.1:5000
	# The veth pair that lets the host reach the API server: a /30 of 10.223.0.0/16 picked by
	# the hash (host side .1, namespace side .2), so that several nodes can be up at once.
	local a=$((16#${hash:0:2})) b=$((16#${hash:2:2} & 252))
	VETH_HOST="fn-$hash"
	VETH_NODE="fn-host"
	VETH_HOST_IP="10.223.$a.$((b + 1))"
	VETH_NODE_IP="10.223.$a.$((b + 2))"
	# The node's registry as the host reaches it (a Docker daemon outside the namespace pushes here).
	HOST_REGISTRY="$VETH_NODE_IP:5000"
}

# record KIND ARG...: append what was just started or changed to RUN/state/started, which
# down.sh undoes in reverse order.
record() { printf '%s\n' "$*" >>"$RUN/state/started"; }
