#!/usr/bin/env bash
# End-to-end check of the toolchain from build.sh: in a temp dir, with a local
# file:// backend, deploy a tiny Python program (random.RandomPassword and a
# kubernetes ConfigMap rendered to YAML through a Provider with
# render_yaml_to_directory), then preview --expect-no-changes and destroy.
# No cluster and no network are needed.
#
# Usage: scripts/pulumi-toolchain/smoke-test.sh [build.sh args, e.g. --force]
# Env:   PULUMI_SMOKE_VENV  virtualenv with pulumi, pulumi-kubernetes and
#                           pulumi-random installed (default: <repo>/.venv)
#        PULUMI_SMOKE_KEEP=1 keep the temp dir
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
log() { printf '[smoke] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

VENV="${PULUMI_SMOKE_VENV:-$REPO_ROOT/.venv}"
[ -x "$VENV/bin/python" ] || { log "no virtualenv at $VENV (set PULUMI_SMOKE_VENV)"; exit 1; }

T="$(mktemp -d "${TMPDIR:-/tmp}/pulumi-smoke.XXXXXX")"
[ "${PULUMI_SMOKE_KEEP:-0}" = 1 ] || trap 'rm -rf "$T"' EXIT
export PULUMI_HOME="$T/pulumi-home" # keep the caller's ~/.pulumi untouched

t=$(now)
BIN="$("$HERE/build.sh" "$@" | tail -n1)"
log "build.sh: $(since "$t")s -> $BIN"
export PATH="$BIN:$PATH"
export PULUMI_CONFIG_PASSPHRASE=test PULUMI_SKIP_UPDATE_CHECK=1
if [ -x "$BIN/pulumi-resource-kubernetes" ]; then
	# the built toolchain: every plugin is on PATH, never download one
	export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
fi
log "pulumi: $(command -v pulumi) $(pulumi version)"

mkdir -p "$T/state"
pulumi login "file://$T/state" >&2

P="$T/project"
mkdir -p "$P"
cat >"$P/Pulumi.yaml" <<EOF
name: toolchain-smoke
runtime:
  name: python
  options:
    virtualenv: $VENV
EOF
cat >"$P/__main__.py" <<'EOF'
import os

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

password = random.RandomPassword("password", length=24, special=False)

render = k8s.Provider(
    "render",
    render_yaml_to_directory=os.path.join(os.path.dirname(os.path.abspath(__file__)), "rendered"),
)
config_map = k8s.core.v1.ConfigMap(
    "smoke",
    metadata={"name": "smoke", "namespace": "default"},
    data={"greeting": "hello"},
    opts=pulumi.ResourceOptions(provider=render),
)

pulumi.export("password_length", password.length)
pulumi.export("config_map", config_map.metadata["name"])
EOF

cd "$P"
pulumi stack init dev >&2

t=$(now)
pulumi up --yes --non-interactive >&2
UP=$(since "$t")

yaml="$(grep -rl 'greeting: hello' "$P/rendered" 2>/dev/null | head -n1 || true)"
[ -n "$yaml" ] || { log "FAIL: no rendered ConfigMap YAML under $P/rendered"; exit 1; }
log "rendered: ${yaml#"$P/"}"

t=$(now)
pulumi preview --expect-no-changes --non-interactive >&2
PREVIEW=$(since "$t")

t=$(now)
pulumi destroy --yes --non-interactive >&2
DESTROY=$(since "$t")
pulumi stack rm dev --yes >&2

log "PASS: up ${UP}s, preview ${PREVIEW}s, destroy ${DESTROY}s"
