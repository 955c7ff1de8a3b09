"""JSON logs, one object per line on stdout, with secrets redacted."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# Fields every line logged inside `log_context(...)` carries (the worker's import_id and task_id).
log_context_var: ContextVar[Mapping[str, Any]] = ContextVar("log_context", default=MappingProxyType({}))

REDACTED = "***"
# user:password@ in any DSN-like string, and bearer tokens, whatever their value.
_DSN_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"']*:)[^@\s\"']+@")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")

# LogRecord attributes that are not user-supplied `extra` fields.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        values: set[str] = set()
        for secret in secrets:
            # Redacting one- or two-character strings would garble every line.
            if len(secret) >= 4:
                values.add(secret)
                # The same value as it appears inside a JSON string.
                values.add(json.dumps(secret)[1:-1])
        # Longest first so a secret containing another is removed whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _DSN_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)
        text = _BEARER.sub(rf"\1{REDACTED}", text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside the block (in this thread or task)."""
    token = log_context_var.set({**log_context_var.get(), **fields})
    try:
        yield
    finally:
        log_context_var.reset(token)


# One per process; get_settings() fills it at start so every handler shares it.
redactor = Redactor()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(log_context_var.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key != "color_message":
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        # Redact the finished line so nothing added above can leak a secret.
        return redactor(json.dumps(entry, default=str, ensure_ascii=False))


def logging_config(level: str) -> dict[str, Any]:
    """dictConfig for the service and uvicorn (uvicorn applies it in every worker)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            # The service writes its own access log with the request id.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # SQL statements carry bound values; never log them.
            "sqlalchemy.engine": {"level": "WARNING"},
            # One line per alembic plugin at every migration is noise.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    redactor.set_secrets(secrets)
    logging.config.dictConfig(logging_config(level))
