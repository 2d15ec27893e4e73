"""The database side: connect (TLS, timeouts, retries), read-only session, streaming cursor."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import pymysql
import pymysql.converters
import pymysql.cursors

from etl.columns import Column, columns_of
from etl.config import Tuning
from etl.errors import SourceError, UsageError
from etl.log import Log
from etl.secret import DbSecret
from etl.stop import StopRequest

# Client errors worth another connection attempt: can't connect, lost connection, server gone,
# too many connections, server shutting down.
_TRANSIENT = {2002, 2003, 2006, 2013, 1040, 1053, 1203}
_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"")


def redact(text: str) -> str:
    """Replace quoted literals ('...' and "...") by '?'."""
    return _QUOTED.sub("'?'", text)


def db_error_message(e: BaseException, *, redact_literals: bool) -> str:
    """A loggable message for a database error.

    Connection errors are kept as they are (they hold host and user, never the password).
    Errors raised once the query runs can quote values from rows ("Truncated incorrect DOUBLE
    value: 'x'"), so quoted literals are replaced by '?' there.
    """
    if isinstance(e, pymysql.err.MySQLError) and len(e.args) >= 2:
        code, msg = e.args[0], str(e.args[1])
        if redact_literals:
            msg = _QUOTED.sub("'?'", msg)
        return f"({code}) {msg}"
    msg = f"{type(e).__name__}: {e}"
    return _QUOTED.sub("'?'", msg) if redact_literals else msg


def _tls_context(secret: DbSecret, tuning: Tuning) -> ssl.SSLContext:
    ca = secret.tls_ca or tuning.tls_ca
    try:
        ctx = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as e:
        raise UsageError(f"cannot load TLS CA bundle {ca!r}: {e}") from None
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _socket_of(conn: pymysql.Connection) -> Callable[[], Any]:
    """The connection's current socket (``None`` once closed), without keeping it alive."""
    ref = weakref.ref(conn)
    return lambda: getattr(ref(), "_sock", None)


def _tcp_socket(secret: DbSecret, tuning: Tuning, stop: StopRequest) -> socket.socket:
    """The TCP connection PyMySQL would open, opened here so that a signal that arrives during
    the connect is seen before the handshake starts reading."""
    try:
        sock = socket.create_connection((secret.host, secret.port), tuning.connect_timeout)
    except OSError as e:
        stop.check()
        raise pymysql.err.OperationalError(
            2003, f"Can't connect to MySQL server on {secret.host!r} ({e})"
        ) from None
    if stop.requested:
        sock.close()
        stop.check()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def connect(secret: DbSecret, tuning: Tuning, log: Log, stop: StopRequest) -> pymysql.Connection:
    """Connect with retries and exponential backoff on transient errors. Values come back as
    the server's text (no type decoding: faster, and exact for DECIMAL and DATETIME).

    The connection is watched by ``stop`` from the handshake on: a stop signal shuts its
    socket down, so no read (handshake, query, rows) outlives the signal by more than a
    moment. Only the TCP connect itself waits, at most ``connect_timeout``."""
    tls = _tls_context(secret, tuning) if secret.tls else None
    delay = tuning.connect_backoff
    started = time.monotonic()
    for attempt in range(1, tuning.connect_retries + 1):
        stop.check()
        try:
            conn = pymysql.connect(
                host=secret.host,
                port=secret.port,
                user=secret.username,
                password=secret.password,
                database=secret.database,
                charset="utf8mb4",
                conv=dict(pymysql.converters.encoders),  # no decoders: values stay text
                connect_timeout=tuning.connect_timeout,
                read_timeout=tuning.read_timeout,
                write_timeout=tuning.write_timeout,
                ssl=tls,
                autocommit=False,
                local_infile=False,
                cursorclass=pymysql.cursors.SSCursor,
                defer_connect=True,
            )
            stop.watch(_socket_of(conn))
            conn.connect(sock=_tcp_socket(secret, tuning, stop))
        except pymysql.err.MySQLError as e:
            stop.check()  # a signal during the handshake shows up as a lost connection
            code = e.args[0] if e.args else None
            message = db_error_message(e, redact_literals=False)
            if code not in _TRANSIENT or attempt == tuning.connect_retries:
                raise SourceError(
                    f"cannot connect to {secret.host}:{secret.port} as {secret.username!r}: "
                    f"{message}",
                    attempts=attempt,
                ) from None
            log.warning("connect_retry", attempt=attempt, error=message, retry_in=delay)
            stop.sleep(delay)
            delay *= 2
        except (OSError, ssl.SSLError) as e:
            stop.check()
            raise SourceError(
                f"cannot connect to {secret.host}:{secret.port}: {type(e).__name__}: {e}"
            ) from None
        else:
            log.info(
                "connect",
                host=secret.host,
                port=secret.port,
                database=secret.database,
                tls=bool(tls),
                attempts=attempt,
                seconds=round(time.monotonic() - started, 3),
            )
            return conn
    raise AssertionError("unreachable")


SESSION_TIME_ZONE = "+00:00"


def begin_read_only(conn: pymysql.Connection, tuning: Tuning) -> dict[str, str]:
    """Every statement of this session runs in a read-only transaction, in UTC: TIMESTAMP
    values arrive as UTC (no daylight-saving fold), and NOW()/CURDATE() are UTC too.
    Returns the server version and the session time zone, as the server reports them."""
    try:
        with conn.cursor(pymysql.cursors.Cursor) as cur:
            cur.execute(f"SET SESSION net_write_timeout = {int(tuning.net_write_timeout)}")
            cur.execute(f"SET SESSION time_zone = '{SESSION_TIME_ZONE}'")
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.execute("START TRANSACTION READ ONLY")
            cur.execute("SELECT VERSION(), @@session.time_zone")
            version, zone = cur.fetchone()
    except pymysql.err.MySQLError as e:
        raise SourceError(
            "cannot start a read-only transaction: " + db_error_message(e, redact_literals=False)
        ) from None
    return {"server_version": _text(version), "session_time_zone": _text(zone)}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def query_scalar_row(
    conn: pymysql.Connection, sql: str, params: Mapping[str, str]
) -> tuple[Any, ...]:
    """One row of ``sql`` (``pyformat`` style, see ``etl.params``) with ``params`` bound."""
    try:
        with conn.cursor(pymysql.cursors.Cursor) as cur:
            cur.execute(sql, dict(params))
            row = cur.fetchone()
    except pymysql.err.MySQLError as e:
        raise SourceError(
            "query failed: " + db_error_message(e, redact_literals=True),
            code=e.args[0] if e.args else None,
        ) from None
    return tuple(row) if row else ()


def open_stream(
    conn: pymysql.Connection, sql: str, params: Mapping[str, str]
) -> tuple[Any, list[Column]]:
    """Execute ``sql`` (``pyformat`` style, see ``etl.params``) with ``params`` bound, on an
    unbuffered cursor. Returns the cursor and the result's columns as the server described
    them."""
    cur = conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(sql, dict(params))
    except pymysql.err.MySQLError as e:
        cur.close()
        raise SourceError("query failed: " + db_error_message(e, redact_literals=True)) from None
    columns = columns_of(cur)
    if not columns:
        abandon_stream(conn, cur)
        raise UsageError("the statement returned no result set")
    return cur, columns


def close_quietly(conn: Any) -> None:
    if conn is None:
        return
    with contextlib.suppress(Exception):  # the connection may already be gone
        conn.close()


def abandon_stream(conn: pymysql.Connection, cur: Any) -> None:
    """Drop a half-read unbuffered result without reading the rest of it.

    ``SSCursor.close()`` (also run by its ``__del__``) drains the remaining rows, which after
    a failure could be millions, or fails noisily on a dead connection. Close the connection
    instead, after marking the result finished (its ``__del__`` would drain it too)."""
    for result in (getattr(cur, "_result", None), getattr(conn, "_result", None)):
        if result is not None:
            with contextlib.suppress(Exception):
                result.unbuffered_active = False
    with contextlib.suppress(Exception):
        conn.close()
    with contextlib.suppress(Exception):
        cur.connection = None
