"""``--parallel N``: N forked worker processes, each extracting one key range, and this process
supervising them.

The supervisor extracts nothing itself; it waits in ``select`` on one pipe per worker and on
the stop signal's wake-up descriptor, so it notices at once a signal, a worker's report and a
worker's death (its pipe reaches end-of-file when it exits, however it exits). Nothing is shared
between the processes but those pipes: no multiprocessing locks, queues or counters that a
killed process could leave held. Part numbers are interleaved (worker ``k`` of ``n`` writes
``k``, ``k + n``, ``k + 2n``, ...), so no process has to ask another for one.

On a stop signal, a worker's failure or death, the supervisor sends SIGTERM to the workers
still running (each aborts its upload and exits), waits for them within the stop budget,
SIGKILLs any that are left, and raises; the caller then sweeps the run prefix.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from etl.columns import Column
from etl.config import Config
from etl.errors import EXIT_INTERNAL, Cancelled, EtlError, Terminated
from etl.extract import Range, extract
from etl.log import Log
from etl.pipeline import ExtractResult
from etl.s3sink import OPEN_UPLOADS
from etl.secret import DbSecret
from etl.source import begin_read_only, close_quietly, connect, redact
from etl.stop import StopRequest, signal_name, signals_blocked, unblock_signals

#: seconds a worker gets to stop after a failure elsewhere (no signal) before SIGKILL
CANCEL_GRACE = 10.0
OnColumns = Callable[[list[Column]], None] | None


class WorkerDied(EtlError):
    """A worker process ended without reporting (killed, out of memory): exit 1."""

    kind = "worker"


@dataclass
class _Worker:
    index: int
    pid: int
    fd: int
    report: bytearray = field(default_factory=bytearray)


def run_workers(
    cfg: Config,
    secret: DbSecret,
    ranges: list[Range],
    log: Log,
    stop: StopRequest,
    on_columns: OnColumns = None,
) -> list[ExtractResult]:
    """Extract every range in its own process; return the results in range order.
    ``on_columns`` runs in each worker once its result's columns are known."""
    live: dict[int, _Worker] = {}
    results: dict[int, ExtractResult] = {}
    errors: list[EtlError] = []
    try:
        for rng in ranges:
            if stop.requested:
                break
            w = _fork(cfg, secret, rng, len(ranges), log, stop, on_columns)
            live[w.fd] = w
            log.info("worker", worker=rng.index, pid=w.pid)
        _supervise(live, results, errors, log, stop)
    finally:
        for w in live.values():  # only if supervising itself failed: leave no process behind
            with contextlib.suppress(OSError):
                os.kill(w.pid, signal.SIGKILL)
                os.waitpid(w.pid, 0)
            with contextlib.suppress(OSError):
                os.close(w.fd)
    stop.check()
    if errors:
        raise errors[0]  # the first is the cause; the others stopped because of it
    return [results[k] for k in sorted(results)]


def _fork(
    cfg: Config,
    secret: DbSecret,
    rng: Range,
    count: int,
    log: Log,
    stop: StopRequest,
    on_columns: OnColumns,
) -> _Worker:
    parent = os.getpid()
    r, w = os.pipe()
    # Blocked across fork: the child installs its own handlers before it takes a signal.
    with signals_blocked():
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            code = EXIT_INTERNAL
            try:
                os.close(r)
                stop.close_wakeup()
                code = _worker_main(
                    cfg, secret, rng, count, parent, log.bind(worker=rng.index), w, on_columns
                )
            finally:
                os._exit(code)
    os.close(w)
    return _Worker(rng.index, pid, r)


