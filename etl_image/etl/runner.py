"""One run: validate, read the secret, connect, clear the run prefix, extract, write the
manifest last. Any failure after S3 was touched removes everything under the run prefix."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import multiprocessing as mp
import queue
import time
from dataclasses import dataclass
from typing import Any

from etl import __version__
from etl.config import Config
from etl.errors import EXIT_INTERNAL, EXIT_OK, EtlError, SinkError, UsageError
from etl.log import Log, iso, utc_now
from etl.pipeline import Extractor, ExtractResult
from etl.rows import LINE_END, FetchmanyRows, RowSource, WireRows
from etl.s3sink import PartFile, s3_call, s3_client, sweep
from etl.secret import DbSecret, fetch_secret
from etl.source import (
    abandon_stream,
    begin_read_only,
    connect,
    open_stream,
    query_scalar_row,
    redact,
)
from etl.sqlcheck import CheckedQuery, QueryRejected, check_query

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Range:
    index: int
    sql: str
    low: int
    high: int


def _close_quietly(conn: Any) -> None:
    if conn is None:
        return
    with contextlib.suppress(Exception):  # the connection may already be gone
        conn.close()


def _secret(cfg: Config, session: Any, log: Log) -> DbSecret:
    started = time.monotonic()
    client = session.client("secretsmanager")
    secret = fetch_secret(client, cfg.secret_id)
    del client
    gc.collect()  # the Secrets Manager model is not needed again: let the S3 client reuse it
    Log.mask(secret.password)
    log.info(
        "secret",
        secret_id=cfg.secret_id,
        tls=secret.tls,
        seconds=round(time.monotonic() - started, 3),
    )
    return secret


def plan_ranges(conn: Any, checked: CheckedQuery, column: str, n: int) -> list[Range]:
    """Split ``[MIN(column), MAX(column)]`` of the query's result into ``n`` equal ranges.
    NULLs of the column go to the first range. Empty result: one range, the plain query."""
    from etl.errors import SourceError

    col = f"`{column}`"
    base = f"SELECT * FROM ({checked.sql}) AS _etl_q"
    try:
        row = query_scalar_row(
            conn, f"SELECT MIN({col}), MAX({col}) FROM ({checked.sql}) AS _etl_q"
        )
    except SourceError as e:
        if e.fields.get("code") == 1054:
            raise UsageError(f"--split-column {column!r} is not a column of the result") from None
        raise
    if not row or row[0] is None:
        return [Range(0, checked.sql, 0, 0)]
    try:
        low, high = int(row[0]), int(row[1])
    except ValueError:
        raise UsageError(f"--split-column {column!r} must be an integer column") from None
    step = max(1, math.ceil((high - low + 1) / n))
    ranges: list[Range] = []
    for k in range(n):
        a = low + k * step
        if a > high:
            break
        b = min(high, a + step - 1)
        cond = f"{col} BETWEEN {a} AND {b}"
        if k == 0:
            cond = f"({cond} OR {col} IS NULL)"
        ranges.append(Range(k, f"{base} WHERE {cond}", a, b))
    return ranges


def _extract_one(
    cfg: Config,
    conn: Any,
    sql: str,
    log: Log,
    next_part_number: Any,
    cancelled: Any = lambda: False,
    s3: Any = None,
) -> ExtractResult:
    s3 = s3 or s3_client(cfg)
    cur, columns, binary = open_stream(conn, sql)
    rows: RowSource
    if cfg.tuning.row_reader == "wire" and WireRows.usable(conn, cur):
        rows = WireRows(conn, cur, len(columns), binary)
    else:
        rows = FetchmanyRows(cur, len(columns))
    log.info("query", columns=len(columns), binary_columns=len(binary), reader=type(rows).__name__)
    try:
        result = Extractor(
            s3=s3,
            bucket=cfg.bucket,
            run_prefix=cfg.run_prefix,
            tuning=cfg.tuning,
            log=log,
            next_part_number=next_part_number,
            cancelled=cancelled,
        ).run(rows, columns, binary)
    except BaseException:
        abandon_stream(conn, cur)
        raise
    cur.close()
    log.info(
        "extract",
        rows=result.rows,
        bytes=result.bytes,
        raw_bytes=result.raw_bytes,
        parts=len(result.parts),
        seconds=round(result.seconds, 3),
        rows_per_s=round(result.rows / result.seconds) if result.seconds else None,
    )
    return result


def _counter_alloc(counter: Any) -> Any:
    def alloc() -> int:
        with counter.get_lock():
            n = int(counter.value)
            counter.value = n + 1
            return n

    return alloc


def _worker(
    cfg: Config,
    secret: DbSecret,
    rng: Range,
    counter: Any,
    cancel: Any,
    results: Any,
    log: Log,
) -> None:
    """Body of a forked worker process: its own DB connection and S3 client."""
    conn = None
    try:
        conn = connect(secret, cfg.tuning, log)
        begin_read_only(conn, cfg.tuning)
        result = _extract_one(cfg, conn, rng.sql, log, _counter_alloc(counter), cancel.is_set)
        _close_quietly(conn)
        results.put(("ok", rng.index, result))
    except EtlError as e:
        cancel.set()
        _close_quietly(conn)
        results.put(("error", rng.index, e))
    except BaseException as e:
        cancel.set()
        _close_quietly(conn)
        msg = redact(f"{type(e).__name__}: {e}")
        results.put(("error", rng.index, EtlError(f"internal error in worker: {msg}")))


def _collect(
    procs: dict[int, Any],
    results: Any,
    cancel: Any,
    outcomes: dict[int, ExtractResult],
    errors: list[EtlError],
) -> None:
    """Wait for every worker's report (a worker that died silently counts as failed)."""
    pending = set(procs)
    dead_since: dict[int, float] = {}
    while pending:
        try:
            status, index, payload = results.get(timeout=0.5)
        except queue.Empty:
            for index in list(pending):
                code = procs[index].exitcode
                if code is None:
                    continue
                first = dead_since.setdefault(index, time.monotonic())
                if time.monotonic() - first > 3:
                    pending.discard(index)
                    cancel.set()
                    errors.append(EtlError(f"worker {index} died with exit code {code}"))
            continue
        pending.discard(index)
        if status == "ok":
            outcomes[index] = payload
        else:
            errors.append(payload)


