"""What the result set says about its columns, and the Arrow type each one becomes.

The server describes every column of a result (type code, flags, length, decimals, character
set) before the first row. That is all the typing needs: no guess from the values.

| source | Arrow (Parquet) | Glue / Athena |
|---|---|---|
| TINYINT, SMALLINT, MEDIUMINT, INT, BIGINT | int8/16/32/32/64 | tinyint, smallint, int, int, bigint |
| the same UNSIGNED | the next wider signed type: int16/32/32/64, and decimal128(20,0) for
  BIGINT UNSIGNED | smallint, int, int, bigint, decimal(20,0) |
| DECIMAL(p,s) | decimal128(p,s) up to p = 38; above, exact text (``wide_decimal="string"``, the
  default: DuckDB, Athena and Spark stop at 38 digits) or decimal256 | decimal(p,s); string;
  none (decimal256 has no Athena type) |
| FLOAT, DOUBLE | float32, float64 (FLOAT is the server's 6-digit text, as ``mysql`` shows it) |
  float, double |
| DATE | date32 | date |
| DATETIME(n) | timestamp, unit ms (n = 0-3) or us (4-6), no time zone | timestamp |
| TIMESTAMP(n) | timestamp, same units, UTC (the session time zone is +00:00) | timestamp |
| TIME(n) | duration, same units (TIME spans -838:59:59 to 838:59:59: not a time of day) | bigint
  (the count of ms or us) |
| YEAR | int16 | smallint |
| BIT(1) | bool; BIT(2-63): int64; BIT(64): decimal128(20,0) | boolean, bigint, decimal(20,0) |
| CHAR, VARCHAR, TEXT, JSON | string (UTF-8; the connection's utf8mb4 converts latin1 & co) |
  string |
| ENUM, SET | dictionary<int32, string> | string |
| BINARY, VARBINARY, BLOB, GEOMETRY | binary | binary |

No unsigned Arrow type is written: Athena (Trino) and Spark read Parquet's unsigned integer
annotations as signed, so an INT UNSIGNED above 2^31 or a BIGINT UNSIGNED above 2^63 would come
back negative there. The next wider signed type holds every value for every reader.

Zero and other impossible dates (``0000-00-00``, ``2024-02-00``, ``2024-02-30`` where the
server's SQL mode allows them) have no Arrow value: they become NULL and are counted per
column, or fail the run (``zero_dates="fail"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymysql.constants import FIELD_TYPE, FLAG

BINARY_CHARSET = 63

_INT_WIDTH = {
    FIELD_TYPE.TINY: 8,
    FIELD_TYPE.SHORT: 16,
    FIELD_TYPE.INT24: 32,
    FIELD_TYPE.LONG: 32,
    FIELD_TYPE.LONGLONG: 64,
}
_INT_NAME = {
    FIELD_TYPE.TINY: "TINYINT",
    FIELD_TYPE.SHORT: "SMALLINT",
    FIELD_TYPE.INT24: "MEDIUMINT",
    FIELD_TYPE.LONG: "INT",
    FIELD_TYPE.LONGLONG: "BIGINT",
}
_STRINGISH = {
    FIELD_TYPE.VARCHAR: "VARCHAR",
    FIELD_TYPE.VAR_STRING: "VARCHAR",
    FIELD_TYPE.STRING: "CHAR",
    FIELD_TYPE.TINY_BLOB: "TINYBLOB",
    FIELD_TYPE.BLOB: "BLOB",
    FIELD_TYPE.MEDIUM_BLOB: "MEDIUMBLOB",
    FIELD_TYPE.LONG_BLOB: "LONGBLOB",
}
_BINARY_NAMES = {"VARCHAR": "VARBINARY", "CHAR": "BINARY"}
_BLOB_SIZES = (("TINY", 255), ("", 65535), ("MEDIUM", 16777215))
MAX_DECIMAL128 = 38
# An unsigned integer of each width goes into the next wider signed one (see the docstring).
_UNSIGNED_WIDTH = {
    FIELD_TYPE.TINY: 16,
    FIELD_TYPE.SHORT: 32,
    FIELD_TYPE.INT24: 32,
    FIELD_TYPE.LONG: 64,
}
UINT64 = ("decimal128", 20, 0)  # BIGINT UNSIGNED, BIT(64): 0 .. 18446744073709551615


@dataclass(frozen=True)
class Column:
    """One column as the server described it."""

    name: str
    type_code: int
    flags: int
    charsetnr: int
    length: int
    decimals: int

    @classmethod
    def from_field(cls, f: Any) -> Column:
        return cls(
            name=f.name,
            type_code=f.type_code,
            flags=f.flags,
            charsetnr=f.charsetnr,
            length=f.length,
            decimals=f.scale,
        )

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & FLAG.UNSIGNED)

    @property
    def nullable(self) -> bool:
        return not self.flags & FLAG.NOT_NULL

    @property
    def is_binary(self) -> bool:
        """Bytes without a character set: written as binary (hex in CSV)."""
        if self.type_code in (FIELD_TYPE.BIT, FIELD_TYPE.GEOMETRY):
            return True
        return self.type_code in _STRINGISH and self.charsetnr == BINARY_CHARSET

    @property
    def is_enum(self) -> bool:
        return self.type_code == FIELD_TYPE.ENUM or bool(self.flags & FLAG.ENUM)

    @property
    def is_set(self) -> bool:
        return self.type_code == FIELD_TYPE.SET or bool(self.flags & FLAG.SET)

    @property
    def is_decimal(self) -> bool:
        return self.type_code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL)

    @property
    def precision(self) -> int | None:
        """Digits of a DECIMAL (the wire gives the display length: digits, sign, point)."""
        if not self.is_decimal:
            return None
        return self.length - (1 if self.decimals else 0) - (0 if self.unsigned else 1)

    @property
    def scale(self) -> int | None:
        if self.is_decimal:
            return self.decimals
        if self.type_code in _TEMPORAL_WITH_FRACTION:
            return self.fraction_digits
        return None

    @property
    def fraction_digits(self) -> int:
        """n of DATETIME(n), TIMESTAMP(n), TIME(n) (the wire says 0-6; 31 means 'unknown')."""
        return self.decimals if 0 <= self.decimals <= 6 else 6

    @property
    def source_type(self) -> str:
        """The column's type as MySQL would name it (as far as the wire tells)."""
        t = self.type_code
        unsigned = " UNSIGNED" if self.unsigned else ""
        if t in _INT_NAME:
            return _INT_NAME[t] + unsigned
        if self.is_decimal:
            return f"DECIMAL({self.precision},{self.decimals}){unsigned}"
        if t == FIELD_TYPE.FLOAT:
            return "FLOAT" + unsigned
        if t == FIELD_TYPE.DOUBLE:
            return "DOUBLE" + unsigned
        if t in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
            return "DATE"
        if t in _TEMPORAL_WITH_FRACTION:
            name = _TEMPORAL_WITH_FRACTION[t]
            return f"{name}({self.fraction_digits})" if self.fraction_digits else name
        if t == FIELD_TYPE.YEAR:
            return "YEAR"
        if t == FIELD_TYPE.BIT:
            return f"BIT({self.length})"
        if t == FIELD_TYPE.JSON:
            return "JSON"
        if t == FIELD_TYPE.GEOMETRY:
            return "GEOMETRY"
        if t == FIELD_TYPE.NULL:
            return "NULL"
        if self.is_enum:
            return "ENUM"
        if self.is_set:
            return "SET"
        if t in _STRINGISH:
            binary = self.charsetnr == BINARY_CHARSET
            # Lengths are in bytes of the connection's character set (utf8mb4: 4 a character).
            chars = self.length // (1 if binary else 4)
            if _STRINGISH[t] in ("VARCHAR", "CHAR"):
                name = _STRINGISH[t]
                return f"{_BINARY_NAMES[name] if binary else name}({chars})"
            size = next(
                (n for n, top in _BLOB_SIZES if chars <= top and self.length < 0xFFFFFFFF), "LONG"
            )
            return f"{size}{'BLOB' if binary else 'TEXT'}"
        return f"TYPE {t}"


