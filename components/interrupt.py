"""Leave quietly when the Pulumi engine stops the program.

When a resource fails (a migration Job, say), the engine reports its error and then stops
the program with SIGINT. Python's default answer is a KeyboardInterrupt traceback, printed
under the real error as if the program had crashed. The program has nothing to clean up
(the engine owns all state), so it exits at once instead. (A harness that runs the program in
its own process, as the offline engine does, restores its own SIGINT handler afterwards.)
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def exit_quietly_when_the_engine_interrupts() -> None:
    signal.signal(signal.SIGINT, _exit)


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + signum)
