# Building tools from the Go module proxy into a versioned cache: what the Pulumi toolchain,
# the control plane and the S3 server builds share. Sourced, not run.
# shellcheck shell=bash
#
# The caller sets, before calling `gmb_start`:
#   GMB_TOOL        the log prefix (e.g. cluster-toolchain)
#   GMB_HERE        its script directory (lock/<module>.go.sum lives there)
#   GMB_CACHE_ROOT  the cache root; GMB_KEY the version key (the cache directory's name)
#   GMB_RELOCK      1: write lock/ from what resolves; 0: verify against it
#   GMB_FORCE       1: build even when the cache is complete (optional; --relock implies it)
#   GMB_JOBS        go build -p
# and gets: GO, GMB_PREFIX (the published directory), GMB_NEW (where the build goes, renamed
# to GMB_PREFIX by `gmb_publish`), GMB_WORK (the wrapper modules), GMB_T0 (start, $SECONDS).
# A build happens in GMB_NEW and is renamed into place only when complete, under a flock,
# so the cache holds a whole toolchain or none; `.complete` marks it.
# shellcheck source-path=SCRIPTDIR

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
gmb_log() { LOG_PREFIX="$GMB_TOOL" log "$@"; }
# Not through die(): a build script may define die() as gmb_die (the heartbeat stops first).
gmb_die() {
	gmb_heartbeat_stop
	gmb_log "ERROR: $*"
	exit 1
}

# gmb_cached: 0 when GMB_PREFIX holds a complete build.
# gmb_common_arg ARG SCRIPT: the flags every build script takes (--force, --relock, --help, whose
# text is SCRIPT's header comment); returns 1 for any other argument, for the caller to handle.
# shellcheck disable=SC2034 # FORCE and GMB_FORCE are the calling script's
gmb_common_arg() {
	case "$1" in
	--force) FORCE=1 GMB_FORCE=1 ;;
	--relock) GMB_RELOCK=1 FORCE=1 ;;
	-h | --help) usage_from_header "$2"; exit 0 ;;
	*) return 1 ;;
	esac
}

gmb_cached() { [ -f "$GMB_CACHE_ROOT/$GMB_KEY/.complete" ]; }

# gmb_start: find Go, take the cache lock (waiting for a concurrent build), prepare GMB_NEW.
# Returns 1 when a concurrent run completed the build meanwhile (nothing left to do).
gmb_start() {
	GO="$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)"
	[ -x "$GO" ] || gmb_die "go not found (these tools build from Go modules)"
	command -v python3 >/dev/null || gmb_die "python3 not found"
	command -v flock >/dev/null || gmb_die "flock not found (util-linux)"
	export GOFLAGS="-mod=mod -buildvcs=false -p=${GMB_JOBS:-2}" CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local
	unset GOOS GOARCH
	GMB_PREFIX="$GMB_CACHE_ROOT/$GMB_KEY"
	mkdir -p "$GMB_CACHE_ROOT"
	exec 9>"$GMB_PREFIX.lock"
	if ! flock -n 9; then
		gmb_log "another build of $GMB_KEY is running: waiting for it"
		flock 9
	fi
	if [ "$GMB_RELOCK" != 1 ] && [ "${GMB_FORCE:-0}" != 1 ] && gmb_cached; then
		gmb_log "built by a concurrent run: $GMB_PREFIX"
		return 1
	fi
	GMB_NEW="$GMB_CACHE_ROOT/.new-$GMB_KEY"
	GMB_WORK="$GMB_NEW/work"
	rm -rf "$GMB_NEW"
	mkdir -p "$GMB_WORK"
	GMB_T0=$SECONDS
	trap gmb_heartbeat_stop EXIT
	gmb_log "building $GMB_KEY ($("$GO" env GOVERSION), GOFLAGS=$GOFLAGS)"
}

