"""The typed lake: a table of hard cases (``hard`` in conftest) read back by the readers people
use, pyarrow and DuckDB for Parquet, pyarrow's and DuckDB's CSV readers for the CSV dialect.

Expected values are written out here, as inserted: the test does not ask the ETL's own code
(or PyMySQL's decoding) what the answer is.
"""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.etl.conftest import Db, etl_args, etl_env, put_secret, run_etl
from tests.support.etl_output import list_prefix, read_run
from tests.support.services import MotoServer

pytestmark = pytest.mark.slow

PREFIX = "exports/hard"
UTC = dt.UTC
D65_1 = "-12345678901234567890123456789012345.123456789012345678901234567890"
D65_2 = "0.000000000000000000000000000001"
D65_4 = "99999999999999999999999999999999999.999999999999999999999999999999"
TEXT_2 = 'quote " comma , newline \n crlf \r\n tab \t emoji \U0001f680'

# column: (source type, Arrow type, DuckDB type, values of rows 1-4 as pyarrow returns them)
EXPECTED: dict[str, tuple[str, str, str, list[Any]]] = {
    "id": ("INT", "int32", "INTEGER", [1, 2, 3, 4]),
    "txt": ("VARCHAR(200)", "string", "VARCHAR", ["", TEXT_2, None, "01234"]),
    "latin": ("VARCHAR(32)", "string", "VARCHAR", ["café", "ÿ", None, "NA"]),
    "big_text": ("MEDIUMTEXT", "string", "VARCHAR", ["ü" * 524288, "", None, "null"]),
    "bin": ("VARBINARY(16)", "binary", "BLOB", [b"\xff\x00\xfe", b'\n\r"', None, b"None"]),
    "fixed": ("BINARY(4)", "binary", "BLOB", [b"\0\0\0\0", b"\xff" * 4, None, b"true"]),
    "blb": ("LONGBLOB", "binary", "BLOB", [b"", b',"', None, None]),
    "flag": ("BIT(1)", "bool", "BOOLEAN", [True, False, None, True]),
    "bits": ("BIT(12)", "int64", "BIGINT", [0xAAA, 0, None, 0xFFF]),
    "doc": ("LONGTEXT", "string", "VARCHAR", ['{"a": [1, "x\\"y"]}', "[]", None, "null"]),
    "d65": ("DECIMAL(65,30)", "string", "VARCHAR", [D65_1, D65_2, None, D65_4]),
    "d38": (
        "DECIMAL(38,10)",
        "decimal128(38, 10)",
        "DECIMAL(38,10)",
        [
            Decimal("1234567890123456789012345678.0123456789"),
            Decimal("-0.0000000001"),
            None,
            Decimal("-9999999999999999999999999999.9999999999"),
        ],
    ),
    "d12": (
        "DECIMAL(12,2)",
        "decimal128(12, 2)",
        "DECIMAL(12,2)",
        [Decimal("-0.01"), Decimal("9999999999.99"), Decimal("0.00"), Decimal("0.10")],
    ),
    "ubig": ("BIGINT UNSIGNED", "decimal128(20, 0)", "DECIMAL(20,0)", [2**64 - 1, 0, None, 2**63]),
    "sbig": ("BIGINT", "int64", "BIGINT", [-(2**63), 2**63 - 1, None, -1]),
    "tiny": ("TINYINT", "int8", "TINYINT", [-128, 127, None, 0]),
    "utiny": ("TINYINT UNSIGNED", "int16", "SMALLINT", [255, 0, None, 1]),
    "umed": ("MEDIUMINT UNSIGNED", "int32", "INTEGER", [16777215, 0, None, 1]),
    "f": ("FLOAT", "float", "FLOAT", [1.5, 0.0, None, -3.25]),
    "dbl": (
        "DOUBLE",
        "double",
        "DOUBLE",
        [1.7976931348623157e308, -2.2250738585072014e-308, None, 0.1],
    ),
    "d": ("DATE", "date32[day]", "DATE", [dt.date(2024, 2, 29), None, None, dt.date(2024, 12, 31)]),
    "dt0": (
        "DATETIME",
        "timestamp[ms]",
        "TIMESTAMP",
        [dt.datetime(1000, 1, 1), None, None, dt.datetime(2024, 10, 27, 2, 30)],
    ),
    "dt3": (
        "DATETIME(3)",
        "timestamp[ms]",
        "TIMESTAMP",
        [
            dt.datetime(2024, 1, 31, 12, 0, 0, 123000),
            None,  # 2024-00-10: a zero month
            None,
            dt.datetime(2024, 10, 27, 2, 30, 0, 500000),
        ],
    ),
    "dt6": (
        "DATETIME(6)",
        "timestamp[us]",
        "TIMESTAMP",
        [
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            None,  # 2024-02-30 (ALLOW_INVALID_DATES)
            None,
            dt.datetime(2024, 10, 27, 2, 30, 0, 1),
        ],
    ),
    "ts": (
        "TIMESTAMP(6)",
        "timestamp[us, tz=UTC]",
        "TIMESTAMP WITH TIME ZONE",
        [
            # 00:30 and 01:30 UTC on 2024-10-27 are both 02:30 in Central Europe.
            dt.datetime(2024, 10, 27, 0, 30, 0, 1, tzinfo=UTC),
            None,
            None,
            dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
        ],
    ),
    "t": (
        "TIME(3)",
        "duration[ms]",
        "BIGINT",
        [
            -dt.timedelta(hours=838, minutes=59, seconds=59),
            dt.timedelta(hours=838, minutes=59, seconds=59, milliseconds=999),
            None,
            dt.timedelta(milliseconds=1),
        ],
    ),
    "y": ("YEAR", "int16", "SMALLINT", [1901, 2155, None, 0]),
    "e": (
        "ENUM",
        "dictionary<values=string, indices=int32, ordered=0>",
        "VARCHAR",
        ["large", "small", None, "medium"],
    ),
    "s": (
        "SET",
        "dictionary<values=string, indices=int32, ordered=0>",
        "VARCHAR",
        ["a,c", "", None, "a,b,c"],
    ),
}
ZERO_DATES = {"d": 1, "dt0": 1, "dt3": 1, "dt6": 1, "ts": 1}
# The Glue/Athena type of each column (etl_image/README.md, "Glue and Athena types").
GLUE_TYPES = {
    "id": "int",
    "txt": "string",
    "latin": "string",
    "big_text": "string",
    "bin": "binary",
    "fixed": "binary",
    "blb": "binary",
    "flag": "boolean",
    "bits": "bigint",
    "doc": "string",
    "d65": "string",  # exact text: Athena stops at 38 digits
    "d38": "decimal(38,10)",
    "d12": "decimal(12,2)",
    "ubig": "decimal(20,0)",  # every BIGINT UNSIGNED, exactly
    "sbig": "bigint",
    "tiny": "tinyint",
    "utiny": "smallint",
    "umed": "int",
    "f": "float",
    "dbl": "double",
    "d": "date",
    "dt0": "timestamp",
    "dt3": "timestamp",
    "dt6": "timestamp",
    "ts": "timestamp",
    "t": "bigint",  # the count of milliseconds (duration[ms])
    "y": "smallint",
    "e": "string",
    "s": "string",
}
assert list(GLUE_TYPES) == list(EXPECTED)


