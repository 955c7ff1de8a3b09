# Image store for builds whose layer reuse is measured (tests/integration/run.sh, bench/image.sh).
# Sourced, before common.sh. vfs copies the whole rootfs for every stage and layer (a fully
# cached rebuild still takes ~60 s here, which hides the layer reuse). Unless
# BUILDAH_STORAGE_DRIVER is set, use overlay in a store of its own (a store cannot mix drivers,
# ITEST_OVERLAY_ROOT overrides its path) when the kernel allows it, else vfs.
# Sets OWN_STORE=1 when that store of its own is used.
# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2034 # OWN_STORE is read by the scripts that source this one

OWN_STORE=0
if [[ -z "${BUILDAH_STORAGE_DRIVER:-}" ]]; then
    probe_root="${ITEST_OVERLAY_ROOT:-/var/lib/containers/storage-itest-overlay}"
    probe_run="/run/containers/storage-itest-overlay"
    if probe=$(buildah --storage-driver overlay --root "$probe_root" --runroot "$probe_run" from --pull=never scratch 2>/dev/null) &&
        buildah --storage-driver overlay --root "$probe_root" --runroot "$probe_run" mount "$probe" >/dev/null 2>&1; then
        export BUILDAH_STORAGE_DRIVER=overlay BUILDAH_ROOT="$probe_root" BUILDAH_RUNROOT="$probe_run"
        OWN_STORE=1
    else
        export BUILDAH_STORAGE_DRIVER=vfs
    fi
    [[ -n "${probe:-}" ]] && buildah --storage-driver overlay --root "$probe_root" --runroot "$probe_run" rm "$probe" >/dev/null 2>&1 || true
fi