# gmb_tool_module NAME MODULE@VERSION MAIN_PKG BIN: for a tool built from one module's main package.
# A complete cache (unless FORCE=1), or one a concurrent run completed: BIN printed, the script
# ends. Otherwise GMB_NEW/bin made, and a wrapper module NAME requiring the module with a tool
# directive for MAIN_PKG, resolved: ready for gmb_build.
gmb_tool_module() {
	local name="$1" module="$2" main_pkg="$3" bin="$4"
	if { [ "${FORCE:-0}" = 0 ] && gmb_cached; } || ! gmb_start; then
		gmb_log "using cached $bin"
		printf '%s\n' "$bin"
		exit 0
	fi
	mkdir -p "$GMB_NEW/bin"
	gmb_download "$module"
	gmb_new_module "$name" "$(gmb_gomod_of "$module")"
	(cd "$GMB_WORK/$name" && "$GO" mod edit -require="$module" -tool="$main_pkg")
	gmb_resolve "$name"
}

# gmb_publish: stamp GMB_NEW complete and rename it to GMB_PREFIX.
gmb_publish() {
	printf 'built=%s\ngo=%s\nseconds=%s\n' "$(date -u +%FT%TZ)" "$("$GO" env GOVERSION)" "$((SECONDS - GMB_T0))" >"$GMB_NEW/.complete"
	if [ -e "$GMB_PREFIX" ]; then mv "$GMB_PREFIX" "$GMB_CACHE_ROOT/.old-$GMB_KEY-$$"; fi
	mv "$GMB_NEW" "$GMB_PREFIX"
	rm -rf "$GMB_CACHE_ROOT/.old-$GMB_KEY-$$"
	gmb_log "$GMB_KEY complete in $((SECONDS - GMB_T0)) s: $GMB_PREFIX"
}

# --- progress ---------------------------------------------------------------------------

GMB_HEARTBEAT=
# gmb_heartbeat_start WHAT: a line every 30 s while a long step runs, so a build never sits silent.
gmb_heartbeat_start() {
	local what="$1" start=$SECONDS
	(
		sleeper=
		# Waiting on a background sleep lets TERM end the heartbeat at once.
		trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; exit 0' TERM
		while :; do
			sleep 30 &
			sleeper=$!
			wait "$sleeper"
			gmb_log "... still $what ($((SECONDS - start)) s)"
		done
	) &
	GMB_HEARTBEAT=$!
}
gmb_heartbeat_stop() {
	if [ -n "${GMB_HEARTBEAT:-}" ]; then
		kill "$GMB_HEARTBEAT" 2>/dev/null || true
		wait "$GMB_HEARTBEAT" 2>/dev/null || true
		GMB_HEARTBEAT=
	fi
}

# gmb_explain_failure LOG WHAT: why a go command failed, naming refused modules; exits.
gmb_explain_failure() {
	local logf="$1" what="$2" refused
	refused="$(grep -E '(403|404|410)|not available|unknown revision|invalid version' "$logf" | grep -v '^go: downloading' | sort -u | head -n 20 || true)"
	if [ -n "$refused" ]; then
		gmb_log "the module proxy ($("$GO" env GOPROXY)) refused a module needed by $what:"
		printf '%s\n' "$refused" | sed 's/^/    /' >&2
	fi
	if grep -q 'checksum mismatch' "$logf"; then
		gmb_log "a module does not match its hash in lock/*.go.sum for $what"
	fi
	gmb_log "last lines of $logf:"
	grep -v '^go: downloading' "$logf" | tail -n 25 | sed 's/^/    /' >&2
	gmb_die "$what failed"
}

# --- modules ----------------------------------------------------------------------------

# gmb_download MOD@VER...: fetch root modules first, so a refusal is named within seconds.
gmb_download() {
	local out rc=0
	out="$(cd "$GMB_WORK" && "$GO" mod download -json "$@" 2>&1)" || rc=$?
	python3 - "$rc" "$out" "$GMB_TOOL" <<-'PY' || gmb_die "required Go modules are not available from the module proxy ($("$GO" env GOPROXY)); nothing was built"
		import json, sys
		rc, raw, tool = int(sys.argv[1]), sys.argv[2], sys.argv[3]
		decoder, position, bad, seen = json.JSONDecoder(), 0, 0, 0
		while True:
		    while position < len(raw) and raw[position].isspace():
		        position += 1
		    if position >= len(raw):
		        break
		    try:
		        item, position = decoder.raw_decode(raw, position)
		    except ValueError:
		        sys.stderr.write("[%s] go mod download: %s\n" % (tool, raw[position:].strip()))
		        bad += 1
		        break
		    seen += 1
		    if item.get("Error"):
		        sys.stderr.write("[%s] cannot download %s@%s: %s\n" % (tool, item.get("Path"), item.get("Version"), item["Error"]))
		        bad += 1
		sys.exit(1 if bad or (rc and not seen) else 0)
	PY
}

