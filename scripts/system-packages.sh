#!/usr/bin/env bash
# Make sure the Debian packages of the given groups (scripts/system-packages.txt) are installed.
#
# Usage: scripts/system-packages.sh GROUP...      e.g. test, or: test image bench node docker
#
# Missing packages are installed with apt-get when this runs as root on a machine that has it
# (Debian 12 here); otherwise it prints the one command to run and exits 1 at once, before any
# test starts. Installed packages are left as they are. Debian's postinst scripts may start the
# servers (mariadb, redis-server) where an init system runs: the tests start private ones on free
# ports and never touch those.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export LOG_PREFIX=system-packages
# shellcheck source=scripts/lib/common.sh
. "$HERE/lib/common.sh"

[ $# -gt 0 ] || die "usage: $0 GROUP... (groups: $(awk '!/^#/ && NF { printf "%s ", $1 }' "$HERE/system-packages.txt"))"
wanted=()
for group in "$@"; do
	line="$(awk -v g="$group" '!/^#/ && $1 == g { $1 = ""; print }' "$HERE/system-packages.txt")"
	[ -n "$line" ] || die "no package group '$group' in $HERE/system-packages.txt"
	read -r -a packages <<<"$line"
	wanted+=("${packages[@]}")
done

missing=()
for package in "${wanted[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	die "missing Debian packages for '$*': ${missing[*]}. Install them with: sudo $command"
fi
log "installing ${missing[*]} (for: $*)"
export DEBIAN_FRONTEND=noninteractive
apt_log="$(mktemp "${TMPDIR:-/tmp}/system-packages.XXXXXX.log")"
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
	tail_log "$apt_log" 20
	die "apt-get failed (log above, whole in $apt_log); install by hand: $command"
fi
rm -f "$apt_log"
log "installed ${missing[*]}"
