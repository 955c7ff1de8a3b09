#!/usr/bin/env bash
# The Pulumi toolchain for machines that reach the Go module proxy but no release downloads:
# the CLI and the Kubernetes provider built from Go modules, the Python language host and the
# random and docker providers copied from a prebuilt directory (checksums checked), all in one bin
# directory of a cache outside the repository, keyed by versions and reused.
#
# Usage: scripts/pulumi-toolchain/build.sh [--force] [--relock] [--install-plugins] [--print-env]
#
#   stdout  the bin directory to put first on PATH (pulumi and the Python language host), as
#           the last line (--print-env: eval-able `export` lines instead). The providers are in
#           ../plugins beside it; --install-plugins installs them into $PULUMI_HOME (default
#           ~/.pulumi) with `pulumi plugin install --file`, where the engine looks for them.
#   stderr  progress, one line per step with its time, a heartbeat during long builds
#   exit    0 ready; 1 anything missing or failing, named on stderr
#
# With `pulumi` already on PATH (the official CLI) it builds nothing, unless --force.
# Versions: versions.env beside this script. See README.md here.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# One { ... } block: bash reads the whole script before running it, so editing this file
# during a build cannot break that build.
{
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../lib/go-module-build.sh
. "$HERE/../lib/go-module-build.sh"
GMB_TOOL=pulumi-toolchain
export LOG_PREFIX="$GMB_TOOL" # for log(), in ../lib/common.sh
die() { gmb_die "$@"; } # gmb_die stops the build's heartbeat first

FORCE=0 GMB_RELOCK=0 PRINT_ENV=0 INSTALL_PLUGINS=0
for arg in "$@"; do
	case "$arg" in
	--print-env) PRINT_ENV=1 ;;
	--install-plugins) INSTALL_PLUGINS=1 ;;
	*) gmb_common_arg "$arg" "${BASH_SOURCE[0]}" || gmb_die "unknown argument: $arg (try --help)" ;;
	esac
done

emit() { # emit BIN_DIR [official]: the stdout contract
	if [ "$PRINT_ENV" = 1 ]; then
		# shellcheck disable=SC2016 # $PATH is for the shell that evals this
		printf 'export PATH=%q:"$PATH"\n' "$1"
		printf 'export PULUMI_SKIP_UPDATE_CHECK=1\n'
		# Ours has every plugin it needs; the official CLI may fetch its own.
		[ "${2:-}" = official ] || printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
	else
		printf '%s\n' "$1"
	fi
}

if [ "$FORCE" = 0 ] && existing="$(command -v pulumi 2>/dev/null)"; then
	log "pulumi already on PATH ($existing): nothing to build"
	emit "$(dirname "$existing")" official
	exit 0
fi

# shellcheck source=versions.env
. "$HERE/versions.env"
GMB_HERE="$HERE"
GMB_KEY="cli-${PULUMI_CLI_VERSION}_kubernetes-${PULUMI_KUBERNETES_VERSION}_random-${PULUMI_RANDOM_VERSION}_docker-${PULUMI_DOCKER_VERSION}_python-${PULUMI_LANGUAGE_PYTHON_VERSION}"
GMB_CACHE_ROOT="${PULUMI_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/pulumi-toolchain}"
GMB_JOBS="${PULUMI_TOOLCHAIN_JOBS:-2}"
BIN="$GMB_CACHE_ROOT/$GMB_KEY/bin"
PLUGINS="$GMB_CACHE_ROOT/$GMB_KEY/plugins"

# Providers live apart from bin/: the engine warns about any provider it finds on PATH, and
# takes them from its plugin cache without a word.
install_plugins() {
	[ "$INSTALL_PLUGINS" = 1 ] || return 0
	local name version installed
	installed="$("$BIN/pulumi" plugin ls --json 2>/dev/null || echo '[]')"
	for name in kubernetes random docker; do
		case "$name" in
		kubernetes) version="$PULUMI_KUBERNETES_VERSION" ;;
		random) version="$PULUMI_RANDOM_VERSION" ;;
		docker) version="$PULUMI_DOCKER_VERSION" ;;
		esac
		if printf '%s' "$installed" | python3 -c 'import json, sys; sys.exit(not any(p["name"] == sys.argv[1] and p["kind"] == "resource" and p.get("version") == sys.argv[2] for p in json.load(sys.stdin)))' "$name" "$version"; then
			continue
		fi
		PULUMI_SKIP_UPDATE_CHECK=1 "$BIN/pulumi" plugin install resource "$name" "$version" --file "$PLUGINS/pulumi-resource-$name" >&2 ||
			die "pulumi plugin install resource $name $version failed"
		log "installed the $name $version provider into ${PULUMI_HOME:-$HOME/.pulumi}/plugins"
	done
}

if [ "$FORCE" = 0 ] && gmb_cached; then
	log "cached: $GMB_CACHE_ROOT/$GMB_KEY"
	install_plugins
	emit "$BIN"
	exit 0
fi

