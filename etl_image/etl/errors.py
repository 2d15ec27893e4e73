"""Errors that end a run, each with the process exit code it maps to."""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_SOURCE = 3
EXIT_SINK = 4
EXIT_CATALOG = 5


class EtlError(Exception):
    """A failure the ETL understands; ``str(e)`` is safe to log (no secrets, no row data)."""

    exit_code = EXIT_INTERNAL
    kind = "internal"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields


class UsageError(EtlError):
    """Bad arguments or configuration: a rejected query, an unusable secret (exit 2)."""

    exit_code = EXIT_USAGE
    kind = "usage"


class SourceError(EtlError):
    """The database failed: connect, authentication, query, connection lost (exit 3)."""

    exit_code = EXIT_SOURCE
    kind = "source"


class SinkError(EtlError):
    """S3 failed: missing bucket, access denied, endpoint unreachable (exit 4)."""

    exit_code = EXIT_SINK
    kind = "sink"


class Terminated(EtlError):
    """SIGTERM or SIGINT (e.g. ECS stopping the task): clean up and exit 128 + signal."""

    kind = "terminated"

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.exit_code = 128 + signum


class Cancelled(EtlError):
    """This worker stopped because another part of the run failed."""

    kind = "cancelled"
