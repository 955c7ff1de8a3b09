"""Stopping the processes the bench starts, each in a session of its own, with bounded waits."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def kill_group(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL, wait_s: float = 10.0) -> None:
    """Send `sig` to the process group of `proc`; SIGKILL it if it outlives `wait_s`."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(wait_s)
