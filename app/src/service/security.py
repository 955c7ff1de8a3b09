"""API keys: Bearer tokens compared in constant time, reloaded on rotation."""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from pathlib import Path

from service.config import Settings, split_list

log = logging.getLogger("service.security")


class ApiKeyStore:
    """The accepted keys.

    When the keys came from the secrets directory, the file is re-read when it
    changes: Kubernetes updates a mounted Secret in place, so a new key can be
    added and an old one removed without restarting the pods.
    """

    # The file is stat'ed at most this often while presented keys match; a key
    # that does not match always triggers a check, so a newly added key works
    # at once. A removed key stops working within this many seconds.
    RELOAD_INTERVAL_SECONDS = 1.0

    def __init__(self, keys: list[str], watch_file: Path | None = None) -> None:
        self._keys = [k.encode() for k in keys]
        self._watch_file = watch_file
        self._signature = self._stat(watch_file) if watch_file else None
        self._lock = threading.Lock()
        self._last_check = time.monotonic()

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeyStore:
        path = settings.api_keys_file
        try:
            from_file = path.is_file() and split_list(path.read_text(encoding="utf-8")) == settings.api_key_list
        except OSError:
            from_file = False
        # An env var wins over the file (pydantic-settings precedence), so only watch a file that was used.
        return cls(settings.api_key_list, path if from_file else None)

    @staticmethod
    def _stat(path: Path) -> tuple[int, int, int] | None:
        try:
            st = os.stat(path)  # follows the ..data symlink Kubernetes swaps on update
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def _maybe_reload(self, force: bool = False) -> None:
        if self._watch_file is None:
            return
        now = time.monotonic()
        if not force and now - self._last_check < self.RELOAD_INTERVAL_SECONDS:
            return
        self._last_check = now
        signature = self._stat(self._watch_file)
        if signature == self._signature:
            return
        with self._lock:
            self._signature = signature
            try:
                keys = split_list(self._watch_file.read_text(encoding="utf-8"))
            except OSError:
                keys = []
            if not keys:
                # A half-written or deleted file must not lock every client out.
                log.error("api_keys file is empty or unreadable, keeping the previous keys")
                return
            self._keys = [k.encode() for k in keys]
            log.info("api keys reloaded", extra={"key_count": len(keys)})

    def _matches(self, candidate: bytes) -> bool:
        # Compare against every key, without short-circuit, so timing says nothing about which matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched

    def is_valid(self, token: str) -> bool:
        self._maybe_reload()
        candidate = token.encode()
        if self._matches(candidate):
            return True
        if self._watch_file is None:
            return False
        # Maybe a key added since the last check: look at the file now.
        self._maybe_reload(force=True)
        return self._matches(candidate)
