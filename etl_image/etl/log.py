"""Structured logs: one JSON object per line on stderr.

Every record has ``ts``, ``level`` and ``phase`` plus the run's context (``run_id``, ``site``,
``worker``). Values registered with ``Log.mask`` (the database password) are replaced by
``***`` in every line as a last line of defence; the code never logs row data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

_masked: set[str] = set()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(ts: dt.datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Log:
    def __init__(self, fd: int = 2, **context: Any) -> None:
        self.fd = fd
        self.context = {k: v for k, v in context.items() if v is not None}

    def bind(self, **context: Any) -> Log:
        merged = {**self.context, **context}
        return Log(self.fd, **merged)

    @staticmethod
    def mask(value: str | None) -> None:
        """Never let ``value`` appear in a log line."""
        if value and len(value) >= 4:  # masking "a" would garble every line
            _masked.add(value)

    def info(self, phase: str, **fields: Any) -> None:
        self.emit("info", phase, **fields)

    def warning(self, phase: str, **fields: Any) -> None:
        self.emit("warning", phase, **fields)

    def error(self, phase: str, **fields: Any) -> None:
        self.emit("error", phase, **fields)

    def emit(self, level: str, phase: str, **fields: Any) -> None:
        record = {"ts": iso(utc_now()), "level": level, "phase": phase, **self.context, **fields}
        line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
        for secret in _masked:
            line = line.replace(secret, "***")
        data = (line + "\n").encode("utf-8", "replace")
        # One write per line (atomic on a pipe below PIPE_BUF), so worker processes sharing
        # stderr never interleave within a line.
        while data:
            try:
                written = os.write(self.fd, data)
            except OSError:
                return
            data = data[written:]
