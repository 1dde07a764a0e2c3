"""Logging for every hopnhat process: one readable line, or (``HOPNHAT_LOG_FORMAT=json``) one JSON object a line
with the request id, for the city's log collector.

No personal data reaches a log: messages are written not to carry any (errors name a type and a path, SQLAlchemy hides
statement parameters), and as a last guard the formatter masks anything shaped like a citizen ID number, a phone
number or an e-mail address before the line leaves the process.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from hopnhat.config import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("hopnhat_request_id", default=None)
"""The id of the HTTP request this code runs for (set by :class:`hopnhat.ops.http.ObserveRequests`)."""

_PERSONAL = re.compile(
    r"(?<![\w.-])(?:\d{12}|\d{9}|(?:\+?84|0)\d{9,10}|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)(?![\w-])",
)
"""A CCCD (12 digits), an old CMND (9), a Vietnamese phone number, an e-mail address."""


def mask(text: str) -> str:
    return _PERSONAL.sub("[masked]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request id, and the error's type if any (never
    its traceback's locals nor its message: either may quote a record)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for key in ("method", "route", "status", "duration_ms"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = mask(super().format(record))
        request_id = REQUEST_ID.get()
        return f"{line} [request {request_id}]" if request_id else line


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not when the handler was made: a test runner or
    ``CliRunner`` swaps it, and a handler holding a closed stream fails on every line a background thread logs."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(settings: Settings) -> None:
    """Install the one handler on the root logger (stderr: journald collects it under systemd).

    As ``logging.basicConfig`` does, a root logger that already has another handler (a test runner's, an embedding
    application's) is left as it is."""
    root = logging.getLogger()
    if any(not getattr(h, "hopnhat", False) for h in root.handlers):
        return
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    for old in list(root.handlers):
        if getattr(old, "hopnhat", False):
            root.removeHandler(old)
    handler.hopnhat = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)


__all__ = ["REQUEST_ID", "JsonFormatter", "configure", "mask"]