_TEMPORAL_WITH_FRACTION = {
    FIELD_TYPE.DATETIME: "DATETIME",
    FIELD_TYPE.TIMESTAMP: "TIMESTAMP",
    FIELD_TYPE.TIME: "TIME",
}


@dataclass(frozen=True)
class ArrowType:
    """An Arrow type without importing pyarrow (the CSV path never does). ``name`` is what
    ``str()`` of the pyarrow type prints, as the manifest records it."""

    kind: str  # int, decimal128, decimal256, float, double, date32, timestamp, ...
    bits: int = 0
    precision: int = 0
    scale: int = 0
    unit: str = ""
    tz: str | None = None

    @property
    def name(self) -> str:
        k = self.kind
        if k == "int":
            return f"int{self.bits}"
        if k in ("decimal128", "decimal256"):
            return f"{k}({self.precision}, {self.scale})"
        if k == "date32":
            return "date32[day]"
        if k == "timestamp":
            return f"timestamp[{self.unit}, tz={self.tz}]" if self.tz else f"timestamp[{self.unit}]"
        if k == "duration":
            return f"duration[{self.unit}]"
        if k == "dictionary":
            return "dictionary<values=string, indices=int32, ordered=0>"
        return k  # float, double, bool, string, binary, null


def time_unit(fraction_digits: int) -> str:
    """DATETIME(0-3) -> ms, (4-6) -> us: the coarsest unit that is exact and that Parquet has
    (its timestamps count milli-, micro- or nanoseconds; pyarrow would store seconds as ms)."""
    return "ms" if fraction_digits <= 3 else "us"


