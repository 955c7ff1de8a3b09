#!/usr/bin/env bash
# Run a command inside the network namespace of the node that up.sh started in RUN_DIR, with
# node.env's variables exported (KUBECONFIG, REGISTRY, NODE_IP, ...) and the control plane's
# binaries (kubectl) first on PATH. Only the network namespace is entered (nsenter --net): the
# mounts are the host's, as kubelet's are.
#
# Usage: scripts/node/exec.sh RUN_DIR CMD [ARG...]
#   e.g. scripts/node/exec.sh build/node/run curl -s http://127.0.0.1:5000/v2/_catalog
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
LOG_PREFIX=node-exec
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
if [ $# -lt 2 ]; then
	usage_from_header "${BASH_SOURCE[0]}"
	exit 2
fi
[ -d "$1" ] || die "$1 is not a run directory (scripts/node/up.sh RUN_DIR makes one)"
RUN="$(cd "$1" && pwd -P)"
shift
[ -f "$RUN/node.env" ] || die "$RUN/node.env not found: is the node up (scripts/node/up.sh $RUN)?"
set -a
# shellcheck disable=SC1091
. "$RUN/node.env"
set +a
[ -e "$NODE_NETNS" ] || die "$NODE_NETNS does not exist: the node is down"
PATH="$CLUSTER_BIN_DIR:$PATH"
exec nsenter --net="$NODE_NETNS" -- "$@"