def _supervise(
    live: dict[int, _Worker],
    results: dict[int, ExtractResult],
    errors: list[EtlError],
    log: Log,
    stop: StopRequest,
) -> None:
    stopping_since: float | None = None
    kill_after = 0.0
    killed = False
    while live:
        if stopping_since is None and (stop.requested or errors):
            stopping_since = time.monotonic()
            # After a signal, half the stop budget for the workers, half for the cleanup.
            kill_after = stop.remaining(2 * CANCEL_GRACE) / 2
            for w in live.values():
                with contextlib.suppress(OSError):
                    os.kill(w.pid, signal.SIGTERM)
        if (
            stopping_since is not None
            and not killed
            and time.monotonic() - stopping_since > kill_after
        ):
            log.warning("workers_killed", workers=[w.index for w in live.values()])
            for w in live.values():
                with contextlib.suppress(OSError):
                    os.kill(w.pid, signal.SIGKILL)
            killed = True
        fds = list(live)
        if stop.wakeup_fd is not None:
            fds.append(stop.wakeup_fd)
        ready, _, _ = select.select(fds, [], [], 0.25)
        for fd in ready:
            if fd == stop.wakeup_fd:
                stop.drain_wakeup()
                continue
            w = live[fd]
            chunk = os.read(fd, 65536)
            if chunk:
                w.report += chunk
                continue
            del live[fd]  # end of file: the worker has exited
            os.close(fd)
            _, status = os.waitpid(w.pid, 0)
            _take_report(w, status, results, errors, log)


def _take_report(
    w: _Worker,
    status: int,
    results: dict[int, ExtractResult],
    errors: list[EtlError],
    log: Log,
) -> None:
    try:
        report = json.loads(w.report) if w.report else None
    except ValueError:
        report = None
    for key, upload_id in (report or {}).get("open_uploads", []):
        OPEN_UPLOADS.add(key, upload_id)  # the cleanup aborts them
    if report and report.get("status") == "ok":
        results[w.index] = ExtractResult.from_dict(report["result"])
        return
    if report and report.get("status") == "error":
        err = EtlError(report["error"])
        err.kind = report["kind"]
        err.exit_code = int(report["exit_code"])
        errors.append(err)
        return
    if os.WIFSIGNALED(status):
        how = f"was killed by signal {os.WTERMSIG(status)} ({signal_name(os.WTERMSIG(status))})"
    else:
        how = f"exited with code {os.waitstatus_to_exitcode(status)}"
    log.error("worker_died", worker=w.index, pid=w.pid, status=how)
    errors.append(WorkerDied(f"worker {w.index} (pid {w.pid}) {how} without a report"))


def _worker_main(
    cfg: Config,
    secret: DbSecret,
    rng: Range,
    count: int,
    parent: int,
    log: Log,
    out_fd: int,
    on_columns: OnColumns,
) -> int:
    """Body of a worker process: its own signal handling, DB connection and S3 client."""
    stop = StopRequest(cfg.tuning.stop_seconds).install()
    unblock_signals()

    def check() -> None:
        stop.check()
        if os.getppid() != parent:
            raise Cancelled("the supervising process is gone")

    conn = None
    report: dict[str, Any]
    code = 0
    try:
        conn = connect(secret, cfg.tuning, log, stop)
        begin_read_only(conn, cfg.tuning)
        result = extract(
            cfg,
            conn,
            rng.sql,
            log,
            part_numbers=itertools.count(rng.index, count),
            check=check,
            grace=lambda: stop.remaining(CANCEL_GRACE) * 0.8,
            on_columns=on_columns,
        )
        report = {"status": "ok", "result": result.as_dict()}
    except EtlError as e:
        if stop.requested and not isinstance(e, Terminated):
            e = Terminated(stop.signum or signal.SIGTERM)
        report = {"status": "error", "kind": e.kind, "error": str(e), "exit_code": e.exit_code}
        code = e.exit_code
    except BaseException as e:
        msg = redact(f"{type(e).__name__}: {e}")
        report = {
            "status": "error",
            "kind": "internal",
            "error": f"internal error in worker {rng.index}: {msg}",
            "exit_code": EXIT_INTERNAL,
        }
        code = EXIT_INTERNAL
    finally:
        close_quietly(conn)
    # Uploads this worker could not abort itself: the supervisor's cleanup aborts them by id.
    report["open_uploads"] = OPEN_UPLOADS.snapshot()
    data = json.dumps(report).encode("utf-8")
    with contextlib.suppress(OSError):  # the supervisor is gone: nobody to tell
        while data:
            data = data[os.write(out_fd, data) :]
    return code
