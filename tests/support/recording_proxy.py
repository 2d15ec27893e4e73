"""An HTTP proxy in front of an S3 endpoint (moto) that records every request in order.

Tests point ``AWS_ENDPOINT_URL`` at it to check *when* a client did something, not only what
the bucket holds afterwards: e.g. that ``_manifest.json`` is written after the last part, or
that a Glue partition is added after it (JSON APIs are recorded by their ``X-Amz-Target``).
``fault`` answers chosen requests itself (an error from "AWS") instead of forwarding them.

    with RecordingProxy(moto.endpoint) as proxy:
        env = {**etl_env(moto), "AWS_ENDPOINT_URL": proxy.endpoint}
        ...
        proxy.requests  # [Request(method, path, query, status, ..., target), ...] in order
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # decoded: /bucket/key
    query: dict[str, str]
    status: int
    started: float  # time.monotonic() at arrival
    finished: float  # ... when the response was sent
    target: str = ""  # X-Amz-Target of JSON APIs, e.g. AWSGlue.CreatePartition


@dataclass(frozen=True)
class Injected:
    """An error answer the proxy gives instead of upstream's; with ``after_forwarding`` the
    request reaches upstream first (it happened, but the client hears it failed)."""

    status: int
    code: str
    after_forwarding: bool = False


#: (method, path, query, target) -> None to forward as is, or the error to answer with
Fault = Callable[[str, str, dict[str, str], str], Injected | None]


class RecordingProxy:
    def __init__(self, upstream: str, fault: Fault | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, injected: Injected) -> None:
                data = json.dumps(
                    {"__type": injected.code, "message": "injected by the test"}
                ).encode()
                self.send_response(injected.status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-ErrorType", injected.code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def _forward(self) -> None:
                started = time.monotonic()
                body = self._body()
                target = self.headers.get("X-Amz-Target", "")
                split = urllib.parse.urlsplit(self.path)
                path = urllib.parse.unquote(split.path)
                query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
                injected = fault(self.command, path, query, target) if fault else None
                if injected is not None and not injected.after_forwarding:
                    self._answer(injected)
                    self._record(path, query, injected.status, started, target)
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("transfer-encoding", "expect", "connection")
                }
                headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = upstream.getresponse()
                    data = resp.read()
                    if injected is not None:  # it happened upstream; the client hears otherwise
                        self._answer(injected)
                        self._record(path, query, injected.status, started, target)
                        return
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    self.wfile.flush()
                finally:
                    upstream.close()
                self._record(path, query, resp.status, started, target)

            def _record(
                self, path: str, query: dict[str, str], status: int, started: float, target: str
            ) -> None:
                record = Request(
                    self.command, path, query, status, started, time.monotonic(), target
                )
                with proxy._lock:
                    proxy.requests.append(record)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
