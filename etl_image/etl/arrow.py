"""Typed Arrow batches from the row reader's CSV bytes, and Parquet files from them.

The row reader (``etl.rows``) turns row packets into the ETL's CSV dialect (every value quoted,
NULL an empty unquoted field, binary values raw here). pyarrow's CSV parser, in C++ and off the
GIL, reads each batch back with the per-column read type of ``plan_columns``; the few types the
parser cannot produce (dates that may be zero, TIME, BIT, ENUM/SET) are converted with Arrow
compute kernels, not per value in Python. ``ParquetEncoder`` gathers batches into row groups
of ``row_group_bytes`` and writes them with ``pyarrow.parquet.ParquetWriter``.

Imported only for ``--format parquet``: the CSV path never pays for pyarrow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pymysql.constants import FIELD_TYPE

from etl.columns import ArrowType, Column, arrow_type, holds_dates
from etl.errors import SourceError
from etl.rows import RawBatch

Convert = Callable[[pa.Array], pa.Array]

_VALID_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"^(?P<sign>-?)(?P<h>[0-9]+):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]+))?$"
_UNIT_DIGITS = {"ms": 3, "us": 6}


def to_pyarrow(t: ArrowType) -> pa.DataType:
    k = t.kind
    if k == "int":
        return pa.type_for_alias(f"int{t.bits}")
    if k == "decimal128":
        return pa.decimal128(t.precision, t.scale)
    if k == "decimal256":
        return pa.decimal256(t.precision, t.scale)
    if k == "timestamp":
        return pa.timestamp(t.unit, tz=t.tz)
    if k == "duration":
        return pa.duration(t.unit)
    if k == "dictionary":
        return pa.dictionary(pa.int32(), pa.string())
    return {
        "float": pa.float32(),
        "double": pa.float64(),
        "date32": pa.date32(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "binary": pa.binary(),
        "null": pa.null(),
    }[k]


@dataclass
class ColumnPlan:
    column: Column
    arrow_type: pa.DataType  # in the file
    read_type: pa.DataType  # what the CSV parser produces
    nullable: bool
    convert: Convert | None = None
    dates: bool = False  # may hold zero/impossible dates
    invalid: int = 0  # ... of which this many became NULL so far


def plan_columns(columns: list[Column], *, wide_decimal: str, zero_dates: str) -> list[ColumnPlan]:
    return [_plan(c, wide_decimal=wide_decimal, zero_dates=zero_dates) for c in columns]


def _plan(c: Column, *, wide_decimal: str, zero_dates: str) -> ColumnPlan:
    spec = arrow_type(c, wide_decimal=wide_decimal)
    typ = to_pyarrow(spec)
    if holds_dates(c):
        return _dates(c, typ, zero_dates)
    if spec.kind == "duration":
        return ColumnPlan(c, typ, pa.string(), c.nullable, _time_converter(spec.unit))
    if c.type_code == FIELD_TYPE.BIT:
        convert = _bit1 if spec.kind == "bool" else lambda a: _bits(a, typ)
        return ColumnPlan(c, typ, pa.binary(), c.nullable, convert)
    if spec.kind == "null":
        return ColumnPlan(c, typ, pa.string(), True, lambda a: pa.nulls(len(a)))
    if spec.kind == "dictionary":
        return ColumnPlan(c, typ, pa.string(), c.nullable, pc.dictionary_encode)
    if spec.kind == "decimal256":  # the CSV parser stops at decimal128; the cast does not
        return ColumnPlan(c, typ, pa.string(), c.nullable, lambda a: pc.cast(a, typ))
    return ColumnPlan(c, typ, typ, c.nullable)  # the CSV parser makes it directly


def _dates(c: Column, typ: pa.DataType, zero_dates: str) -> ColumnPlan:
    # A zero date has no Arrow value: NULL (counted), so the column is nullable in the file.
    plan = ColumnPlan(c, typ, pa.string(), c.nullable or zero_dates == "null", dates=True)

    def convert(arr: pa.Array) -> pa.Array:
        valid = pc.match_substring_regex(arr, _VALID_DATE)
        # Non-null values that are not a possible date (a NULL matches nothing: not counted).
        invalid = len(arr) - arr.null_count - int(pc.sum(valid).as_py() or 0)
        if invalid and zero_dates == "fail":
            raise SourceError(
                f"column {c.name!r} ({c.source_type}) holds a zero or impossible date, which "
                "has no Parquet value (ETL_ZERO_DATES=null writes NULL instead)"
            )
        masked = pc.if_else(valid, arr, pa.scalar(None, pa.string())) if invalid else arr
        try:
            out = _cast_dates(masked, typ)
        except pa.ArrowInvalid:  # a day the month does not have (ALLOW_INVALID_DATES)
            masked, extra = _null_impossible(masked, typ)
            if extra and zero_dates == "fail":
                raise SourceError(
                    f"column {c.name!r} ({c.source_type}) holds an impossible date"
                ) from None
            invalid += extra
            out = _cast_dates(masked, typ)
        plan.invalid += invalid
        return out

    plan.convert = convert
    return plan


def _cast_dates(arr: pa.Array, typ: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(typ) and typ.tz is not None:
        naive = pc.cast(arr, pa.timestamp(typ.unit))
        return pc.assume_timezone(naive, "UTC").cast(typ)
    return pc.cast(arr, typ)


def _null_impossible(arr: pa.Array, typ: pa.DataType) -> tuple[pa.Array, int]:
    """Slow path, only for a batch that holds one: NULL every value Python can't read."""
    keep, dropped = [], 0
    for v in arr.to_pylist():
        if v is not None:
            try:
                dt.date.fromisoformat(v[:10])
            except ValueError:
                v = None
                dropped += 1
        keep.append(v)
    return pa.array(keep, pa.string()), dropped


