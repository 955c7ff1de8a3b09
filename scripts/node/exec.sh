#!/usr/bin/env bash
# Run a command inside the network namespace of the node that up.sh started in RUN_DIR, with
# node.env's variables exported (KUBECONFIG, REGISTRY, NODE_IP, ...) and the control plane's
# binaries (kubectl) first on PATH. Only the network namespace is entered (nsenter --net): the
# mounts are the host's, as kubelet's are.
#
# Usage: scripts/node/exec.sh RUN_DIR CMD [ARG...]
#   e.g. scripts/node/exec.sh build/node/run curl -s http://127.0.0.1:5000/v2/_catalog
set -euo pipefail
if [ $# -lt 2 ]; then
	sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
RUN="$(cd "$1" && pwd -P)"
shift
if [ ! -f "$RUN/node.env" ]; then
	echo "exec.sh: $RUN/node.env not found: is the node up (scripts/node/up.sh $RUN)?" >&2
	exit 1
fi
set -a
# shellcheck disable=SC1091
. "$RUN/node.env"
set +a
[ -e "$NODE_NETNS" ] || { echo "exec.sh: $NODE_NETNS does not exist: the node is down" >&2; exit 1; }
PATH="$CLUSTER_BIN_DIR:$PATH"
exec nsenter --net="$NODE_NETNS" -- "$@"