def _extract_parallel(
    cfg: Config, secret: DbSecret, ranges: list[Range], log: Log, s3: Any
) -> list[ExtractResult]:
    """Worker 0 runs in this process, the others in forked processes."""
    ctx = mp.get_context("fork")
    counter = ctx.Value("i", 0)
    cancel = ctx.Event()
    results: Any = ctx.Queue()
    procs = {
        rng.index: ctx.Process(
            target=_worker,
            args=(cfg, secret, rng, counter, cancel, results, log.bind(worker=rng.index)),
            name=f"etl-worker-{rng.index}",
        )
        for rng in ranges[1:]
    }
    for p in procs.values():
        p.start()
    outcomes: dict[int, ExtractResult] = {}
    errors: list[EtlError] = []
    conn = None
    own_log = log.bind(worker=0)
    try:
        conn = connect(secret, cfg.tuning, own_log)
        begin_read_only(conn, cfg.tuning)
        outcomes[0] = _extract_one(
            cfg, conn, ranges[0].sql, own_log, _counter_alloc(counter), cancel.is_set, s3=s3
        )
    except EtlError as e:
        cancel.set()
        errors.append(e)
    finally:
        _close_quietly(conn)

    try:
        _collect(procs, results, cancel, outcomes, errors)
    except BaseException:
        cancel.set()  # e.g. SIGTERM while waiting: stop the workers before cleaning up
        raise
    finally:
        for p in procs.values():
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    if errors:
        real = [e for e in errors if e.kind != "cancelled"]
        raise (real or errors)[0]
    return [outcomes[k] for k in sorted(outcomes)]


def _manifest(
    cfg: Config,
    checked: CheckedQuery,
    results: list[ExtractResult],
    started: Any,
    ranges: list[Range],
) -> dict[str, Any]:
    parts: list[PartFile] = sorted((p for r in results for p in r.parts), key=lambda p: p.number)
    finished = utc_now()
    return {
        "version": 1,
        "etl_version": __version__,
        "format": cfg.fmt,
        "run_id": cfg.run_id,
        "site": cfg.site,
        "bucket": cfg.bucket,
        "prefix": cfg.run_prefix,
        "query_sha256": checked.sha256,
        "columns": results[0].columns,
        "binary_columns": results[0].binary_columns,
        "rows": sum(p.rows for p in parts),
        "bytes": sum(p.bytes for p in parts),
        "raw_bytes": sum(r.raw_bytes for r in results),
        "parts": [p.as_manifest() for p in parts],
        "started_at": iso(started),
        "finished_at": iso(finished),
        "seconds": round((finished - started).total_seconds(), 3),
        "parallel": len(ranges),
        "split_column": cfg.split_column if len(ranges) > 1 else None,
        "csv": {
            "encoding": "utf-8",
            "compression": "gzip",
            "header": True,
            "delimiter": ",",
            "quotechar": '"',
            "doublequote": True,
            "lineterminator": LINE_END,
            "quoting": "every non-NULL value is quoted",
        },
        "null": "empty unquoted field",
        "binary": "hex",
    }


