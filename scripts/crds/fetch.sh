#!/usr/bin/env bash
# Fetch the CRDs the offline schema gate validates custom resources against: the Gateway API's
# standard channel and prometheus-operator's, from their Go modules (the module proxy), into a
# versioned cache outside the repository. Versions: versions.env; module hashes: lock.sum.
#
# Usage: scripts/crds/fetch.sh [--relock] [--force]
#
#   --relock   fetch and write lock.sum from what the proxy served; commit it afterwards.
#   --force    fetch again even when the cache is complete.
#
# Env: CRDS_CACHE  cache root (default ~/.cache/fastapi-service/crds)
#
#   stdout: the CRD directory, as the LAST line: gateway-api/*.yaml, prometheus-operator/*.yaml.
#   stderr: log, with times.
# Cache layout: $CRDS_CACHE/gateway-api-<v>_prometheus-operator-<v>/{gateway-api,prometheus-operator,.complete}.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=crds

FORCE=0 GMB_RELOCK=0
for arg in "$@"; do
	gmb_common_arg "$arg" "${BASH_SOURCE[0]}" || gmb_die "unknown argument: $arg (try --help)"
done

# shellcheck source=versions.env
. "$HERE/versions.env"
: "${GATEWAY_API_VERSION:?missing in versions.env}" "${PROMETHEUS_OPERATOR_VERSION:?missing in versions.env}"
# name module@version directory-in-the-module
SOURCES=(
	"gateway-api sigs.k8s.io/gateway-api@v$GATEWAY_API_VERSION config/crd/standard"
	"prometheus-operator github.com/prometheus-operator/prometheus-operator@v$PROMETHEUS_OPERATOR_VERSION example/prometheus-operator-crd"
)
GMB_HERE="$HERE"
GMB_KEY="gateway-api-${GATEWAY_API_VERSION}_prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
GMB_CACHE_ROOT="${CRDS_CACHE:-$HOME/.cache/fastapi-service/crds}"
GMB_FORCE="$FORCE"
OUT="$GMB_CACHE_ROOT/$GMB_KEY"

if [ "$FORCE" = 0 ] && gmb_cached; then
	printf '%s\n' "$OUT"
	exit 0
fi
if ! gmb_start; then
	printf '%s\n' "$OUT"
	exit 0
fi

# The module zips (go mod download verifies each against the checksum database), then each
# module's hash against lock.sum: a version that moved under its tag is refused.
lock="$HERE/lock.sum" sums=""
for source in "${SOURCES[@]}"; do
	read -r name module dir <<<"$source"
	gmb_download "$module"
	sum="$(gmb_module_field "$module" Sum)"
	sums+="${module%@*} ${module#*@} $sum"$'\n'
	if [ "$GMB_RELOCK" != 1 ]; then
		[ -f "$lock" ] || gmb_die "no $lock: run scripts/crds/fetch.sh --relock once and commit it"
		grep -qxF "${module%@*} ${module#*@} $sum" "$lock" ||
			gmb_die "$module has hash $sum, which lock.sum does not pin (versions changed? fetch with --relock)"
	fi
	source_dir="$(gmb_dir_of "$module")/$dir"
	[ -d "$source_dir" ] || gmb_die "$module has no $dir"
	mkdir -p "$GMB_NEW/$name"
	cp "$source_dir"/*.yaml "$GMB_NEW/$name/"
	chmod -R u+w "$GMB_NEW/$name"
	gmb_log "$name: $(find "$GMB_NEW/$name" -name '*.yaml' | wc -l) CRD files from $module"
done
if [ "$GMB_RELOCK" = 1 ]; then
	printf '# module version hash (h1: of the module zip), written by fetch.sh --relock\n%s' "$sums" >"$lock"
	gmb_log "relocked $lock: commit it"
fi
rm -rf "$GMB_WORK"
gmb_publish
printf '%s\n' "$OUT"
exit 0
}
