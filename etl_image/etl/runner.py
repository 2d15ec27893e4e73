"""One run: validate, read the secret, connect, clear the run prefix, extract, write the
manifest, then (with ``--glue-database``) register the run's partition. Any failure after S3
was touched removes the run's partition, then everything under the run prefix.

Stop signals (see ``etl.stop``) are taken at safe points: between phases here, between
batches in the extractor, and as a lost connection when the handler shut the database socket
down. Whatever the moment, the run ends as ``Terminated`` (exit 128 + signal) after its
cleanup, which a second signal does not cut short (only the stop budget does).
"""

from __future__ import annotations

import gc
import itertools
import json
import time
from typing import Any

from etl import __version__
from etl.catalog import Catalog, CatalogError
from etl.config import Config
from etl.errors import EXIT_INTERNAL, EXIT_OK, EtlError, SinkError, Terminated, UsageError
from etl.extract import Range, extract, plan_ranges
from etl.log import Log, iso, utc_now
from etl.memory import release_memory, trim
from etl.params import check_params, pyformat_sql
from etl.pipeline import ExtractResult
from etl.rows import LINE_END
from etl.s3sink import PartFile, aws_client, s3_call, s3_client, sweep
from etl.secret import DbSecret, fetch_secret
from etl.source import begin_read_only, close_quietly, connect, redact
from etl.sqlcheck import CheckedQuery, QueryRejected, check_query
from etl.stop import StopRequest, signal_name
from etl.workers import run_workers

MANIFEST = "_manifest.json"


def _secret(cfg: Config, log: Log) -> DbSecret:
    started = time.monotonic()
    # A session of its own: its service model is dropped with it (the S3 client's session
    # would cache it for the whole run).
    client = aws_client(cfg, "secretsmanager")
    secret = fetch_secret(client, cfg.secret_id)
    del client
    gc.collect()
    Log.mask(secret.password)
    log.info(
        "secret",
        secret_id=cfg.secret_id,
        tls=secret.tls,
        seconds=round(time.monotonic() - started, 3),
    )
    return secret


CSV_DIALECT = {
    "encoding": "utf-8",
    "compression": "gzip",
    "header": True,
    "delimiter": ",",
    "quotechar": '"',
    "doublequote": True,
    "escapechar": None,
    "lineterminator": LINE_END,
    "quoting": "every non-NULL value",
    "null": "empty unquoted field",
    "empty_string": '""',
    "binary": "lowercase hex",
    "values": "the server's text (session time zone +00:00)",
}


def merge_columns(results: list[ExtractResult]) -> list[dict[str, Any]]:
    """The workers' column entries are the same but for the zero dates each one counted."""
    merged = [dict(c) for c in results[0].columns]
    for r in results[1:]:
        for entry, other in zip(merged, r.columns, strict=True):
            if "zero_dates_nulled" in entry:
                entry["zero_dates_nulled"] += other.get("zero_dates_nulled", 0)
    return merged


def _manifest(
    cfg: Config,
    checked: CheckedQuery,
    results: list[ExtractResult],
    started: Any,
    ranges: list[Range],
    source: dict[str, str],
) -> dict[str, Any]:
    parts: list[PartFile] = sorted((p for r in results for p in r.parts), key=lambda p: p.number)
    finished = utc_now()
    manifest: dict[str, Any] = {
        "version": 2,
        "etl_version": __version__,
        "format": cfg.fmt,
        "run_id": cfg.run_id,
        "site": cfg.site,
        "bucket": cfg.bucket,
        "prefix": cfg.run_prefix,
        "query_sha256": checked.sha256,
        "parameters": dict(cfg.params),
        "catalog": (
            {"database": cfg.glue_database, "table": cfg.table_name, "partition": cfg.run_id}
            if cfg.glue_database
            else None
        ),
        "source": source,
        "columns": merge_columns(results),
        "rows": sum(p.rows for p in parts),
        "bytes": sum(p.bytes for p in parts),
        "raw_bytes": sum(r.raw_bytes for r in results),
        "parts": [p.as_manifest() for p in parts],
        "started_at": iso(started),
        "finished_at": iso(finished),
        "seconds": round((finished - started).total_seconds(), 3),
        "parallel": len(ranges),
        "split_column": cfg.split_column if len(ranges) > 1 else None,
    }
    if cfg.fmt == "csv.gz":
        manifest["csv"] = CSV_DIALECT
    else:
        manifest["parquet"] = {
            "compression": cfg.tuning.parquet_compression,
            "zero_dates": cfg.zero_dates,
            "wide_decimals": cfg.wide_decimals,
        }
    return manifest


