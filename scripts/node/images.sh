#!/usr/bin/env bash
# Build (or reuse) every image the node runs, from the recipes in images/<name>/Containerfile
# (the first comment of each says what upstream image it stands in for), and the app image
# from app/Dockerfile (scripts/image/build.sh). No registry is reachable here: the node's
# binaries come from build.sh, restic from scripts/backup/build-restic.sh, Debian packages
# through mmdebstrap / apt-get download, and the images are built with buildah.
#
# Usage: scripts/node/images.sh [--force]
#
#   stdout: one line per image: NAME<TAB>DIR<TAB>REPOSITORY:TAG, where DIR holds the image in
#           containers/image's dir: layout (manifest.json and blobs, compressed once), ready for
#           registry.py push. up.sh pushes them to the node's registry.
#   stderr: log, each image with its time.
#
# Env: NODE_IMAGES_CACHE   cache root (default ~/.cache/fastapi-service/node/images): rootfs
#                          tarballs, .debs, and the exported images, keyed by their inputs
#      NODE_APP_IMAGE      the app image: unset = build it with scripts/image/build.sh (layer
#                          cache: a warm build is quick); a local image name = use that one;
#                          `none` = no app image
#      NODE_BIN_DIR        node binaries (default: build.sh's output)
#      RESTIC_BIN_DIR      restic (default: scripts/backup/build-restic.sh's output)
#      BUILDAH_STORAGE_DRIVER, BUILDAH_ROOT, BUILDAH_RUNROOT: the buildah store, as in
#                          scripts/image/common.sh (default vfs in /var/lib/containers)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
{

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../image/common.sh
. "$REPO/scripts/image/common.sh" # bah: buildah on the project's image store
# shellcheck source=../lib/common.sh
. "$REPO/scripts/lib/common.sh"
LOG_PREFIX=node-images
# shellcheck source=versions.env
. "$HERE/versions.env"
# shellcheck source=../backup/versions.env
. "$REPO/scripts/backup/versions.env"

FORCE=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	-h | --help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done

for tool in buildah mmdebstrap apt-get dpkg-deb setcap sha256sum; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install buildah mmdebstrap libcap2-bin)"
done
CACHE="${NODE_IMAGES_CACHE:-$HOME/.cache/fastapi-service/node/images}"
SUITE=bookworm
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
NODE_BIN="${NODE_BIN_DIR:-$("$HERE/build.sh" | tail -n 1)}"
RESTIC_BIN="${RESTIC_BIN_DIR:-$("$REPO/scripts/backup/build-restic.sh" | tail -n 1)}"
mkdir -p "$CACHE/rootfs" "$CACHE/debs" "$CACHE/exported" "$CACHE/work"
exec 8>"$CACHE/.lock"
if ! flock -n 8; then
	log "another images.sh is running: waiting for it"
	flock 8
fi

# --- Inputs ----------------------------------------------------------------------------

# busybox-static from Debian: /bin/busybox and one symlink per applet (bin/sh, usr/bin/wc,
# ...), plus the /tmp, /etc/passwd and /etc/group that busybox's image has.
busybox_rootfs() {
	local deb dir="$CACHE/work/busybox-rootfs"
	deb="$(find "$CACHE/debs" -name "busybox-static_*.deb" -printf "%f\n" | sort | tail -n 1)"
	if [ -z "$deb" ]; then
		log "apt-get download busybox-static"
		(cd "$CACHE/debs" && apt-get download -q busybox-static >&2) || die "apt-get download busybox-static failed"
		deb="$(find "$CACHE/debs" -name "busybox-static_*.deb" -printf "%f\n" | sort | tail -n 1)"
	fi
	BUSYBOX_DEB="$deb"
	if [ ! -f "$dir/.from-$deb" ]; then
		rm -rf "$dir" "$CACHE/work/busybox-deb"
		dpkg-deb -x "$CACHE/debs/$deb" "$CACHE/work/busybox-deb"
		mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/root"
		chmod 1777 "$dir/tmp"
		install -m 0755 "$CACHE/work/busybox-deb/bin/busybox" "$dir/bin/busybox"
		local applet
		while read -r applet; do
			[ "$applet" = bin/busybox ] && continue
			mkdir -p "$dir/$(dirname "$applet")"
			ln -sf /bin/busybox "$dir/$applet"
		done < <("$dir/bin/busybox" --list-full)
		printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
		printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
		touch "$dir/.from-$deb"
	fi
}