gmb_module_field() { (cd "$GMB_WORK" && "$GO" mod download -json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2') or '')"); }
gmb_gomod_of() { gmb_module_field "$1" GoMod; }
gmb_dir_of() { gmb_module_field "$1" Dir; }
gmb_time_of() { gmb_module_field "$1" Time; }

# gmb_upstream_replaces GO_MOD -> "OLD NEW NEW_VERSION" per replace directive (no version: a local path).
gmb_upstream_replaces() {
	"$GO" mod edit -json "$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    print(r["Old"]["Path"], r["New"]["Path"], r["New"].get("Version", ""))'
}

# gmb_new_module NAME UPSTREAM_GO_MOD: a wrapper module in GMB_WORK/NAME with the upstream's go
# directive and its non-local replace directives (local ones cannot be carried over).
gmb_new_module() {
	local name="$1" upstream="$2" dir="$GMB_WORK/$1" old new version directive
	mkdir -p "$dir"
	directive="$("$GO" mod edit -json "$upstream" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Go") or "1.26")')"
	printf 'module fastapi-service.local/%s/%s\n\ngo %s\n' "$GMB_TOOL" "$name" "$directive" >"$dir/go.mod"
	while read -r old new version; do
		if [ -n "$version" ]; then (cd "$dir" && "$GO" mod edit -replace="$old=$new@$version"); fi
	done < <(gmb_upstream_replaces "$upstream")
}

# gmb_resolve NAME: `go mod tidy` of the wrapper module against the committed lock/NAME.go.sum
# (a module with another hash fails, and so does one the lock does not pin), or write the lock.
gmb_resolve() {
	local name="$1" dir="$GMB_WORK/$1" lock="$GMB_HERE/lock/$1.go.sum" t=$SECONDS extra
	if [ "$GMB_RELOCK" = 1 ]; then
		rm -f "$dir/go.sum"
	elif [ -f "$lock" ]; then
		cp "$lock" "$dir/go.sum"
	else
		gmb_die "no lock file $lock: run the build with --relock once and commit lock/"
	fi
	gmb_heartbeat_start "resolving $name"
	(cd "$dir" && "$GO" mod tidy) >"$dir/tidy.log" 2>&1 || gmb_explain_failure "$dir/tidy.log" "go mod tidy of the $name wrapper module ($dir)"
	gmb_heartbeat_stop
	if [ "$GMB_RELOCK" = 1 ]; then
		mkdir -p "$GMB_HERE/lock"
		cp "$dir/go.sum" "$lock"
		cp "$dir/go.mod" "$GMB_HERE/lock/$name.go.mod"
		gmb_log "relocked $lock: commit it"
	else
		extra="$(grep -vxFf "$lock" "$dir/go.sum" || true)"
		if [ -n "$extra" ]; then
			gmb_log "go.sum entries of $name that lock/$name.go.sum does not have:"
			printf '%s\n' "$extra" | head -n 20 | sed 's/^/    /' >&2
			gmb_die "the $name module graph differs from lock/$name.go.sum (versions changed? build with --relock)"
		fi
	fi
	gmb_log "resolved $name in $((SECONDS - t)) s"
}

# gmb_build NAME OUT LABEL LDFLAGS PKG...: one `go build` of the wrapper module's main packages
# (they share the compiled dependencies) into OUT (a directory ending in / or a file).
gmb_build() {
	local name="$1" out="$2" label="$3" ldflags="$4" dir="$GMB_WORK/$1" t=$SECONDS
	shift 4
	gmb_log "go build $label"
	gmb_heartbeat_start "building $label"
	(cd "$dir" && "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$out" "$@") >"$dir/build.log" 2>&1 ||
		gmb_explain_failure "$dir/build.log" "go build of $label"
	gmb_heartbeat_stop
	gmb_log "built $label in $((SECONDS - t)) s"
}