def arrow_type(c: Column, *, wide_decimal: str = "string") -> ArrowType:
    """The Arrow type of a column's values (the table in this module's docstring)."""
    t = c.type_code
    if t in _INT_WIDTH:
        if not c.unsigned:
            return ArrowType("int", bits=_INT_WIDTH[t])
        if t in _UNSIGNED_WIDTH:
            return ArrowType("int", bits=_UNSIGNED_WIDTH[t])
        return ArrowType("decimal128", precision=20, scale=0)
    if c.is_decimal:
        p, s = max(c.precision or 1, 1), c.decimals
        if p <= MAX_DECIMAL128:
            return ArrowType("decimal128", precision=p, scale=s)
        if wide_decimal == "decimal256":
            return ArrowType("decimal256", precision=p, scale=s)
        return ArrowType("string")
    if t == FIELD_TYPE.FLOAT:
        return ArrowType("float")
    if t == FIELD_TYPE.DOUBLE:
        return ArrowType("double")
    if t == FIELD_TYPE.YEAR:
        return ArrowType("int", bits=16)
    if t in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
        return ArrowType("date32")
    if t in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP):
        tz = "UTC" if t == FIELD_TYPE.TIMESTAMP else None
        return ArrowType("timestamp", unit=time_unit(c.fraction_digits), tz=tz)
    if t == FIELD_TYPE.TIME:
        return ArrowType("duration", unit=time_unit(c.fraction_digits))
    if t == FIELD_TYPE.BIT:
        if c.length == 1:
            return ArrowType("bool")
        if c.length < 64:
            return ArrowType("int", bits=64)
        return ArrowType("decimal128", precision=20, scale=0)
    if t == FIELD_TYPE.NULL:
        return ArrowType("null")
    if c.is_enum or c.is_set:
        return ArrowType("dictionary")
    if c.is_binary:
        return ArrowType("binary")
    return ArrowType("string")


_GLUE_INT = {8: "tinyint", 16: "smallint", 32: "int", 64: "bigint"}
_GLUE_SIMPLE = {
    "float": "float",
    "double": "double",
    "date32": "date",
    "timestamp": "timestamp",
    "duration": "bigint",
    "bool": "boolean",
    "string": "string",
    "dictionary": "string",
    "binary": "binary",
}


def glue_type(t: ArrowType) -> str | None:
    """The Glue/Hive type Athena reads a Parquet column of Arrow type ``t`` with, exactly, or
    ``None`` when there is none (decimal256: Athena stops at 38 digits; the NULL type)."""
    if t.kind == "int":
        return _GLUE_INT[t.bits]
    if t.kind == "decimal128":
        return f"decimal({t.precision},{t.scale})"
    return _GLUE_SIMPLE.get(t.kind)


def holds_dates(c: Column) -> bool:
    """DATE, DATETIME, TIMESTAMP: the types that can hold a zero date."""
    return c.type_code in (
        FIELD_TYPE.DATE,
        FIELD_TYPE.NEWDATE,
        FIELD_TYPE.DATETIME,
        FIELD_TYPE.TIMESTAMP,
    )


def columns_of(cursor: Any) -> list[Column]:
    """The columns of an executed (unbuffered) PyMySQL cursor."""
    result = getattr(cursor, "_result", None)
    fields = getattr(result, "fields", None) or []
    return [Column.from_field(f) for f in fields]


def column_entry(
    c: Column,
    arrow: str,
    *,
    nullable: bool,
    zero_dates_nulled: int | None = None,
    csv_encoding: str | None = None,
) -> dict[str, Any]:
    """A column as ``_manifest.json`` describes it (docs/extract-manifest.schema.json)."""
    entry: dict[str, Any] = {
        "name": c.name,
        "source_type": c.source_type,
        "arrow_type": arrow,
        "nullable": nullable,
        "precision": c.precision,
        "scale": c.scale,
    }
    if zero_dates_nulled is not None:
        entry["zero_dates_nulled"] = zero_dates_nulled
    if csv_encoding is not None:
        entry["csv_encoding"] = csv_encoding
    return entry
