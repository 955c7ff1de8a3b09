#!/usr/bin/env bash
# The Pulumi toolchain for machines that reach the Go module proxy but no release downloads:
# the CLI and the Kubernetes provider built from Go modules, the Python language host and the
# random provider copied from a prebuilt directory (checksums checked), all in one bin
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
set -euo pipefail
# One { ... } block: bash reads the whole script before running it, so editing this file
# during a build cannot break that build.
{
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

log() { printf '[pulumi-toolchain] %s %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

FORCE=0 RELOCK=0 PRINT_ENV=0 INSTALL_PLUGINS=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	--relock) RELOCK=1 FORCE=1 ;;
	--print-env) PRINT_ENV=1 ;;
	--install-plugins) INSTALL_PLUGINS=1 ;;
	-h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	*) die "unknown argument: $arg (try --help)" ;;
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
KEY="cli-${PULUMI_CLI_VERSION}_kubernetes-${PULUMI_KUBERNETES_VERSION}_random-${PULUMI_RANDOM_VERSION}_python-${PULUMI_LANGUAGE_PYTHON_VERSION}"
CACHE_ROOT="${PULUMI_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/pulumi-toolchain}"
PREFIX="$CACHE_ROOT/$KEY"
BIN="$PREFIX/bin"
PLUGINS="$PREFIX/plugins"
STAMP="$PREFIX/.complete"

# Providers live apart from bin/: the engine warns about any provider it finds on PATH, and
# takes them from its plugin cache without a word.
install_plugins() {
	[ "$INSTALL_PLUGINS" = 1 ] || return 0
	local name version installed
	installed="$("$BIN/pulumi" plugin ls --json 2>/dev/null || echo '[]')"
	for name in kubernetes random; do
		if [ "$name" = kubernetes ]; then version="$PULUMI_KUBERNETES_VERSION"; else version="$PULUMI_RANDOM_VERSION"; fi
		if printf '%s' "$installed" | python3 -c 'import json, sys; sys.exit(not any(p["name"] == sys.argv[1] and p["kind"] == "resource" and p.get("version") == sys.argv[2] for p in json.load(sys.stdin)))' "$name" "$version"; then
			continue
		fi
		PULUMI_SKIP_UPDATE_CHECK=1 "$BIN/pulumi" plugin install resource "$name" "$version" --file "$PLUGINS/pulumi-resource-$name" >&2 ||
			die "pulumi plugin install resource $name $version failed"
		log "installed the $name $version provider into ${PULUMI_HOME:-$HOME/.pulumi}/plugins"
	done
}

if [ -f "$STAMP" ] && [ "$RELOCK" = 0 ]; then
	log "cached: $PREFIX"
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
PREBUILT="$(prebuilt_dir)" || die "no prebuilt plugin directory: set PULUMI_PREBUILT_DIR to the folder holding pulumi-language-python and pulumi-resource-random (looked in \$PULUMI_PREBUILT_DIR, $REPO_ROOT/../shared/toolchain/bin, /work/shared/toolchain/bin)"
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
GO="$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)"
[ -x "$GO" ] || die "go not found (the CLI and the Kubernetes provider build from Go modules)"
command -v python3 >/dev/null || die "python3 not found"
export GOFLAGS="-mod=mod -buildvcs=false -p=${PULUMI_TOOLCHAIN_JOBS:-2}" CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local
unset GOOS GOARCH

mkdir -p "$CACHE_ROOT"
exec 9>"$PREFIX.lock"
if ! flock -n 9; then
	log "another build of $KEY is running: waiting for it"
	flock 9
fi
if [ -f "$STAMP" ] && [ "$RELOCK" = 0 ]; then
	log "cached (built by a concurrent run): $PREFIX"
	install_plugins
	emit "$BIN"
	exit 0
fi
WORK="$PREFIX/work"
NEW="$PREFIX/new"
rm -rf "$NEW"
mkdir -p "$WORK" "$NEW/bin" "$NEW/plugins"
T0=$SECONDS
log "building $KEY in $PREFIX ($("$GO" env GOVERSION), 2 cores: ~10 min for the CLI, ~13 for the provider when cold)"
cd "$WORK" # keep go away from any go.mod in the caller's directory

module_dir() { # module_dir MODULE@VERSION -> its directory in the module cache (downloads it)
	local json
	json="$("$GO" mod download -json "$1" 2>&1)" || true
	python3 -c '
import json, sys
try:
    info = json.loads(sys.argv[2])
except ValueError:
    info = {"Error": sys.argv[2]}
if info.get("Error") or not info.get("Dir"):
    sys.exit("[pulumi-toolchain] ERROR: the Go module proxy does not give %s: %s" % (sys.argv[1], info.get("Error")))
print(info["Dir"])' "$1" "$json"
}

wrapper_module() { # wrapper_module NAME GO_DIRECTIVE: a fresh module in $WORK/NAME, go.sum from lock/
	local dir="$WORK/$1"
	rm -rf "$dir"
	mkdir -p "$dir"
	printf 'module fastapi-service.local/pulumi-toolchain/%s\n\ngo %s\n' "$1" "$2" >"$dir/go.mod"
	if [ "$RELOCK" = 0 ] && [ -f "$HERE/lock/$1.go.sum" ]; then
		cp "$HERE/lock/$1.go.sum" "$dir/go.sum" # go verifies every module it uses against it
	fi
	printf '%s\n' "$dir"
}