def run(cfg: Config, log: Log, stop: StopRequest) -> int:
    started = utc_now()
    t0 = time.monotonic()
    s3: Any = None
    touched = False
    conn: Any = None
    catalog: Catalog | None = None
    try:
        try:
            checked = check_query(cfg.query)
        except QueryRejected as e:
            raise UsageError(str(e)) from None
        check_params(checked, cfg.params)
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
            parameters=cfg.params,  # bound values, not secrets (README)
            glue_database=cfg.glue_database,
        )
        import boto3

        stop.check()
        if cfg.glue_database:  # fail fast, before any row, if the database is out of reach
            # First: Glue's client is the biggest, and what it leaves behind when dropped is
            # reused by the ones made after it (Secrets Manager, S3).
            catalog = Catalog(
                cfg, log, lambda **kw: aws_client(cfg, "glue", region=cfg.glue_region, **kw)
            )
            catalog.open()
            stop.check()
        session = boto3.session.Session(region_name=cfg.region)
        secret = _secret(cfg, log)
        stop.check()
        conn = connect(secret, cfg.tuning, log, stop)
        source = begin_read_only(conn, cfg.tuning)
        ranges = [Range(0, pyformat_sql(checked), 0, 0)]
        if cfg.parallel > 1:
            assert cfg.split_column is not None
            ranges = plan_ranges(conn, checked, cfg.split_column, cfg.parallel, cfg.params)
            log.info("plan", ranges=[[r.low, r.high] for r in ranges] if len(ranges) > 1 else [])

        stop.check()
        s3 = s3_client(cfg, session)
        gc.collect()
        trim()  # start-up's temporary objects (service models) are gone: give the memory back
        # The bucket check stays inside the run prefix: the task role may list only its
        # site's prefix (s3:prefix condition), which a HeadBucket does not carry.
        s3_call(
            "ListObjectsV2",
            s3.list_objects_v2,
            Bucket=cfg.bucket,
            Prefix=cfg.run_prefix,
            MaxKeys=1,
        )
        touched = True
        # A rerun with the same run id replaces its output: drop its partition, clear the run
        # prefix; the new manifest, then the new partition, mark the new output complete.
        if catalog is not None:
            catalog.forget_run()
        sweep(s3, cfg.bucket, cfg.run_prefix, log, reason="replace previous output")
        stop.check()

        if len(ranges) == 1:
            results = [
                extract(
                    cfg,
                    conn,
                    ranges[0].sql,
                    log,
                    part_numbers=itertools.count(),
                    check=stop.check,
                    grace=lambda: stop.remaining(30.0) / 2,
                    s3=s3,
                    on_columns=catalog.precheck if catalog else None,
                )
            ]
            close_quietly(conn)
            conn = None
        else:
            close_quietly(conn)  # no connection crosses a fork
            conn = None
            results = run_workers(
                cfg, secret, ranges, log, stop, catalog.precheck if catalog else None
            )

        manifest = _manifest(cfg, checked, results, started, ranges, source)
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
        key = cfg.run_prefix + MANIFEST
        stop.check()
        s3_call(
            "PutObject(manifest)",
            s3.put_object,
            Bucket=cfg.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
        )
        # A signal during the PUT still stops the run: the cleanup deletes the manifest first.
        stop.check()
        log.info("manifest", key=key, parts=len(manifest["parts"]), bytes=len(body))
        if catalog is not None:
            release_memory()  # the stream's buffers, before Glue's client is made again
            catalog.publish(manifest, key)
            # ... and a signal while the partition was added: the cleanup withdraws it first.
            stop.check()
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
    close_quietly(conn)
    if stop.signum is not None and not isinstance(error, Terminated):
        error = Terminated(stop.signum)  # what failed after the signal failed because of it
    log.error(
        "failed",
        kind=error.kind,
        error=str(error),
        exit_code=error.exit_code or EXIT_INTERNAL,
        seconds=round(time.monotonic() - t0, 3),
        **({"signals": stop.count} if stop.count else {}),
    )
    if touched:
        _clean_up(cfg, log, stop, catalog)
    code = error.exit_code or EXIT_INTERNAL
    if stop.signum is not None:
        code = 128 + stop.signum
        log.warning(
            "stopped",
            signal=signal_name(stop.signum),
            signals=stop.count,
            exit_code=code,
            seconds=round(time.monotonic() - t0, 3),
        )
    return code


def _clean_up(cfg: Config, log: Log, stop: StopRequest, catalog: Catalog | None) -> None:
    """Nothing of a failed run may stay visible: its partition goes first, then its files.
    Retry for a while (the endpoint may be back soon), but never past the stop budget once a
    signal has arrived."""
    started = time.monotonic()
    if catalog is not None and catalog.partition_written:
        try:
            catalog.withdraw()
        except CatalogError as e:
            # Its files stay: a partition must never point at a half-deleted run.
            log.error(
                "cleanup_incomplete",
                prefix=cfg.run_prefix,
                error=str(e),
                hint=f"partition run={cfg.run_id} of {cfg.glue_database}.{cfg.table_name} "
                "may still be registered, so its (complete) files were kept: delete the "
                "partition, then the prefix, or rerun the same run id",
            )
            return

    def until() -> float:
        limit = started + cfg.tuning.cleanup_seconds
        return limit if stop.deadline is None else min(limit, stop.deadline)

    try:
        # Its own client with short timeouts: cleanup requests are small, and a hung
        # endpoint must not eat the stop budget in one call.
        s3 = aws_client(cfg, "s3", timeout=min(cfg.tuning.s3_timeout, 5.0), attempts=2)
        sweep(s3, cfg.bucket, cfg.run_prefix, log, reason="failed run", until=until, settle=True)
    except SinkError:
        log.error(
            "cleanup_incomplete",
            prefix=cfg.run_prefix,
            hint="remove leftovers under the prefix; an S3 lifecycle rule "
            "(AbortIncompleteMultipartUpload) removes abandoned uploads",
        )
