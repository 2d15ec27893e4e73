"""``python -m etl`` end to end against a real MariaDB and a moto S3 server."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from tests.etl.conftest import (
    BIG_ROWS,
    CUSTOMERS,
    DB_NAME,
    DB_PASSWORD,
    ROOT,
    WIDE_MIB,
    Db,
    EtlRun,
    etl_args,
    etl_env,
    put_secret,
    run_etl,
)
from tests.support.etl_output import list_prefix, read_run
from tests.support.services import CUSTOMER_COLUMNS, MotoServer

pytestmark = pytest.mark.slow

PREFIX = "exports/customers"
CSV = ("--format", "csv.gz")


def args(secret: str, bucket: str, query: str, *more: str) -> list[str]:
    return etl_args(secret, bucket, query, PREFIX, *more)


def assert_clean_logs(run: EtlRun, *secrets: str) -> None:
    assert run.stdout == ""
    for s in secrets:
        assert s not in run.stderr
    assert run.logs, "no log lines"
    for record in run.logs:
        assert {"ts", "level", "phase"} <= record.keys()


def assert_nothing_left(s3: Any, bucket: str) -> None:
    keys, uploads = list_prefix(s3, bucket, PREFIX)
    assert keys == []
    assert uploads == []


def typed(header: list[str], row: list[str | None]) -> tuple[Any, ...]:
    """The ETL's text back to the Python types PyMySQL returns for ``customers``."""
    kinds = {
        "id": int,
        "balance": Decimal,
        "created_at": dt.datetime.fromisoformat,
        "score": float,
    }
    return tuple(
        None if v is None else kinds.get(c, str)(v) for c, v in zip(header, row, strict=True)
    )


def db_rows(db: Db, sql: str) -> list[tuple[Any, ...]]:
    with db.server.root_connect(DB_NAME) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_happy_path_round_trips_exactly(
    db: Db, moto: MotoServer, s3: Any, bucket: str, fmt: str
) -> None:
    secret = put_secret(moto, db.secret())
    query = "SELECT * FROM customers ORDER BY id"
    run = run_etl(
        args(secret, bucket, query, "--run-id", "r1", "--site", "onprem", "--format", fmt),
        etl_env(moto),
    )
    assert run.returncode == 0, run.stderr
    assert_clean_logs(run, DB_PASSWORD)
    assert run.phases()[0] == "start"
    assert run.phases()[-1] == "done"
    assert {"secret", "connect", "query", "part", "extract", "manifest"} <= set(run.phases())
    done = run.last("done")
    assert done["rows"] == CUSTOMERS
    assert done["rows_per_s"] > 0

    out = read_run(s3, bucket, f"{PREFIX}/run=r1")
    assert out.header == list(CUSTOMER_COLUMNS)
    expected = db_rows(db, query)
    rows = [typed(out.header, r) for r in out.rows] if fmt == "csv.gz" else out.rows
    assert [tuple(r) for r in rows] == expected
    # The mix the fixture promises is really there.
    notes = [r[6] for r in out.rows]
    assert None in notes
    assert "" in notes
    assert any(n and "\n" in n for n in notes)
    assert any(r[1] and "李雷" in r[1] for r in out.rows)
    m = out.manifest
    assert m["version"] == 2
    assert m["format"] == fmt
    assert m["rows"] == CUSTOMERS
    assert m["site"] == "onprem"
    assert m["run_id"] == "r1"
    assert [c["name"] for c in m["columns"]] == list(CUSTOMER_COLUMNS)
    assert m["bytes"] == sum(p["bytes"] for p in m["parts"])
    assert m["started_at"] <= m["finished_at"]
    assert m["source"]["session_time_zone"] == "+00:00"
    assert "MariaDB" in m["source"]["server_version"]
    balance = m["columns"][4]
    assert balance["source_type"] == "DECIMAL(12,2)"
    assert balance["arrow_type"] == "decimal128(12, 2)"
    assert (balance["precision"], balance["scale"]) == (12, 2)
    assert m["columns"][0]["nullable"] is False  # id INT NOT NULL
    assert m["columns"][6]["nullable"] is True
    if fmt == "csv.gz":
        assert m["csv"]["null"] == "empty unquoted field"
    else:
        assert out.table is not None
        assert str(out.table.schema.field("balance").type) == "decimal128(12, 2)"
    import hashlib

    assert m["query_sha256"] == hashlib.sha256(query.encode()).hexdigest()