# --- prebuilt plugins: find and check them before any long build -------------------------
prebuilt_dir() {
	local candidate
	for candidate in "${PULUMI_PREBUILT_DIR:-}" "$REPO_ROOT/../shared/toolchain/bin" /work/shared/toolchain/bin; do
		[ -n "$candidate" ] && [ -d "$candidate" ] && { (cd "$candidate" && pwd); return 0; }
	done
	return 1
}
PREBUILT="$(prebuilt_dir)" || die "no prebuilt plugin directory: set PULUMI_PREBUILT_DIR to the folder holding pulumi-language-python, pulumi-resource-random and pulumi-resource-docker (looked in \$PULUMI_PREBUILT_DIR, $REPO_ROOT/../shared/toolchain/bin, /work/shared/toolchain/bin)"
check_prebuilt() { # check_prebuilt DIR [DIR]: every file of prebuilt.sha256 present in one of them, checksum equal
	local sum file actual
	while read -r sum file; do
		[ -n "$file" ] || continue
		file="$(basename "$file")"
		if [ -f "$1/$file" ]; then file="$1/$file"; elif [ -n "${2:-}" ] && [ -f "$2/$file" ]; then file="$2/$file"; else
			die "prebuilt plugin missing: $file in $1 (expected sha256 $sum)"
		fi
		actual="$(sha256sum "$file" | cut -d' ' -f1)"
		[ "$actual" = "$sum" ] || die "checksum mismatch for $file: sha256 $actual, expected $sum (scripts/pulumi-toolchain/prebuilt.sha256)"
	done <"$HERE/prebuilt.sha256"
}
check_prebuilt "$PREBUILT"
log "prebuilt plugins checked: $PREBUILT"

# --- Go -------------------------------------------------------------------------------------
if ! gmb_start; then
	install_plugins
	emit "$BIN"
	exit 0
fi
NEW="$GMB_NEW"
mkdir -p "$NEW/bin" "$NEW/plugins"

# --- the CLI ------------------------------------------------------------------------------
PKG="github.com/pulumi/pulumi/pkg/v3"
SDK="github.com/pulumi/pulumi/sdk/v3"
gmb_download "$PKG@v$PULUMI_CLI_VERSION" "$SDK@v$PULUMI_CLI_VERSION"
gmb_new_module cli "$(gmb_gomod_of "$PKG@v$PULUMI_CLI_VERSION")"
# The tool directive keeps `go mod tidy` from dropping the CLI's module (no Go file imports it);
# pkg's replace of atotto/clipboard (a fork that builds without cgo) comes with gmb_new_module.
(cd "$GMB_WORK/cli" && "$GO" mod edit -require="$PKG@v$PULUMI_CLI_VERSION" -require="$SDK@v$PULUMI_CLI_VERSION" -tool="$PKG/cmd/pulumi")
gmb_resolve cli
gmb_build cli "$NEW/bin/pulumi" "pulumi $PULUMI_CLI_VERSION (~10 min cold)" \
	"-X $SDK/go/common/version.Version=v$PULUMI_CLI_VERSION" -tags osusergo,grpcnotrace "$PKG/cmd/pulumi"
# The language host runs this script next to its resolved path: copy it, never symlink.
install -m 0755 "$(gmb_dir_of "$SDK@v$PULUMI_CLI_VERSION")/python/cmd/pulumi-language-python-exec" "$NEW/bin/pulumi-language-python-exec"

# --- the Kubernetes provider --------------------------------------------------------------
K8S="github.com/pulumi/pulumi-kubernetes/provider/v4"
gmb_download "$K8S@$PULUMI_KUBERNETES_MODULE_VERSION"
gmb_new_module kubernetes "$(gmb_gomod_of "$K8S@$PULUMI_KUBERNETES_MODULE_VERSION")"
(cd "$GMB_WORK/kubernetes" && "$GO" mod edit -require="$K8S@$PULUMI_KUBERNETES_MODULE_VERSION")
# The upstream main embeds files its `go generate` writes (schema-embed.json with the version
# stamped, terraform-mapping-embed.json), which the module zip lacks: make them as it does.
src="$(gmb_dir_of "$K8S@$PULUMI_KUBERNETES_MODULE_VERSION")/cmd/pulumi-resource-kubernetes"
install -m 0644 "$src/main.go" "$GMB_WORK/kubernetes/main.go"
python3 - "$src" "$GMB_WORK/kubernetes" "$PULUMI_KUBERNETES_VERSION" <<-'PY'
	import json, sys
	src, dst, version = sys.argv[1:]
	schema = json.load(open(f"{src}/schema.json"))
	schema["version"] = version
	json.dump(schema, open(f"{dst}/schema-embed.json", "w"), separators=(",", ":"))
	json.dump(json.load(open(f"{src}/terraform-mapping.json")), open(f"{dst}/terraform-mapping-embed.json", "w"), separators=(",", ":"))
PY
gmb_resolve kubernetes
gmb_build kubernetes "$NEW/plugins/pulumi-resource-kubernetes" "pulumi-resource-kubernetes $PULUMI_KUBERNETES_VERSION (~13 min cold)" \
	"-X $K8S/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" .

# --- the prebuilt plugins -----------------------------------------------------------------
# The language host beside `pulumi`, where the engine looks for bundled language plugins.
install -m 0755 "$PREBUILT/pulumi-language-python" "$NEW/bin/pulumi-language-python"
install -m 0755 "$PREBUILT/pulumi-resource-random" "$NEW/plugins/pulumi-resource-random"
install -m 0755 "$PREBUILT/pulumi-resource-docker" "$NEW/plugins/pulumi-resource-docker"
check_prebuilt "$NEW/bin" "$NEW/plugins"

# --- publish --------------------------------------------------------------------------------
for f in bin/pulumi bin/pulumi-language-python bin/pulumi-language-python-exec plugins/pulumi-resource-kubernetes plugins/pulumi-resource-random plugins/pulumi-resource-docker; do
	[ -x "$NEW/$f" ] || gmb_die "$f was not produced"
done
"$NEW/bin/pulumi" version >/dev/null || gmb_die "the built pulumi does not run"
gmb_publish
install_plugins
emit "$BIN"
exit 0
}