timed() { # timed WHAT CMD...: run with a heartbeat every 60 s, log the time taken
	local what="$1" t=$SECONDS pid status=0
	shift
	log "$what ..."
	"$@" &
	pid=$!
	while ! wait_for "$pid" 60; do
		log "  $what: still running ($((SECONDS - t)) s)"
	done
	wait "$pid" || status=$?
	[ "$status" = 0 ] || die "$what failed (exit $status; work dir $WORK)"
	log "$what: done in $((SECONDS - t)) s"
}
wait_for() { # wait_for PID SECONDS: 0 once PID has exited, 1 if still running after SECONDS
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 1
	done
	! kill -0 "$1" 2>/dev/null
}

relock() { # relock NAME: keep the module's go.sum to commit
	[ "$RELOCK" = 1 ] || return 0
	cp "$WORK/$1/go.sum" "$HERE/lock/$1.go.sum"
	log "wrote scripts/pulumi-toolchain/lock/$1.go.sum: commit it"
}

# --- the CLI ------------------------------------------------------------------------------
PKG="github.com/pulumi/pulumi/pkg/v3"
SDK="github.com/pulumi/pulumi/sdk/v3"
PKG_DIR="$(module_dir "$PKG@v$PULUMI_CLI_VERSION")" || exit 1
SDK_DIR="$(module_dir "$SDK@v$PULUMI_CLI_VERSION")" || exit 1
d="$(wrapper_module cli "$(sed -n 's/^go //p' "$PKG_DIR/go.mod")")"
# pkg's go.mod replaces atotto/clipboard (a fork that builds without cgo): keep that replace.
# The tool directive keeps `go mod tidy` from dropping the CLI's module (no Go file imports it).
(cd "$d" && "$GO" mod edit -require="$PKG@v$PULUMI_CLI_VERSION" -require="$SDK@v$PULUMI_CLI_VERSION" -tool="$PKG/cmd/pulumi" \
	-replace=github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e)
timed "go mod tidy (CLI)" sh -c "cd '$d' && '$GO' mod tidy 2>'$d/tidy.log' || { cat '$d/tidy.log' >&2; exit 1; }"
timed "go build pulumi $PULUMI_CLI_VERSION" sh -c "cd '$d' && '$GO' build -trimpath -tags osusergo,grpcnotrace \
	-ldflags '-s -w -X $SDK/go/common/version.Version=v$PULUMI_CLI_VERSION' -o '$NEW/bin/pulumi' $PKG/cmd/pulumi"
relock cli

# The language host runs this script next to its resolved path: copy it, never symlink.
install -m 0755 "$SDK_DIR/python/cmd/pulumi-language-python-exec" "$NEW/bin/pulumi-language-python-exec"

# --- the Kubernetes provider --------------------------------------------------------------
K8S="github.com/pulumi/pulumi-kubernetes/provider/v4"
K8S_DIR="$(module_dir "$K8S@$PULUMI_KUBERNETES_MODULE_VERSION")" || exit 1
d="$(wrapper_module kubernetes "$(sed -n 's/^go //p' "$K8S_DIR/go.mod")")"
(cd "$d" && "$GO" mod edit -require="$K8S@$PULUMI_KUBERNETES_MODULE_VERSION")
# The upstream main embeds files its `go generate` writes (schema-embed.json with the version
# stamped, terraform-mapping-embed.json), which the module zip lacks: make them as it does.
src="$K8S_DIR/cmd/pulumi-resource-kubernetes"
install -m 0644 "$src/main.go" "$d/main.go"
python3 - "$src" "$d" "$PULUMI_KUBERNETES_VERSION" <<-'PY'
	import json, sys
	src, dst, version = sys.argv[1:]
	schema = json.load(open(f"{src}/schema.json"))
	schema["version"] = version
	json.dump(schema, open(f"{dst}/schema-embed.json", "w"), separators=(",", ":"))
	json.dump(json.load(open(f"{src}/terraform-mapping.json")), open(f"{dst}/terraform-mapping-embed.json", "w"), separators=(",", ":"))
PY
timed "go mod tidy (Kubernetes provider)" sh -c "cd '$d' && '$GO' mod tidy 2>'$d/tidy.log' || { cat '$d/tidy.log' >&2; exit 1; }"
timed "go build pulumi-resource-kubernetes $PULUMI_KUBERNETES_VERSION" sh -c "cd '$d' && '$GO' build -trimpath \
	-ldflags '-s -w -X $K8S/pkg/version.Version=$PULUMI_KUBERNETES_VERSION' -o '$NEW/plugins/pulumi-resource-kubernetes' ."
relock kubernetes

# --- the prebuilt plugins -----------------------------------------------------------------
# The language host beside `pulumi`, where the engine looks for bundled language plugins.
install -m 0755 "$PREBUILT/pulumi-language-python" "$NEW/bin/pulumi-language-python"
install -m 0755 "$PREBUILT/pulumi-resource-random" "$NEW/plugins/pulumi-resource-random"
check_prebuilt "$NEW/bin" "$NEW/plugins"

# --- publish --------------------------------------------------------------------------------
for f in bin/pulumi bin/pulumi-language-python bin/pulumi-language-python-exec plugins/pulumi-resource-kubernetes plugins/pulumi-resource-random; do
	[ -x "$NEW/$f" ] || die "$f was not produced"
done
rm -rf "$BIN" "$PLUGINS"
mv "$NEW/bin" "$BIN"
mv "$NEW/plugins" "$PLUGINS"
rmdir "$NEW"
"$BIN/pulumi" version >/dev/null || die "the built pulumi does not run"
date -u +%FT%TZ >"$STAMP"
log "toolchain ready in $((SECONDS - T0)) s: $PREFIX"
install_plugins
emit "$BIN"
exit 0
}