# rootfs_tar NAME PACKAGES_FILE: a Debian SUITE rootfs with those packages (no docs, no
# manuals, no apt), cached by the package list.
rootfs_tar() {
	local name="$1" packages key tar t0=$EPOCHREALTIME
	packages="$(grep -v '^#' "$2" | xargs | tr ' ' ',')"
	key="$(printf '%s %s\n' "$SUITE" "$packages" | sha256sum | cut -c1-12)"
	tar="$CACHE/rootfs/$name-$key.tar"
	if [ ! -f "$tar" ]; then
		log "mmdebstrap $SUITE with $packages (a few minutes)"
		# No recommends, no documentation; apt's lists and caches dropped.
		# shellcheck disable=SC2016 # "$1" is mmdebstrap's, in its hook
		mmdebstrap --quiet --variant=essential --format=tar --include="$packages" \
			--aptopt='APT::Install-Recommends "false"' \
			--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
			--dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
			--dpkgopt='path-include=/usr/share/locale/locale.alias' \
			--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
			"$SUITE" "$tar.partial" >&2 || { rm -f "$tar.partial"; die "mmdebstrap of the $name rootfs failed"; }
		mv "$tar.partial" "$tar"
		log "rootfs $name: $(du -h "$tar" | cut -f1) in $(seconds_since "$t0") s"
	fi
	ROOTFS_TAR="$tar"
}

# --- One recipe ------------------------------------------------------------------------

# export_image IMAGE DIR FORMAT: the image from the buildah store into DIR (dir: layout,
# layers compressed once), atomically.
export_image() {
	local image="$1" dir="$2" format="$3"
	rm -rf "$dir.partial"
	bah push --quiet --format "$format" --remove-signatures "$image" "dir:$dir.partial" >&2 ||
		die "buildah push $image to dir:$dir.partial failed"
	rm -rf "$dir"
	mv "$dir.partial" "$dir"
}

# recipe NAME REPOSITORY:TAG: build images/NAME/Containerfile unless an image with the same
# inputs was exported already; prints the output line.
recipe() {
	local name="$1" ref="$2" src="$HERE/images/$1" key dir ctx image t0=$EPOCHREALTIME
	[ -f "$src/Containerfile" ] || die "no recipe $src/Containerfile"
	key="$( {
		(cd "$src" && find . -type f | sort | xargs sha256sum)
		printf '%s\n' "$NODE_BIN" "$RESTIC_BIN" "$BUSYBOX_DEB" "$CA_SUM" "$SUITE" "$ref"
	} | sha256sum | cut -c1-16)"
	dir="$CACHE/exported/$name-$key"
	if [ "$FORCE" = 0 ] && [ -f "$dir/manifest.json" ]; then
		printf '%s\t%s\t%s\n' "$name" "$dir" "$ref"
		return 0
	fi
	ctx="$CACHE/work/context-$name"
	rm -rf "$ctx"
	mkdir -p "$ctx/bin"
	cp -a "$src/." "$ctx/"
	cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
	# Hard links: same file system, no copy of ~150 MB of binaries.
	local b
	for b in "$NODE_BIN"/* "$RESTIC_BIN/restic"; do ln "$b" "$ctx/bin/" 2>/dev/null || cp "$b" "$ctx/bin/"; done
	if grep -q busybox-rootfs "$src/Containerfile"; then cp -a "$CACHE/work/busybox-rootfs" "$ctx/busybox-rootfs"; fi
	if [ -f "$src/packages" ]; then
		rootfs_tar "$name" "$src/packages"
		ln "$ROOTFS_TAR" "$ctx/rootfs.tar"
	fi
	if [ "$name" = coredns ]; then
		# Upstream's build stage: setcap cap_net_bind_service=+ep /coredns (the pod runs as
		# 65532 and binds :53). A copy, so the cached binary keeps no capability.
		rm -f "$ctx/bin/coredns"
		cp "$NODE_BIN/coredns" "$ctx/bin/coredns"
		setcap cap_net_bind_service=+ep "$ctx/bin/coredns"
	fi
	image="localhost/fastapi-node/$name:$key"
	log "building $name ($ref) from images/$name/Containerfile"
	bah bud --quiet --isolation chroot --pull=never --format oci -t "$image" -f "$ctx/Containerfile" "$ctx" >"$CACHE/work/$name.build.log" 2>&1 ||
		{ tail_log "$CACHE/work/$name.build.log" 40; die "buildah bud of images/$name failed"; }
	export_image "$image" "$dir" oci
	bah rmi "$image" >/dev/null 2>&1 || true
	rm -rf "$ctx"
	# The same recipe's earlier builds (other inputs) are not used again.
	find "$CACHE/exported" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
		-regex ".*/$name-[0-9a-f]{16}" ! -name "$(basename "$dir")" -exec rm -rf {} +
	log "$name: $(du -sh "$dir" | cut -f1) compressed, built in $(seconds_since "$t0") s"
	printf '%s\t%s\t%s\n' "$name" "$dir" "$ref"
}