def test_text_values_are_the_servers_own(db: Db, moto: MotoServer, s3: Any, bucket: str) -> None:
    secret = put_secret(moto, db.secret())
    run = run_etl(
        args(secret, bucket, "SELECT * FROM odd ORDER BY id", "--run-id", "odd", *CSV),
        etl_env(moto),
    )
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=odd")
    assert out.rows == [
        ["1", "00ff10", "", "2024-02-29", "-01:02:03.456"],
        ["2", None, None, None, None],
        ["3", "", "x", "0000-00-00", "00:00:00.000"],
    ]
    encodings = {c["name"]: c.get("csv_encoding") for c in out.manifest["columns"]}
    assert encodings == {"id": None, "b": "hex", "j": None, "d": None, "t": None}


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_empty_result_is_header_and_manifest(
    db: Db, moto: MotoServer, s3: Any, bucket: str, fmt: str
) -> None:
    secret = put_secret(moto, db.secret())
    run = run_etl(
        args(
            secret, bucket, "SELECT * FROM customers WHERE id < 0", "--run-id", "e", "--format", fmt
        ),
        etl_env(moto),
    )
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=e")
    assert out.header == list(CUSTOMER_COLUMNS)
    assert out.rows == []
    assert out.manifest["rows"] == 0
    assert len(out.manifest["parts"]) == 1


def test_run_id_defaults_to_utc_date_and_env_config(
    db: Db, moto: MotoServer, s3: Any, bucket: str
) -> None:
    secret = put_secret(moto, db.secret())
    env = etl_env(
        moto,
        ETL_SECRET_ID=secret,
        ETL_QUERY="SELECT id FROM customers WHERE id <= 3",
        ETL_BUCKET=bucket,
        ETL_KEY_PREFIX=PREFIX,
    )
    run = run_etl([], env)
    assert run.returncode == 0, run.stderr
    day = run.last("start")["run_id"]
    assert dt.date.fromisoformat(day)
    out = read_run(s3, bucket, f"{PREFIX}/run={day}")
    assert out.manifest["format"] == "parquet"  # the default
    assert out.rows == [[1], [2], [3]]


def test_rerun_with_same_run_id_replaces_output(
    db: Db, moto: MotoServer, s3: Any, bucket: str
) -> None:
    secret = put_secret(moto, db.secret())
    env = etl_env(moto, ETL_PART_MAX_ROWS="100")
    first = run_etl(args(secret, bucket, "SELECT * FROM customers", "--run-id", "same"), env)
    assert first.returncode == 0, first.stderr
    assert len(read_run(s3, bucket, f"{PREFIX}/run=same").manifest["parts"]) == 5
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/run=same/stray.txt", Body=b"old")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/run=other/keep.txt", Body=b"keep")

    second = run_etl(
        args(secret, bucket, "SELECT id, name FROM customers WHERE id <= 42", "--run-id", "same"),
        env,
    )
    assert second.returncode == 0, second.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=same")  # checks: only manifest + its parts remain
    assert out.header == ["id", "name"]
    assert len(out.rows) == 42
    assert len(out.manifest["parts"]) == 1
    assert list_prefix(s3, bucket, f"{PREFIX}/run=other/")[0] == [f"{PREFIX}/run=other/keep.txt"]


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_part_files_rotate_by_size(
    db: Db, moto: MotoServer, s3: Any, bucket: str, fmt: str
) -> None:
    secret = put_secret(moto, db.secret())
    env = etl_env(
        moto,
        ETL_PART_MAX_BYTES=str(1024 * 1024),
        ETL_UPLOAD_PART_BYTES=str(5 * 1024 * 1024),
        ETL_FETCH_SIZE="2000",
    )
    query = "SELECT * FROM big WHERE id <= 100000 ORDER BY id"
    run = run_etl(args(secret, bucket, query, "--run-id", "rot", "--format", fmt), env)
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=rot")
    parts = out.manifest["parts"]
    assert len(parts) >= 2
    assert all(p["bytes"] < 1.2 * 1024 * 1024 for p in parts), parts
    # The first file's size is estimated from a guessed ratio, the next ones from the last.
    assert all(p["bytes"] > 0.8 * 1024 * 1024 for p in parts[1:-1]), parts
    assert [int(r[0] or 0) for r in out.rows] == list(range(1, 100_001))