def extract(db: Db, moto: MotoServer, s3: Any, bucket: str, run_id: str, *more: str) -> Any:
    secret = put_secret(moto, db.secret())
    return run_etl(
        etl_args(
            secret, bucket, "SELECT * FROM hard ORDER BY id", PREFIX, "--run-id", run_id, *more
        ),
        etl_env(moto, ETL_FETCH_SIZE="3"),  # several batches: the zero dates are not in the first
    )


def download(s3: Any, bucket: str, key: str, path: Path) -> Path:
    path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return path


def test_parquet_hard_cases_through_pyarrow(db: Db, moto: MotoServer, s3: Any, bucket: str) -> None:
    run = extract(db, moto, s3, bucket, "pa")
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=pa")  # also: schema == manifest arrow types
    assert out.header == list(EXPECTED)
    table = out.table
    for name, (_source, arrow, _duck, values) in EXPECTED.items():
        column = table.column(name)
        assert str(column.type) == arrow, name
        assert column.to_pylist() == values, name
    by_name = {c["name"]: c for c in out.manifest["columns"]}
    for name, (source, arrow, _duck, _values) in EXPECTED.items():
        entry = by_name[name]
        assert (entry["source_type"], entry["arrow_type"]) == (source, arrow), name
        assert entry["glue_type"] == GLUE_TYPES[name], name
        assert entry.get("zero_dates_nulled") == ZERO_DATES.get(
            name, 0 if arrow.startswith(("date", "timestamp")) else None
        ), name
    assert (by_name["d38"]["precision"], by_name["d38"]["scale"]) == (38, 10)
    assert (by_name["dt6"]["precision"], by_name["dt6"]["scale"]) == (None, 6)
    assert by_name["d12"]["nullable"] is False
    assert out.manifest["parquet"] == {
        "compression": "zstd",
        "zero_dates": "null",
        "wide_decimals": "string",
    }


