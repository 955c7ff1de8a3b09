"""restic as the restore tool drives it: snapshots listed and resolved, every call bounded (past
its budget restic is interrupted, removes its lock, and the restore fails naming the call)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

TAGS = ("mysql", "redis")
DEFAULT_TIMEOUT_SECONDS = 3600
INTERRUPT_GRACE_SECONDS = 30
# restic's exit codes (0.17+; older versions exit 1 for both).
RESTIC_NO_REPOSITORY = 10
RESTIC_WRONG_PASSWORD = 12


class RestoreError(Exception):
    """A restore that cannot go on; the message says why and what to do."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def log(message: str) -> None:
    print(f"restore: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: str
    hostname: str
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    size: int | None  # bytes backed up (restic >= 0.17 records it)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Snapshot:
        summary = raw.get("summary") or {}
        return cls(
            id=raw["id"],
            time=raw["time"],
            hostname=raw.get("hostname", ""),
            tags=tuple(raw.get("tags") or ()),
            paths=tuple(raw.get("paths") or ()),
            size=summary.get("total_bytes_processed"),
        )

    @property
    def file(self) -> str:
        """The one file a backup job's snapshot holds."""
        if len(self.paths) != 1:
            raise RestoreError(f"snapshot {self.id[:8]} holds {len(self.paths)} paths, not the one file of a backup job")
        return self.paths[0]


class Restic:
    """restic with the repository flags given, each call bounded by `timeout` seconds."""

    def __init__(self, binary: str, options: list[str], timeout: float) -> None:
        self.binary = binary
        self.options = options
        self.timeout = timeout

    def command(self, *args: str) -> list[str]:
        return [self.binary, *self.options, *args]

    def json(self, *args: str) -> Any:
        done = run_bounded(self.command(*args, "--json"), timeout=self.timeout, stdout=subprocess.PIPE)
        if done.returncode != 0:
            raise RestoreError(f"restic {args[0]} failed: {explain_restic_exit(done.returncode)}")
        return json.loads(done.stdout or b"null")

    def snapshots(self, tag: str | None, host: str | None) -> list[Snapshot]:
        args = ["snapshots"]
        if tag:
            args += ["--tag", tag]
        if host:
            args += ["--host", host]
        return sorted((Snapshot.from_json(raw) for raw in self.json(*args) or []), key=lambda snapshot: snapshot.time)

    def resolve(self, reference: str, tag: str, host: str | None) -> Snapshot:
        """`latest` (the newest snapshot of `tag`) or a snapshot id, checked to carry `tag`."""
        if reference == "latest":
            candidates = self.snapshots(tag, host)
            if not candidates:
                raise RestoreError(f"no snapshot tagged {tag}" + (f" from host {host}" if host else "") + " in the repository")
            hosts = sorted({snapshot.hostname for snapshot in candidates})
            if len(hosts) > 1:
                raise RestoreError(f"snapshots tagged {tag} come from several hosts ({', '.join(hosts)}): choose one with --host", 2)
            return candidates[-1]
        found = [Snapshot.from_json(raw) for raw in self.json("snapshots", reference) or []]
        if len(found) != 1:
            raise RestoreError(f"no snapshot {reference} in the repository")
        if tag not in found[0].tags:
            raise RestoreError(f"snapshot {reference} is tagged {', '.join(found[0].tags) or 'nothing'}, not {tag}", 2)
        return found[0]


def explain_restic_exit(code: int) -> str:
    if code == RESTIC_NO_REPOSITORY:
        return "no repository at that location (exit 10): check RESTIC_REPOSITORY / -r"
    if code == RESTIC_WRONG_PASSWORD:
        return "wrong repository password (exit 12)"
    return f"exit {code} (restic's message is above)"


def run_bounded(command: Sequence[str], *, timeout: float, stdout: int | IO[bytes] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `command`; past `timeout` seconds, interrupt it (restic then removes its lock) and fail."""
    with subprocess.Popen(command, stdout=stdout) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            raise RestoreError(
                f"{Path(command[0]).name} {command[1] if len(command) > 1 else ''} timed out after {timeout:.0f} s"
            ) from None
        return subprocess.CompletedProcess(command, process.returncode, output, None)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(INTERRUPT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