def test_parallel_key_ranges_with_multipart(db: Db, moto: MotoServer, s3: Any, bucket: str) -> None:
    secret = put_secret(moto, db.secret())
    env = etl_env(moto, ETL_UPLOAD_PART_BYTES=str(5 * 1024 * 1024))
    run = run_etl(
        args(
            secret,
            bucket,
            "SELECT * FROM big",
            "--run-id",
            "par",
            "--parallel",
            "2",
            "--split-column",
            "id",
        ),
        env,
    )
    assert run.returncode == 0, run.stderr
    assert_clean_logs(run, DB_PASSWORD)
    out = read_run(s3, bucket, f"{PREFIX}/run=par")
    assert out.manifest["parallel"] == 2
    assert len(out.manifest["parts"]) == 2
    ids = sorted(r[0] for r in out.rows)
    assert ids == list(range(1, BIG_ROWS + 1))
    sample = {r[0]: tuple(r) for r in out.rows if r[0] % 49_999 == 0}
    expected = db_rows(db, "SELECT * FROM big WHERE id % 49999 = 0")
    assert [sample[e[0]] for e in expected] == expected


# -- failures that never touch S3 output ---------------------------------------------------


def test_non_select_is_rejected(db: Db, moto: MotoServer, s3: Any, bucket: str) -> None:
    secret = put_secret(moto, db.secret())
    for query in (
        "DELETE FROM customers",
        "SELECT 1; DROP TABLE customers",
        "SELECT * FROM customers FOR UPDATE",
    ):
        run = run_etl(args(secret, bucket, query), etl_env(moto))
        assert run.returncode == 2, run.stderr
        assert "query rejected" in run.last("failed")["error"]
        assert_clean_logs(run, DB_PASSWORD)
        assert_nothing_left(s3, bucket)
    assert db_rows(db, "SELECT COUNT(*) FROM customers") == [(CUSTOMERS,)]


def test_wrong_password_is_a_source_error(db: Db, moto: MotoServer, s3: Any, bucket: str) -> None:
    wrong = "Wrong-pw-4e1d0a-never-logged"
    secret = put_secret(moto, db.secret(password=wrong))
    run = run_etl(args(secret, bucket, "SELECT * FROM customers"), etl_env(moto))
    assert run.returncode == 3, run.stderr
    failed = run.last("failed")
    assert failed["kind"] == "source"
    assert "Access denied" in failed["error"]
    assert_clean_logs(run, wrong, DB_PASSWORD)
    assert_nothing_left(s3, bucket)


def test_unreachable_database_retries_then_fails(
    db: Db, moto: MotoServer, s3: Any, bucket: str
) -> None:
    from tests.support.services import free_port

    secret = put_secret(moto, db.secret(port=free_port()))
    run = run_etl(
        args(secret, bucket, "SELECT 1"),
        etl_env(moto, ETL_CONNECT_RETRIES="3", ETL_CONNECT_BACKOFF="0.05"),
    )
    assert run.returncode == 3, run.stderr
    assert run.phases().count("connect_retry") == 2
    assert_nothing_left(s3, bucket)