def run(cfg: Config, log: Log) -> int:
    started = utc_now()
    t0 = time.monotonic()
    s3: Any = None
    touched = False
    conn: Any = None
    try:
        try:
            checked = check_query(cfg.query)
        except QueryRejected as e:
            raise UsageError(str(e)) from None
        log.info(
            "start",
            etl_version=__version__,
            bucket=cfg.bucket,
            prefix=cfg.run_prefix,
            format=cfg.fmt,
            parallel=cfg.parallel,
            split_column=cfg.split_column,
            query=checked.original[:2000],
            query_sha256=checked.sha256,
        )
        import boto3

        session = boto3.session.Session(region_name=cfg.region)
        secret = _secret(cfg, session, log)
        conn = connect(secret, cfg.tuning, log)
        begin_read_only(conn, cfg.tuning)
        ranges = [Range(0, checked.sql, 0, 0)]
        if cfg.parallel > 1:
            assert cfg.split_column is not None
            ranges = plan_ranges(conn, checked, cfg.split_column, cfg.parallel)
            log.info("plan", ranges=[[r.low, r.high] for r in ranges] if len(ranges) > 1 else [])

        s3 = s3_client(cfg, session)
        s3_call("HeadBucket", s3.head_bucket, Bucket=cfg.bucket)
        touched = True
        # A rerun with the same run id replaces its output: clear the run prefix first; the
        # new manifest, written last, is what marks the new output complete.
        sweep(s3, cfg.bucket, cfg.run_prefix, log, reason="replace previous output")

        if len(ranges) == 1:
            counter = iter(range(1_000_000))
            results = [_extract_one(cfg, conn, ranges[0].sql, log, lambda: next(counter), s3=s3)]
            _close_quietly(conn)
            conn = None
        else:
            _close_quietly(conn)
            conn = None
            results = _extract_parallel(cfg, secret, ranges, log, s3)

        manifest = _manifest(cfg, checked, results, started, ranges)
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
        key = cfg.run_prefix + MANIFEST
        s3_call(
            "PutObject(manifest)",
            s3.put_object,
            Bucket=cfg.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
        )
        log.info("manifest", key=key, parts=len(manifest["parts"]), bytes=len(body))
        seconds = time.monotonic() - t0
        log.info(
            "done",
            exit_code=EXIT_OK,
            rows=manifest["rows"],
            bytes=manifest["bytes"],
            parts=len(manifest["parts"]),
            seconds=round(seconds, 3),
            rows_per_s=round(manifest["rows"] / seconds) if seconds else None,
        )
        return EXIT_OK
    except EtlError as e:
        error: EtlError = e
    except Exception as e:  # keep row data out of the log: redact quoted literals
        msg = redact(f"{type(e).__name__}: {e}")
        error = EtlError(f"internal error: {msg}")
    _close_quietly(conn)
    code = error.exit_code if error.exit_code else EXIT_INTERNAL
    log.error(
        "failed",
        kind=error.kind,
        error=str(error),
        exit_code=code,
        seconds=round(time.monotonic() - t0, 3),
    )
    if touched and s3 is not None:
        # Nothing of a failed run may stay visible. Retry for a while: the endpoint may be
        # back soon (the "failed" line above is already out for whoever watches).
        try:
            sweep(
                s3,
                cfg.bucket,
                cfg.run_prefix,
                log,
                retry_seconds=cfg.tuning.cleanup_seconds,
                reason="failed run",
            )
        except SinkError:
            log.error(
                "cleanup_incomplete",
                prefix=cfg.run_prefix,
                hint="remove leftovers under the prefix; an S3 lifecycle rule "
                "(AbortIncompleteMultipartUpload) removes abandoned uploads",
            )
    return code
