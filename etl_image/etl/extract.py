"""One result set (the whole query, or one key range of it) into part files."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from etl.columns import Column, arrow_type, column_entry, glue_type
from etl.config import Config
from etl.encoders import GzipCsvEncoder
from etl.errors import SourceError, UsageError
from etl.log import Log
from etl.params import pyformat_sql
from etl.pipeline import Extractor, ExtractResult
from etl.rows import CsvEncoder, FetchmanyRows, RowSource, WireRows
from etl.s3sink import s3_client
from etl.source import abandon_stream, open_stream, query_scalar_row
from etl.sqlcheck import CheckedQuery


@dataclass(frozen=True)
class Range:
    index: int
    sql: str
    low: int
    high: int


def plan_ranges(
    conn: Any, checked: CheckedQuery, column: str, n: int, params: Mapping[str, str]
) -> list[Range]:
    """Split ``[MIN(column), MAX(column)]`` of the query's result into ``n`` equal ranges.
    NULLs of the column go to the first range. Empty result: one range, the plain query.
    Every range's SQL wraps the query in ``pyformat`` style (``etl.params``): it runs with
    the same parameters, bound by the driver."""
    col = f"`{column}`"
    query = pyformat_sql(checked)
    base = f"SELECT * FROM ({query}) AS _etl_q"
    try:
        row = query_scalar_row(
            conn, f"SELECT MIN({col}), MAX({col}) FROM ({query}) AS _etl_q", params
        )
    except SourceError as e:
        if e.fields.get("code") == 1054:
            raise UsageError(f"--split-column {column!r} is not a column of the result") from None
        raise
    if not row or row[0] is None:
        return [Range(0, query, 0, 0)]
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


def extract(
    cfg: Config,
    conn: Any,
    sql: str,
    log: Log,
    *,
    part_numbers: Iterator[int],
    check: Callable[[], None],
    grace: Callable[[], float],
    s3: Any = None,
    on_columns: Callable[[list[Column]], None] | None = None,
) -> ExtractResult:
    """Run ``sql`` (``pyformat`` style, bound with ``cfg.params``) on ``conn`` (read-only
    session already begun) and stream it to S3. ``on_columns`` sees the result's columns
    before the first row is read (the catalog refuses an incompatible schema there)."""
    s3 = s3 or s3_client(cfg)
    cur, columns = open_stream(conn, sql, cfg.params)
    binary = [i for i, c in enumerate(columns) if c.is_binary]
    hex_binary = cfg.fmt == "csv.gz"
    rows: RowSource
    if cfg.tuning.row_reader == "wire" and WireRows.usable(conn, cur):
        rows = WireRows(conn, cur, len(columns), binary, hex_binary=hex_binary)
    else:
        rows = FetchmanyRows(cur, len(columns), binary, hex_binary=hex_binary)
    try:
        if on_columns is not None:
            on_columns(columns)
        encoder, manifest_columns = _encoder(cfg, columns)
        log.info(
            "query",
            columns=len(columns),
            binary_columns=len(binary),
            reader=type(rows).__name__,
            encoder=encoder.name,
        )
        result = Extractor(
            s3=s3,
            bucket=cfg.bucket,
            run_prefix=cfg.run_prefix,
            tuning=cfg.tuning,
            log=log,
            next_part_number=part_numbers.__next__,
            encoder=encoder,
            check=check,
            grace=grace,
        ).run(rows)
    except BaseException:
        abandon_stream(conn, cur)
        raise
    cur.close()
    result.columns = manifest_columns()
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


def _encoder(cfg: Config, columns: list[Column]) -> tuple[Any, Callable[[], list[dict[str, Any]]]]:
    """The part file encoder for ``cfg.fmt``, and a function that gives the columns'
    manifest entries once the extract is over (zero dates are counted on the way)."""
    if cfg.fmt == "csv.gz":
        header = CsvEncoder(len(columns)).header([c.name for c in columns])
        try:
            gz = GzipCsvEncoder(
                header,
                cfg.tuning.compress_level,
                cfg.tuning.gzip,
                ncols=len(columns),
                binary=[i for i, c in enumerate(columns) if c.is_binary],
                vector=cfg.tuning.vector,
            )
        except ValueError as e:
            raise UsageError(f"ETL_GZIP: {e}") from None

        def csv_columns() -> list[dict[str, Any]]:
            return [
                column_entry(
                    c,
                    arrow_type(c, wide_decimal=cfg.wide_decimals).name,
                    nullable=c.nullable,
                    csv_encoding="hex" if c.is_binary else None,
                )
                for c in columns
            ]

        return gz, csv_columns

    from etl.arrow import ParquetEncoder, plan_columns  # pyarrow only when writing Parquet

    plans = plan_columns(columns, wide_decimal=cfg.wide_decimals, zero_dates=cfg.zero_dates)
    pq = ParquetEncoder(
        plans,
        compression=cfg.tuning.parquet_compression,
        row_group_bytes=cfg.tuning.row_group_bytes,
        row_group_rows=cfg.tuning.row_group_rows,
        vector=cfg.tuning.vector,
    )

    def parquet_columns() -> list[dict[str, Any]]:
        entries = []
        for p in plans:
            entry = column_entry(
                p.column,
                str(p.arrow_type),
                nullable=p.nullable,
                zero_dates_nulled=p.invalid if p.dates else None,
            )
            # what the Glue table says (None: no type Athena reads; no catalog for it)
            entry["glue_type"] = glue_type(arrow_type(p.column, wide_decimal=cfg.wide_decimals))
            entries.append(entry)
        return entries

    return pq, parquet_columns