def test_parquet_hard_cases_through_duckdb(
    db: Db, moto: MotoServer, s3: Any, bucket: str, tmp_path: Path
) -> None:
    import duckdb

    run = extract(db, moto, s3, bucket, "duck")
    assert run.returncode == 0, run.stderr
    key = read_run(s3, bucket, f"{PREFIX}/run=duck").manifest["parts"][0]["key"]
    path = download(s3, bucket, key, tmp_path / "part.parquet")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    types = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE '{path}')").fetchall()
    )
    assert types == {name: duck for name, (_s, _a, duck, _v) in EXPECTED.items()}
    for name, (_s, arrow, _duck, values) in EXPECTED.items():
        if name == "ts":  # TIMESTAMPTZ to Python needs pytz: compare the instants instead
            got = [r[0] for r in con.execute(f"SELECT epoch_us(ts) FROM '{path}'").fetchall()]
            epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
            want = [
                None if v is None else (v - epoch) // dt.timedelta(microseconds=1) for v in values
            ]
            assert got == want
            continue
        got = [r[0] for r in con.execute(f"SELECT \"{name}\" FROM '{path}'").fetchall()]
        if arrow.startswith("duration"):  # DuckDB reads Arrow's duration as its count
            values = [None if v is None else v // dt.timedelta(milliseconds=1) for v in values]
        assert got == values, name
    # The exact text of a DECIMAL(65,30) casts to a DuckDB DECIMAL where it fits 38 digits.
    assert con.execute(
        f"SELECT CAST(d65 AS DECIMAL(38,30)) FROM '{path}' WHERE id = 2"
    ).fetchone() == (Decimal(D65_2),)


def test_wide_decimals_as_decimal256_for_arrow_readers(
    db: Db, moto: MotoServer, s3: Any, bucket: str
) -> None:
    run = extract(db, moto, s3, bucket, "d256", "--wide-decimals", "decimal256")
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=d256")
    column = out.table.column("d65")
    assert str(column.type) == "decimal256(65, 30)"
    assert column.to_pylist() == [Decimal(D65_1), Decimal(D65_2), None, Decimal(D65_4)]


def test_zero_dates_can_fail_the_run(db: Db, moto: MotoServer, s3: Any, bucket: str) -> None:
    run = extract(db, moto, s3, bucket, "zero", "--zero-dates", "fail")
    assert run.returncode == 3, run.stderr
    failed = run.last("failed")
    assert failed["kind"] == "source"
    assert "'?'" in failed["error"] or "zero or impossible date" in failed["error"]
    assert list_prefix(s3, bucket, f"{PREFIX}/run=zero/") == ([], [])


def test_one_column_with_null_rows(db: Db, moto: MotoServer, s3: Any, bucket: str) -> None:
    secret = put_secret(moto, db.secret())
    query = "SELECT txt FROM hard ORDER BY id"
    for fmt in ("parquet", "csv.gz"):
        run = run_etl(
            etl_args(secret, bucket, query, PREFIX, "--run-id", f"one-{fmt}", "--format", fmt),
            etl_env(moto),
        )
        assert run.returncode == 0, run.stderr
        out = read_run(s3, bucket, f"{PREFIX}/run=one-{fmt}")
        assert out.rows == [[v] for v in EXPECTED["txt"][3]], fmt


# -- the CSV dialect, as the README tells readers to read it --------------------------------


def server_text() -> list[list[str | None]]:
    """What the CSV must hold: the server's text of each value, binary as hex."""
    rows = []
    for i in range(4):
        row: list[str | None] = []
        for name, (_s, arrow, _d, values) in EXPECTED.items():
            v = values[i]
            row.append(None if v is None else _text(name, arrow, v))
        rows.append(row)
    # Zero and impossible dates are kept as the server wrote them.
    rows[1][list(EXPECTED).index("d")] = "0000-00-00"
    rows[1][list(EXPECTED).index("dt0")] = "0000-00-00 00:00:00"
    rows[1][list(EXPECTED).index("dt3")] = "2024-00-10 10:00:00.000"
    rows[1][list(EXPECTED).index("dt6")] = "2024-02-30 00:00:00.000000"
    rows[1][list(EXPECTED).index("ts")] = "0000-00-00 00:00:00.000000"
    return rows


def _text(name: str, arrow: str, v: Any) -> str:
    special = {
        ("flag", True): "01",
        ("flag", False): "00",
        ("bits", 0xAAA): "0aaa",
        ("bits", 0): "0000",
        ("bits", 0xFFF): "0fff",
        ("dbl", 1.7976931348623157e308): "1.7976931348623157e308",
        ("dbl", -2.2250738585072014e-308): "-2.2250738585072014e-308",
        ("f", 0.0): "0",
        ("y", 0): "0000",
        ("t", -dt.timedelta(hours=838, minutes=59, seconds=59)): "-838:59:59.000",
        ("t", dt.timedelta(hours=838, minutes=59, seconds=59, milliseconds=999)): "838:59:59.999",
        ("t", dt.timedelta(milliseconds=1)): "00:00:00.001",
    }
    if (name, v) in special:
        return special[name, v]
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dt.datetime):
        digits = {"dt0": 0, "dt3": 3}.get(name, 6)
        text = v.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return text[: 19 + (digits + 1 if digits else 0)]
    if isinstance(v, float):
        return repr(v).replace("+", "")
    return str(v)


def test_csv_dialect_through_pyarrow_and_duckdb(
    db: Db, moto: MotoServer, s3: Any, bucket: str, tmp_path: Path
) -> None:
    import duckdb
    import pyarrow as pa
    import pyarrow.csv as pcsv

    run = extract(db, moto, s3, bucket, "csv", "--format", "csv.gz")
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=csv")
    expected = server_text()
    assert out.rows == expected  # the test's own parser of the dialect
    path = download(s3, bucket, out.manifest["parts"][0]["key"], tmp_path / "part.csv.gz")
    names = list(EXPECTED)

    # pyarrow, with the options etl_image/README.md gives
    table = pcsv.read_csv(
        path,
        parse_options=pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    assert [list(r.values()) for r in table.to_pylist()] == expected

    # DuckDB, with the options etl_image/README.md gives
    con = duckdb.connect()
    got = con.execute(
        f"SELECT * FROM read_csv('{path}', header = true, all_varchar = true, quote = '\"',"
        " escape = '\"', nullstr = '', allow_quoted_nulls = false)"
    ).fetchall()
    assert [list(r) for r in got] == expected
    assert gzip.decompress(path.read_bytes()).startswith(b'"id","txt",')