def _time_converter(unit: str) -> Convert:
    digits = _UNIT_DIGITS[unit]
    per_second = 10**digits

    def convert(arr: pa.Array) -> pa.Array:
        # flatten(): the fields with the row's NULL applied (field() would give "" there).
        sign, h, m, s, f = pc.extract_regex(arr, _TIME).flatten()
        h, m, s = (pc.cast(x, pa.int64()) for x in (h, m, s))
        total = pc.multiply(pc.add(pc.multiply(pc.add(pc.multiply(h, 60), m), 60), s), per_second)
        frac = pc.utf8_slice_codeunits(pc.utf8_rpad(f, digits, "0"), 0, digits)
        total = pc.add(total, pc.cast(frac, pa.int64()))
        total = pc.if_else(pc.equal(sign, "-"), pc.negate(total), total)
        return pc.cast(total, pa.duration(unit))

    return convert


def _bit1(arr: pa.Array) -> pa.Array:
    return pc.not_equal(arr, pa.scalar(b"\x00", pa.binary()))


def _bits(arr: pa.Array, typ: pa.DataType) -> pa.Array:
    """BIT(n) bytes, big-endian, as int64 (n < 64) or decimal128(20, 0) (BIT(64))."""
    return pa.array([None if v is None else int.from_bytes(v, "big") for v in arr.to_pylist()], typ)


class BatchDecoder:
    """CSV bytes of one batch of rows -> a typed ``RecordBatch``."""

    def __init__(self, plans: list[ColumnPlan]) -> None:
        self.plans = plans
        names = [f"c{i}" for i in range(len(plans))]  # result columns may share a name
        self.schema = pa.schema(
            [pa.field(p.column.name, p.arrow_type, nullable=p.nullable) for p in plans]
        )
        import pyarrow.csv as pcsv  # only for batches the Python reader made (rare)

        self.parse_options = pcsv.ParseOptions(
            delimiter=",",
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            ignore_empty_lines=False,  # a one-column NULL row is an empty line
        )
        self.convert_options = pcsv.ConvertOptions(
            column_types={n: p.read_type for n, p in zip(names, plans, strict=True)},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is the empty string, not NULL
        )
        self.names = names

    def decode(self, data: bytes) -> pa.RecordBatch:
        import pyarrow.csv as pcsv

        read_options = pcsv.ReadOptions(
            column_names=self.names, use_threads=False, block_size=max(len(data) + 1, 1 << 20)
        )
        try:
            table = pcsv.read_csv(
                pa.py_buffer(data),
                read_options=read_options,
                parse_options=self.parse_options,
                convert_options=self.convert_options,
            )
        except pa.ArrowInvalid as e:
            raise SourceError(f"a value does not fit its column's type: {_no_values(e)}") from None
        arrays = []
        for plan, chunked in zip(self.plans, table.columns, strict=True):
            arr = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
            arrays.append(_typed(plan, arr))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def from_packets(self, batch: RawBatch) -> pa.RecordBatch:
        """Row packets -> typed batch, without the CSV detour (``etl.wirebatch``)."""
        from etl import wirebatch

        arrays = []
        columns = wirebatch.locate(batch, len(self.plans))
        try:
            for plan, (start, length, valid) in zip(self.plans, columns, strict=True):
                binary = plan.read_type == pa.binary()
                view = wirebatch.view_array(batch.data, start, length, valid, binary=binary)
                arr = view.cast(pa.binary() if binary else pa.string())
                arrays.append(_typed(plan, arr))
        except pa.ArrowInvalid as e:
            raise SourceError(f"a value does not fit its column's type: {_no_values(e)}") from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _typed(plan: ColumnPlan, arr: pa.Array) -> pa.Array:
    if plan.convert is not None:
        return plan.convert(arr)
    return arr if arr.type == plan.arrow_type else arr.cast(plan.arrow_type)


