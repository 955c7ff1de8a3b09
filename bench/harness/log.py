"""Progress lines on stdout, stamped with the wall-clock time."""

import time


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)
