"""restic at the backup pods' version, and a shell like the restic image's (busybox and restic only)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from testservers.process import REPOSITORY_ROOT, MissingBinaryError, built_by, find_binary

BUILD_RESTIC = REPOSITORY_ROOT / "scripts" / "backup" / "build-restic.sh"


def restic_binary() -> str:
    """restic at the backup pods' version (scripts/backup/versions.env), built once and cached."""
    binary = built_by(BUILD_RESTIC, "restic") / "restic"
    if not os.access(binary, os.X_OK):
        raise MissingBinaryError(f"restic: {BUILD_RESTIC} gave no executable {binary}")
    return str(binary)


class PodShell:
    """busybox's `sh` with busybox's applets and restic, and nothing else on PATH: the restic
    image (alpine) as far as a script can tell. A GNU-only flag fails here as it would there."""

    def __init__(self, directory: Path, restic: str) -> None:
        busybox = find_binary("busybox")
        if busybox is None:
            raise MissingBinaryError("busybox not found (Debian: apt-get install busybox): the restic image's shell")
        directory.mkdir(parents=True, exist_ok=True)
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True, timeout=30).stdout.split()
        for applet in applets:
            link = directory / applet
            if not link.exists():
                link.symlink_to(busybox)
        (directory / "restic").unlink(missing_ok=True)
        (directory / "restic").symlink_to(restic)
        self.directory = directory

    def run(self, script: str, *, env: Mapping[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run `script` with `sh -c` in a clean environment: PATH, then `env` (HOME and TMPDIR, as a pod has)."""
        environment = {"PATH": str(self.directory), "HOME": env.get("HOME", "/nonexistent"), **env}
        return subprocess.run(
            [str(self.directory / "sh"), "-c", script], capture_output=True, text=True, env=environment, timeout=timeout, check=False
        )