def _no_values(e: BaseException) -> str:
    """pyarrow's conversion errors quote the value: keep row data out of the logs."""
    text = str(e)
    for marker in (": '", ' "'):
        if marker in text:
            text = text.split(marker, 1)[0] + " (value not shown)"
    return text.splitlines()[0] if text else type(e).__name__


class _Sink:
    """The file object ``ParquetWriter`` writes to: bytes are taken out as they come."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        b = memoryview(data).cast("B")
        self.buf += b
        self.position += len(b)
        return len(b)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytearray:
        out, self.buf = self.buf, bytearray()
        return out


class ParquetEncoder:
    """Batches in, Parquet file bytes out (one file between ``open`` and ``close``)."""

    extension = ".parquet"
    content_type = "application/vnd.apache.parquet"
    initial_ratio = 0.2

    def __init__(
        self,
        plans: list[ColumnPlan],
        *,
        compression: str,
        row_group_bytes: int,
        row_group_rows: int,
        vector: bool = True,
    ) -> None:
        self.decoder = BatchDecoder(plans)
        self.dictionary_columns = [
            p.column.name for p in plans if pa.types.is_dictionary(p.arrow_type)
        ]
        self.takes_raw = vector  # packet batches straight to Arrow (etl.wirebatch)
        self.compression = compression
        self.name = f"parquet ({compression})"
        self.row_group_bytes = row_group_bytes
        self.row_group_rows = row_group_rows
        self.sink: _Sink | None = None
        self.writer: pq.ParquetWriter | None = None
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.pending_raw = 0

    def open(self) -> bytes:
        self.sink = _Sink()
        self.writer = pq.ParquetWriter(
            self.sink,
            self.decoder.schema,
            compression=self.compression,
            # Dictionary pages for ENUM/SET only: for other strings the writer's dictionary
            # builders cost ~20 MB per file in flight, and zstd catches the repeats anyway.
            use_dictionary=self.dictionary_columns,
            write_statistics=True,
            store_schema=True,  # Arrow types pyarrow restores on read (dictionary, s unit)
        )
        return bytes(self.sink.take())

    def write(self, data: bytes) -> bytearray:
        return self._add(self.decoder.decode(data), len(data))

    def _add(self, batch: pa.RecordBatch, raw: int) -> bytearray:
        self.pending_raw += raw
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        self.pending_bytes += batch.nbytes
        if self.pending_bytes >= self.row_group_bytes or self.pending_rows >= self.row_group_rows:
            self._flush()
        assert self.sink is not None
        return self.sink.take()

    def write_raw(self, batch: RawBatch) -> bytearray:
        return self._add(self.decoder.from_packets(batch), batch.size)

    def _flush(self) -> None:
        if self.pending:
            assert self.writer is not None
            table = pa.Table.from_batches(self.pending, schema=self.decoder.schema)
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.pending, self.pending_rows, self.pending_bytes, self.pending_raw = [], 0, 0, 0

    def close(self) -> bytearray:
        self._flush()
        assert self.writer is not None
        assert self.sink is not None
        self.writer.close()
        out = self.sink.take()
        self.writer = self.sink = None
        return out