@pytest.mark.parametrize(
    ("secret_value", "message"),
    [
        ({"host": "127.0.0.1", "username": "etl"}, "missing key(s): port, password, database"),
        ("not json at all", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
    ],
)
def test_bad_secret_is_a_usage_error(
    moto: MotoServer, s3: Any, bucket: str, secret_value: Any, message: str
) -> None:
    secret = put_secret(moto, secret_value)
    run = run_etl(args(secret, bucket, "SELECT 1"), etl_env(moto))
    assert run.returncode == 2, run.stderr
    assert message in run.last("failed")["error"]
    assert "not json at all" not in run.stderr
    assert_nothing_left(s3, bucket)


def test_missing_secret_and_missing_options(moto: MotoServer, s3: Any, bucket: str) -> None:
    run = run_etl(args("no/such/secret", bucket, "SELECT 1"), etl_env(moto))
    assert run.returncode == 2, run.stderr
    assert "ResourceNotFoundException" in run.last("failed")["error"]
    run = run_etl(["--query", "SELECT 1"], etl_env(moto))
    assert run.returncode == 2
    assert "--secret-id (or ETL_SECRET_ID)" in run.last("failed")["error"]
    assert_nothing_left(s3, bucket)


def test_missing_bucket_is_a_sink_error(db: Db, moto: MotoServer) -> None:
    secret = put_secret(moto, db.secret())
    run = run_etl(args(secret, "no-such-bucket-here", "SELECT 1"), etl_env(moto))
    assert run.returncode == 4, run.stderr
    assert run.last("failed")["kind"] == "sink"
    assert_clean_logs(run, DB_PASSWORD)


def test_query_error_is_a_source_error_without_row_data(
    db: Db, moto: MotoServer, s3: Any, bucket: str
) -> None:
    secret = put_secret(moto, db.secret())
    run = run_etl(args(secret, bucket, "SELECT * FROM no_such_table"), etl_env(moto))
    assert run.returncode == 3, run.stderr
    assert "no_such_table" in run.last("failed")["error"] or "'?'" in run.last("failed")["error"]
    assert_nothing_left(s3, bucket)


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_manifest_matches_its_schema(
    db: Db, moto: MotoServer, s3: Any, bucket: str, fmt: str
) -> None:
    import jsonschema

    secret = put_secret(moto, db.secret())
    run = run_etl(
        args(secret, bucket, "SELECT * FROM odd", "--run-id", "m", "--format", fmt),
        etl_env(moto, ETL_PARALLEL="2", ETL_SPLIT_COLUMN="id"),
    )
    assert run.returncode == 0, run.stderr
    body = s3.get_object(Bucket=bucket, Key=f"{PREFIX}/run=m/_manifest.json")["Body"].read()
    m = json.loads(body)
    schema = json.loads((ROOT / "docs" / "extract-manifest.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(m, schema, cls=jsonschema.Draft202012Validator)
    assert m["parallel"] == 2
    # The schema is strict: an unknown key, or a CSV dialect on a Parquet run, is refused.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**m, "surprise": 1}, schema)
    other = "csv.gz" if fmt == "parquet" else "parquet"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**m, "format": other}, schema)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM customers",
        "SELECT * FROM odd",
        "SELECT * FROM wide ORDER BY id",
        "SELECT note FROM customers ORDER BY id",
        "SELECT * FROM big WHERE id <= 30000",
    ],
)
def test_wire_reader_matches_pymysql_cursor(
    db: Db, moto: MotoServer, s3: Any, bucket: str, query: str
) -> None:
    """The fast reader (raw row packets) writes exactly what SSCursor + csv.writer writes."""
    import gzip

    secret = put_secret(moto, db.secret())
    outputs = {}
    for reader in ("wire", "fetchmany"):
        for fmt in ("csv.gz", "parquet"):
            run = run_etl(
                args(secret, bucket, query, "--run-id", f"{reader}-{fmt}", "--format", fmt),
                etl_env(moto, ETL_ROW_READER=reader, ETL_FETCH_SIZE="7"),
            )
            assert run.returncode == 0, run.stderr
            expect = "WireRows" if reader == "wire" else "FetchmanyRows"
            assert run.last("query")["reader"] == expect
            outputs[reader, fmt] = read_run(s3, bucket, f"{PREFIX}/run={reader}-{fmt}")
    csv_text = {
        r: b"".join(gzip.decompress(b) for b in outputs[r, "csv.gz"].bodies or [])
        for r in ("wire", "fetchmany")
    }
    assert csv_text["wire"] == csv_text["fetchmany"]
    assert outputs["wire", "parquet"].table.equals(outputs["fetchmany", "parquet"].table)


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_long_values_round_trip(db: Db, moto: MotoServer, s3: Any, bucket: str, fmt: str) -> None:
    secret = put_secret(moto, db.secret())
    run = run_etl(
        args(secret, bucket, "SELECT * FROM wide ORDER BY id", "--run-id", "w", "--format", fmt),
        etl_env(moto),
    )
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=w")
    expected = db_rows(db, "SELECT id, t, b FROM wide ORDER BY id")
    if fmt == "csv.gz":
        got = [
            (int(r[0] or 0), r[1], None if r[2] is None else bytes.fromhex(r[2])) for r in out.rows
        ]
    else:
        got = [tuple(r) for r in out.rows]
    assert got == expected
    assert len(out.rows[3][1] or "") == WIDE_MIB * 1024 * 1024 + 1