# app_context_key: what the app image is built from (app/.dockerignore's allow-list: the
# Dockerfile, pyproject.toml, uv.lock, README.md, src/) and the stand-in bases' image IDs.
# A warm vfs build still copies every layer (minutes here): with the same key, the image
# exported before is used without building.
app_context_key() {
	local app="$REPO/app" base
	{
		(cd "$app" && find Dockerfile pyproject.toml uv.lock README.md src -type f \
			! -path '*/__pycache__/*' ! -name '*.py[cod]' ! -path '*.egg-info/*' ! -name .DS_Store \
			! -path '*/.pytest_cache/*' ! -path '*/.mypy_cache/*' ! -path '*/.ruff_cache/*' ! -path '*/.venv/*' -print0 |
			sort -z | xargs -0 sha256sum)
		for base in "$STANDIN_PYTHON_IMAGE" "$STANDIN_UV_IMAGE"; do
			bah inspect --type image --format '{{.FromImageID}}' "$base" 2>/dev/null || echo "no $base"
		done
	} | sha256sum | cut -c1-16
}

# app_image: the service's image, exported once per build context (or, for NODE_APP_IMAGE,
# per image ID).
app_image() {
	local image="${NODE_APP_IMAGE:-}" id dir key t0=$EPOCHREALTIME
	[ "$image" = none ] && return 0
	if [ -z "$image" ]; then
		key="$(app_context_key)"
		dir="$CACHE/exported/app-context-$key"
		if [ "$FORCE" = 1 ] || [ ! -f "$dir/manifest.json" ]; then
			image="$("$REPO/scripts/image/build.sh" localhost/fastapi-service:node | tail -n 1)" || die "scripts/image/build.sh failed"
			# docker format: the Dockerfile's HEALTHCHECK has no place in an OCI config.
			export_image "$image" "$dir" v2s2
			log "app image $image exported in $(seconds_since "$t0") s"
		fi
	else
		id="$(bah inspect --type image --format '{{.FromImageID}}' "$image" 2>/dev/null)" ||
			die "NODE_APP_IMAGE=$image is not in the buildah store (${BUILDAH_STORAGE_DRIVER} driver)"
		dir="$CACHE/exported/app-image-${id:0:16}"
		if [ ! -f "$dir/manifest.json" ]; then
			export_image "$image" "$dir" v2s2
			log "app image $image exported in $(seconds_since "$t0") s"
		fi
	fi
	# Exported app images of earlier builds: keep the last three.
	find "$CACHE/exported" -maxdepth 1 -name 'app-*' -printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
	touch "$dir"
	printf '%s\t%s\t%s\n' app "$dir" "fastapi-service:$(basename "$dir" | cut -d- -f3 | cut -c1-12)"
}

T0=$EPOCHREALTIME
CA_SUM="$(sha256sum "$CA_BUNDLE" | cut -c1-16)"
busybox_rootfs
recipe pause "pause:$PAUSE_VERSION"
recipe coredns "coredns/coredns:v$COREDNS_VERSION"
recipe kube-network-policies "networking/kube-network-policies:v$KUBE_NETWORK_POLICIES_VERSION"
recipe local-path-provisioner "rancher/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION"
# A tag from the Debian version (1:1.35.0-4+deb12u1+b1 -> 1.35.0-4-deb12u1-b1-standin).
busybox_tag="$(dpkg-deb -f "$CACHE/debs/$BUSYBOX_DEB" Version | sed -e 's/^[0-9]*://' -e 's/[^A-Za-z0-9_.-]/-/g')"
recipe busybox "library/busybox:$busybox_tag-standin"
recipe restic "restic/restic:$RESTIC_VERSION-standin"
recipe mysql "library/mysql:8.4-standin-mariadb10.11"
recipe redis "library/redis:7.4-standin-redis7.0"
app_image
log "images ready in $(seconds_since "$T0") s"
exit 0
}
