"""A real S3 server for the backup tests and the drill: SeaweedFS's S3 gateway (scripts/s3) on 127.0.0.1.

weed = seaweedfs_binary()                    # scripts/s3/build.sh (cached)
with s3_server(tmp_path / "s3", weed) as s3: # stopped by its PID on exit
    s3.repository("stack-a")                 # "s3:http://127.0.0.1:PORT/backups/stack-a"
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testservers.process import REPOSITORY_ROOT, MissingBinaryError, built_by

S3_SCRIPTS = REPOSITORY_ROOT / "scripts" / "s3"
UP_TIMEOUT_SECONDS = 120
DOWN_TIMEOUT_SECONDS = 30


def seaweedfs_binary() -> str:
    """SeaweedFS's `weed` (scripts/s3/versions.env), built once and cached."""
    binary = built_by(S3_SCRIPTS / "build.sh", "the S3 server (SeaweedFS)") / "weed"
    if not os.access(binary, os.X_OK):
        raise MissingBinaryError(f"SeaweedFS: {S3_SCRIPTS / 'build.sh'} gave no executable {binary}")
    return str(binary)


@dataclass(frozen=True)
class S3Server:
    """A running SeaweedFS S3 gateway (scripts/s3/up.sh) and what a client needs to reach it."""

    run_dir: Path
    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str

    @property
    def data_dir(self) -> Path:
        """Where the server keeps every object (unencrypted at rest)."""
        return self.run_dir / "data"

    @property
    def pid(self) -> int:
        return int((self.run_dir / "pids" / "weed.pid").read_text())

    def repository(self, path: str) -> str:
        return f"s3:{self.endpoint}/{self.bucket}/{path}"

    def client_env(self) -> dict[str, str]:
        """The environment restic (and the restore tool) take S3 credentials from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key, "AWS_DEFAULT_REGION": self.region}


@contextmanager
def s3_server(run_dir: Path, weed: str, bucket: str = "backups") -> Iterator[S3Server]:
    """A started S3 server with `bucket`, in `run_dir`; stopped by its PID on exit, however the body ended."""
    environment = {**os.environ, "S3_BUCKET": bucket, "WEED": weed}
    try:
        up = [str(S3_SCRIPTS / "up.sh"), str(run_dir)]
        started = subprocess.run(up, capture_output=True, text=True, env=environment, timeout=UP_TIMEOUT_SECONDS, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"scripts/s3/up.sh failed (exit {started.returncode}):\n{started.stderr[-2000:]}")
        credentials = dict(
            line.split("=", 1) for line in Path(started.stdout.strip().splitlines()[-1]).read_text().splitlines() if "=" in line
        )
        yield S3Server(
            run_dir=run_dir,
            endpoint=credentials["S3_ENDPOINT"],
            access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            region=credentials["S3_REGION"],
            bucket=bucket,
        )
    finally:
        _stop(run_dir)


def _stop(run_dir: Path) -> None:
    # down.sh signals only the PIDs in run_dir/pids whose command line names run_dir (TERM, then
    # KILL) and removes their pid files; a store about to be deleted needs no graceful filer flush.
    subprocess.run(
        [str(S3_SCRIPTS / "down.sh"), str(run_dir)],
        capture_output=True,
        env={**os.environ, "S3_DOWN_TIMEOUT": "2"},
        timeout=DOWN_TIMEOUT_SECONDS,
        check=False,
    )
    # Should down.sh itself have failed: the same check, and SIGKILL.
    for pid_file in (run_dir / "pids").glob("*.pid"):
        pid = pid_file.read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline")
        if pid.isdigit() and cmdline.exists() and str(run_dir) in cmdline.read_bytes().decode(errors="replace"):
            os.kill(int(pid), signal.SIGKILL)
