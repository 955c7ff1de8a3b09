#!/usr/bin/env bash
# Build the Pulumi toolchain (CLI, Python language host, kubernetes and random
# resource providers) from Go modules, for machines that reach the Go module
# proxy but cannot download release binaries.
#
# Usage: scripts/pulumi-toolchain/build.sh [--force] [--relock] [--install-plugins] [--print-env]
#
#   stdout: the bin directory to put first on PATH, as the LAST line
#           (with --print-env: eval-able `export ...` lines instead).
#   stderr: log.
#
# Does nothing but print the directory of the existing `pulumi` when one is
# already on PATH (users with the official CLI), unless --force.
# See README.md in this directory.
set -euo pipefail
# The whole script is one { ... } block, so bash parses it completely before
# running: editing this file during a build cannot break that build.
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[pulumi-toolchain] %s\n' "$*" >&2; }
die() { printf '[pulumi-toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

FORCE=0 RELOCK=0 INSTALL_PLUGINS=0 PRINT_ENV=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	--relock) RELOCK=1 ;;
	--install-plugins) INSTALL_PLUGINS=1 ;;
	--print-env) PRINT_ENV=1 ;;
	-h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done
[ "${PULUMI_TOOLCHAIN_FORCE:-0}" = 1 ] && FORCE=1
[ "${PULUMI_TOOLCHAIN_INSTALL_PLUGINS:-0}" = 1 ] && INSTALL_PLUGINS=1
if [ "$RELOCK" = 1 ]; then
	FORCE=1
	[ -z "${PULUMI_TOOLCHAIN_VERSIONS_FILE:-}" ] || die "--relock only with the committed versions.env"
fi

emit() { # emit BIN_DIR: the stdout contract
	local bin="$1"
	if [ "$PRINT_ENV" = 1 ]; then
		printf 'export PATH=%q:"$PATH"\n' "$bin"
		printf 'export PULUMI_SKIP_UPDATE_CHECK=1\n'
		printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
	else
		printf '%s\n' "$bin"
	fi
}

# --- 0. Official CLI already there? -----------------------------------------
if [ "$FORCE" = 0 ] && existing="$(command -v pulumi 2>/dev/null)"; then
	log "pulumi already on PATH ($existing); nothing to build"
	emit "$(dirname "$existing")"
	exit 0
fi

# --- 1. Versions ------------------------------------------------------------
VERSIONS_FILE="${PULUMI_TOOLCHAIN_VERSIONS_FILE:-$HERE/versions.env}"
[ -f "$VERSIONS_FILE" ] || die "versions file not found: $VERSIONS_FILE"
# shellcheck disable=SC1090
. "$VERSIONS_FILE"
: "${PULUMI_VERSION:?missing in $VERSIONS_FILE}"
: "${PULUMI_KUBERNETES_VERSION:?missing in $VERSIONS_FILE}"
: "${PULUMI_RANDOM_VERSION:?missing in $VERSIONS_FILE}"
PULUMI_LANGUAGE_PYTHON_MODULE_VERSION="${PULUMI_LANGUAGE_PYTHON_MODULE_VERSION:-}"

# Warn (only) when requirements.txt pins other versions.
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
if [ -f "$REPO_ROOT/requirements.txt" ]; then
	check_pin() { # check_pin PYPI_NAME WANT
		local got
		got="$(sed -n -E "s/^[[:space:]]*$1[[:space:]]*==[[:space:]]*([^[:space:];#]+).*/\1/Ip" "$REPO_ROOT/requirements.txt" | head -n1)"
		if [ -n "$got" ] && [ "$got" != "$2" ]; then
			log "WARNING: requirements.txt pins $1==$got but $(basename "$VERSIONS_FILE") has $2: keep them in sync"
		fi
	}
	check_pin pulumi "$PULUMI_VERSION"
	check_pin pulumi-kubernetes "$PULUMI_KUBERNETES_VERSION"
	check_pin pulumi-random "$PULUMI_RANDOM_VERSION"
fi

KEY="pulumi-${PULUMI_VERSION}_kubernetes-${PULUMI_KUBERNETES_VERSION}_random-${PULUMI_RANDOM_VERSION}"
CACHE_ROOT="${PULUMI_TOOLCHAIN_CACHE:-$HOME/.cache/fastapi-service/pulumi-toolchain}"
PREFIX="$CACHE_ROOT/$KEY"
BIN="$PREFIX/bin"
STAMP="$PREFIX/.complete"
COMPONENTS="${PULUMI_TOOLCHAIN_COMPONENTS:-cli python kubernetes random}"
ALL_COMPONENTS="cli python kubernetes random"

install_plugins() {
	[ "$INSTALL_PLUGINS" = 1 ] || return 0
	log "installing provider plugins into ${PULUMI_HOME:-$HOME/.pulumi}/plugins"
	PATH="$BIN:$PATH" PULUMI_SKIP_UPDATE_CHECK=1 \
		"$BIN/pulumi" plugin install resource kubernetes "$PULUMI_KUBERNETES_VERSION" \
		--file "$BIN/pulumi-resource-kubernetes" >&2
	PATH="$BIN:$PATH" PULUMI_SKIP_UPDATE_CHECK=1 \
		"$BIN/pulumi" plugin install resource random "$PULUMI_RANDOM_VERSION" \
		--file "$BIN/pulumi-resource-random" >&2
}

# --- 2. Fast path: already built --------------------------------------------
if [ -f "$STAMP" ] && [ "$COMPONENTS" = "$ALL_COMPONENTS" ] && [ "$RELOCK" = 0 ]; then
	log "using cached toolchain $BIN"
	install_plugins
	emit "$BIN"
	exit 0
fi

# --- 3. Build ---------------------------------------------------------------
GO="$(command -v go 2>/dev/null || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || die "go not found (need Go >= 1.24)"
command -v python3 >/dev/null || die "python3 not found"
export GOFLAGS="-mod=mod -p=${PULUMI_TOOLCHAIN_JOBS:-2}"
export CGO_ENABLED=0
export GOWORK=off
unset GOOS GOARCH

mkdir -p "$CACHE_ROOT"
exec 9>"$PREFIX.lock"
if ! flock -n 9; then
	log "another build of $KEY is running; waiting for it"
	flock 9
fi
if [ -f "$STAMP" ] && [ "$COMPONENTS" = "$ALL_COMPONENTS" ] && [ "$RELOCK" = 0 ]; then
	log "using cached toolchain $BIN (built by a concurrent run)"
	install_plugins
	emit "$BIN"
	exit 0
fi

WORK="$PREFIX/work"
rm -rf "$PREFIX/bin.new"
mkdir -p "$WORK" "$PREFIX/bin.new"
log "building $KEY into $PREFIX (go: $("$GO" env GOVERSION), GOFLAGS=$GOFLAGS)"
T0=$SECONDS

# download MODULE@VERSION -> prints the module's directory, or dies with the
# proxy's error.
download() {
	local out
	if ! out="$("$GO" mod download -json "$1" 2>&1)"; then :; fi
	python3 - "$1" "$out" <<-'PY'
		import json, sys
		mod, raw = sys.argv[1], sys.argv[2]
		try:
		    j = json.loads(raw)
		except ValueError:
		    sys.stderr.write("[pulumi-toolchain] cannot download %s:\n%s\n" % (mod, raw)); sys.exit(1)
		if j.get("Error") or not j.get("Dir"):
		    sys.stderr.write("[pulumi-toolchain] cannot download %s: %s\n" % (mod, j.get("Error", raw))); sys.exit(1)
		print(j["Dir"])
	PY
}
gomod_of() { "$GO" list -m -f '{{.GoMod}}' "$1"; }

# replaces_of GO_MOD_FILE -> "old[@v]=new[@v]" for every non-local replace
replaces_of() {
	"$GO" mod edit -json "$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    new = r["New"]
    if not new.get("Version"):  # local directory: cannot be copied
        continue
    old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
    print(old + "=" + new["Path"] + "@" + new["Version"])'
}
go_directive_of() { "$GO" mod edit -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Go") or "1.24")'; }

# new_module DIR NAME UPSTREAM_GO_MOD: start a wrapper module in DIR with the
# upstream's go directive and non-local replace directives.
new_module() {
	local dir="$1" name="$2" upstream="$3" rep
	rm -rf "$dir"
	mkdir -p "$dir"
	printf 'module fastapi-service.local/pulumi-toolchain/%s\n\ngo %s\n' "$name" "$(go_directive_of "$upstream")" >"$dir/go.mod"
	while IFS= read -r rep; do
		[ -n "$rep" ] && (cd "$dir" && "$GO" mod edit -replace="$rep")
	done < <(replaces_of "$upstream")
	if [ -f "$HERE/lock/$name.go.sum" ]; then
		cp "$HERE/lock/$name.go.sum" "$dir/go.sum"
	fi
}

# tidy DIR NAME: resolve the module graph (verifying go.sum).
tidy() { (cd "$1" && "$GO" mod tidy >&2); }

# relock DIR NAME: with --relock, save go.sum (and go.mod, for reference) in
# lock/ next to this script, to be committed.
relock() {
	if [ "$RELOCK" = 1 ]; then
		cp "$1/go.sum" "$HERE/lock/$2.go.sum"
		cp "$1/go.mod" "$HERE/lock/$2.go.mod"
		log "relocked $HERE/lock/$2.go.sum"
	fi
}

stamp_schema() { # stamp_schema SRC DST VERSION: copy schema.json with "version" set
	python3 - "$1" "$2" "$3" <<-'PY'
		import json, sys
		src, dst, ver = sys.argv[1:]
		with open(src) as f:
		    spec = json.load(f)
		spec["version"] = ver
		with open(dst, "w") as f:
		    json.dump(spec, f, separators=(",", ":"))
	PY
}

go_build() { # go_build DIR OUT PKG [go build flags...]
	local dir="$1" out="$2" pkg="$3"
	shift 3
	local t=$SECONDS
	log "go build $pkg -> $(basename "$out")"
	(cd "$dir" && "$GO" build -trimpath "$@" -o "$out" "$pkg") || die "go build failed for $pkg (work dir $dir)"
	log "built $(basename "$out") in $((SECONDS - t))s"
}

# use_upstream_main DIR SRC VERSION: replace our main.go in DIR with the
# upstream cmd/pulumi-resource-* sources from SRC, providing each file they
# //go:embed (the generated NAME-embed.json is made from the committed NAME.json).
use_upstream_main() {
	local dir="$1" src="$2" ver="$3" f name base
	rm -f "$dir"/*.go "$dir"/*.json
	for f in "$src"/*.go; do
		case "$f" in *_test.go) continue ;; esac
		grep -q '^//go:build ignore' "$f" && continue
		install -m 0644 "$f" "$dir/"
	done
	for name in $(sed -n -E 's,^//go:embed[[:space:]]+,,p' "$dir"/*.go | tr ' ' '\n' | sort -u); do
		base="${name%-embed.json}"
		[ "$base" = "$name" ] || base="$base.json"
		[ -f "$src/$base" ] || die "upstream main embeds $name but $src/$base does not exist"
		case "$base" in
		schema.json) stamp_schema "$src/$base" "$dir/$name" "$ver" ;;
		*) install -m 0644 "$src/$base" "$dir/$name" ;;
		esac
	done
}

# build_provider NAME DIR SRC VERSION LDFLAGS: build DIR (our main.go); if
# that does not compile against this provider version, retry with the
# upstream main.
build_provider() {
	local name="$1" dir="$2" src="$3" ver="$4" ldflags="$5" out="$PREFIX/bin.new/pulumi-resource-$1" t=$SECONDS
	log "go build pulumi-resource-$name (own main.go)"
	if (cd "$dir" && "$GO" mod tidy && "$GO" build -trimpath -ldflags "$ldflags" -o "$out" .) >"$dir/build-own-main.log" 2>&1; then
		log "built pulumi-resource-$name in $((SECONDS - t))s"
	else
		log "our main.go does not build against $name $ver (full log: $dir/build-own-main.log):"
		grep -v '^go: downloading' "$dir/build-own-main.log" | tail -n 20 | sed 's/^/    /' >&2
		log "retrying with the upstream main of $src"
		use_upstream_main "$dir" "$src" "$ver"
		tidy "$dir" || die "go mod tidy failed for $name (upstream main; work dir $dir)"
		go_build "$dir" "$out" . -ldflags "$ldflags"
	fi
	relock "$dir" "$name"
}

has() { case " $COMPONENTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- 3a. Preflight: fetch every root module first, fail fast ---------------
PKG_MOD="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION"
SDK_MOD="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
PY_PATH="github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
K8S_MOD="github.com/pulumi/pulumi-kubernetes/provider/v4@v$PULUMI_KUBERNETES_VERSION"
RANDOM_MOD="github.com/pulumi/pulumi-random/provider/v4@v$PULUMI_RANDOM_VERSION"

cd "$WORK" # keep `go` away from any go.mod of the caller's cwd
failed=0
fetch() { # fetch VAR MODULE@VERSION
	local d
	if d="$(download "$2")"; then
		printf -v "$1" '%s' "$d"
	else
		failed=1
	fi
}
PKG_DIR= SDK_DIR= PY_DIR= K8S_DIR= RANDOM_DIR=
if has cli || has python; then
	fetch PKG_DIR "$PKG_MOD"
	fetch SDK_DIR "$SDK_MOD"
fi
if has python; then
	if [ -z "$PULUMI_LANGUAGE_PYTHON_MODULE_VERSION" ]; then
		# pulumi-language-python has no tags: use the pseudo-version of the
		# commit that the release tag points at.
		commit="$("$GO" list -m -f '{{with .Origin}}{{.Hash}}{{end}}' "$PKG_MOD" 2>/dev/null || true)"
		[ -n "$commit" ] || commit="$("$GO" list -m -f '{{with .Origin}}{{.Hash}}{{end}}' "$SDK_MOD" 2>/dev/null || true)"
		if [ -n "$commit" ]; then
			if PULUMI_LANGUAGE_PYTHON_MODULE_VERSION="$("$GO" list -m -f '{{.Version}}' "$PY_PATH@$commit" 2>&1)"; then
				log "pulumi-language-python: v$PULUMI_VERSION is commit $commit = $PULUMI_LANGUAGE_PYTHON_MODULE_VERSION (pin it in versions.env)"
			else
				log "cannot resolve $PY_PATH@$commit: $PULUMI_LANGUAGE_PYTHON_MODULE_VERSION"
				PULUMI_LANGUAGE_PYTHON_MODULE_VERSION=
				failed=1
			fi
		else
			log "cannot find the commit of v$PULUMI_VERSION (no origin info for $PKG_MOD or $SDK_MOD): set PULUMI_LANGUAGE_PYTHON_MODULE_VERSION in versions.env"
			failed=1
		fi
	fi
	[ -n "$PULUMI_LANGUAGE_PYTHON_MODULE_VERSION" ] && fetch PY_DIR "$PY_PATH@$PULUMI_LANGUAGE_PYTHON_MODULE_VERSION"
fi
has kubernetes && fetch K8S_DIR "$K8S_MOD"
has random && fetch RANDOM_DIR "$RANDOM_MOD"
if [ "$failed" = 1 ]; then
	die "required Go modules are not available from the module proxy ($("$GO" env GOPROXY)); nothing was built. See the errors above."
fi

# --- 3b. pulumi CLI -----------------------------------------------------------
if has cli; then
	d="$WORK/cli"
	new_module "$d" cli "$(gomod_of "$PKG_MOD")"
	(cd "$d" && "$GO" mod edit -require="$PKG_MOD" -require="$SDK_MOD" \
		-tool=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
	tidy "$d" || die "go mod tidy failed for the CLI (work dir $d)"
	relock "$d" cli
	go_build "$d" "$PREFIX/bin.new/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
		-tags osusergo,grpcnotrace \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
fi

# --- 3c. Python language host -------------------------------------------------
if has python; then
	d="$WORK/python"
	new_module "$d" python "$(gomod_of "$PY_PATH@$PULUMI_LANGUAGE_PYTHON_MODULE_VERSION")"
	(cd "$d" && "$GO" mod edit -require="$PY_PATH@$PULUMI_LANGUAGE_PYTHON_MODULE_VERSION" \
		-require="$PKG_MOD" -require="$SDK_MOD" -tool="$PY_PATH")
	tidy "$d" || die "go mod tidy failed for the Python host (work dir $d)"
	relock "$d" python
	go_build "$d" "$PREFIX/bin.new/pulumi-language-python" "$PY_PATH" \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
	exec_src="$SDK_DIR/python/cmd/pulumi-language-python-exec"
	[ -f "$exec_src" ] || die "pulumi-language-python-exec not found at $exec_src"
	install -m 0755 "$exec_src" "$PREFIX/bin.new/pulumi-language-python-exec"
fi

# --- 3d. kubernetes provider --------------------------------------------------
if has kubernetes; then
	d="$WORK/kubernetes"
	new_module "$d" kubernetes "$(gomod_of "$K8S_MOD")"
	(cd "$d" && "$GO" mod edit -require="$K8S_MOD")
	cp "$HERE/kubernetes/main.go" "$d/main.go"
	src="$K8S_DIR/cmd/pulumi-resource-kubernetes"
	for f in terraform-mapping.json helm-mapping.json; do
		if [ -f "$src/$f" ]; then install -m 0644 "$src/$f" "$d/$f"; else log "note: $src/$f does not exist"; fi
	done
	stamp_schema "$src/schema.json" "$d/schema.json" "$PULUMI_KUBERNETES_VERSION"
	build_provider kubernetes "$d" "$src" "$PULUMI_KUBERNETES_VERSION" \
		"-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION"
fi

# --- 3e. random provider ------------------------------------------------------
if has random; then
	d="$WORK/random"
	upstream="$(gomod_of "$RANDOM_MOD")"
	new_module "$d" random "$upstream"
	cp -R "$HERE/random/shim" "$d/shim"
	cp "$HERE/random/main.go" "$d/main.go"
	stamp_schema "$RANDOM_DIR/cmd/pulumi-resource-random/schema.json" "$d/schema.json" "$PULUMI_RANDOM_VERSION"
	# The upstream replaces its nested shim module with ./shim, which no module
	# zip carries: point it at our recreated one.
	(cd "$d" && "$GO" mod edit -require="$RANDOM_MOD" \
		-replace=github.com/terraform-providers/terraform-provider-random/shim=./shim)
	build_provider random "$d" "$RANDOM_DIR/cmd/pulumi-resource-random" "$PULUMI_RANDOM_VERSION" \
		"-s -w -X github.com/pulumi/pulumi-random/provider/v4/pkg/version.Version=$PULUMI_RANDOM_VERSION"
fi

# --- 4. Publish -------------------------------------------------------------
mkdir -p "$BIN"
for f in "$PREFIX/bin.new"/*; do
	[ -e "$f" ] && mv -f "$f" "$BIN/"
done
rmdir "$PREFIX/bin.new" 2>/dev/null || true
missing=""
for f in pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-kubernetes pulumi-resource-random; do
	[ -x "$BIN/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
	date -u +%FT%TZ >"$STAMP"
	log "toolchain complete in $((SECONDS - T0))s: $BIN"
	install_plugins
else
	log "partial toolchain (missing:$missing) in $((SECONDS - T0))s: $BIN"
fi
emit "$BIN"
exit 0
}
