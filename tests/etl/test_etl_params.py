"""Named query parameters (``--param NAME=VALUE``): bound by PyMySQL, never spliced into the
SQL; incremental extracts of consecutive data intervals, and a retry of one, against a real
MariaDB, moto's S3 and moto's Glue."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.etl.conftest import (
    DB_NAME,
    ORDER_TIMES,
    REGION,
    TRICKY,
    Db,
    etl_args,
    etl_env,
    order_note,
    put_secret,
    run_etl,
)
from tests.support.etl_output import list_prefix, read_run
from tests.support.services import MotoServer

pytestmark = pytest.mark.slow

PREFIX = "hq/orders"
INCREMENTAL = (
    "SELECT id, customer_id, total, note, created_at FROM orders\n"
    "WHERE created_at >= :interval_start AND created_at < :interval_end"
)
# Two consecutive daily intervals of "15 2 * * *", as the DAG sends them (UTC).
INTERVALS = [
    ("2030-11-01 02:15:00", "2030-11-02 02:15:00"),
    ("2030-11-02 02:15:00", "2030-11-03 02:15:00"),
]


def run_id(start: str) -> str:
    """The DAG's run id of an interval: its start as ts_nodash."""
    return dt.datetime.fromisoformat(start).strftime("%Y%m%dT%H%M%S")


def ids_between(start: str, end: str) -> list[int]:
    lo, hi = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    return [i for i, at in enumerate(ORDER_TIMES, start=1) if lo <= at < hi]


@pytest.fixture
def glue_database(moto: MotoServer) -> Iterator[str]:
    name = f"hybrid_test_{uuid.uuid4().hex[:8]}"
    glue = moto.client("glue", REGION)
    glue.create_database(DatabaseInput={"Name": name})
    yield name
    glue.delete_database(Name=name)


def interval_args(start: str, end: str) -> list[str]:
    return [
        "--run-id",
        run_id(start),
        "--param",
        f"interval_start={start}",
        "--param",
        f"interval_end={end}",
    ]


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_consecutive_intervals_and_a_retry(
    db: Db, moto: MotoServer, s3: Any, bucket: str, glue_database: str, parallel: str
) -> None:
    """Each interval extracts exactly its rows (start included, end excluded) into
    run=<interval start>/; a retry of the first writes the same rows again to the same
    partition; the catalog ends with one partition per interval."""
    secret = put_secret(moto, db.secret())
    env = etl_env(moto, ETL_GLUE_DATABASE=glue_database, ETL_GLUE_REGION=REGION)
    extra = ["--parallel", parallel, "--split-column", "id"]
    seen: dict[str, list[list[Any]]] = {}
    for start, end in [*INTERVALS, INTERVALS[0]]:  # the last one: a retry of the first
        run = run_etl(
            etl_args(secret, bucket, INCREMENTAL, PREFIX, *interval_args(start, end), *extra),
            env,
        )
        assert run.returncode == 0, run.stderr
        out = read_run(s3, bucket, f"{PREFIX}/run={run_id(start)}")
        rows = sorted(out.rows)
        assert [r[0] for r in rows] == ids_between(start, end)
        assert all(
            dt.datetime.fromisoformat(start) <= r[4] < dt.datetime.fromisoformat(end) for r in rows
        )
        assert out.manifest["parameters"] == {"interval_start": start, "interval_end": end}
        assert out.manifest["catalog"] == {
            "database": glue_database,
            "table": "orders",
            "partition": run_id(start),
        }
        if run_id(start) in seen:  # the retry: the same rows again
            assert rows == seen[run_id(start)]
        seen[run_id(start)] = rows
    first, second = (ids_between(*i) for i in INTERVALS)
    assert len(first) == 33  # 32 of the 45-minute grid and the row on the start boundary
    assert len(second) == 33
    assert not set(first) & set(second)

    glue = moto.client("glue", REGION)
    partitions = glue.get_partitions(DatabaseName=glue_database, TableName="orders")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == sorted(run_id(s) for s, _ in INTERVALS)
    for p in partitions:
        location = p["StorageDescriptor"]["Location"]
        assert location == f"s3://{bucket}/{PREFIX}/run={p['Values'][0]}/"
        assert p["Parameters"]["rows"] == "33"
    # Nothing else under the extract's prefix: one folder per interval, each a complete run.
    keys = list_prefix(s3, bucket, f"{PREFIX}/")[0]
    assert {k.split("/")[2] for k in keys} == {f"run={run_id(s)}" for s, _ in INTERVALS}


def general_log(db: Db, on: bool) -> None:
    with db.server.root_connect("mysql") as conn, conn.cursor() as cur:
        if on:
            cur.execute("TRUNCATE TABLE mysql.general_log")
            cur.execute("SET GLOBAL log_output = 'TABLE'")
        cur.execute(f"SET GLOBAL general_log = {'ON' if on else 'OFF'}")


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_values_are_bound_never_spliced(
    db: Db, moto: MotoServer, s3: Any, bucket: str, fmt: str
) -> None:
    """Values with quotes, backslashes, ``%``, ``;`` and ``:name`` select exactly the rows
    holding them: the server received each as one string literal (its general log shows the
    statement). Spliced, ``x' OR '1'='1`` would select every row, ``O'Brien`` would break the
    statement. The query's own ``%`` (modulo, LIKE, a literal) reach the server unchanged."""
    secret = put_secret(moto, db.secret())
    names = [f"v{k}" for k in range(len(TRICKY))]
    query = (
        "SELECT id, note, CONCAT(id % 3, '%') AS pct FROM orders\n"
        f"WHERE note LIKE '%' AND note IN ({', '.join(f':{n}' for n in names)}) ORDER BY id"
    )
    params = [a for n, v in zip(names, TRICKY, strict=True) for a in ("--param", f"{n}={v}")]
    general_log(db, True)
    try:
        run = run_etl(
            etl_args(secret, bucket, query, PREFIX, "--run-id", "bound", "--format", fmt, *params),
            etl_env(moto),
        )
    finally:
        general_log(db, False)
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run=bound")
    with db.server.root_connect(DB_NAME) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        (total,) = cur.fetchone()
        cur.execute("SELECT argument FROM mysql.general_log WHERE argument LIKE '%note IN (%'")
        logged = [r[0].decode() if isinstance(r[0], bytes) else r[0] for r in cur.fetchall()]
    want = [
        [i, order_note(i), f"{i % 3}%"]
        for i in range(1, len(ORDER_TIMES) + 1)
        if order_note(i) is not None
    ]
    got = [[int(r[0]), r[1], r[2]] for r in out.rows]
    assert got == want
    assert 0 < len(got) < total  # not every row: no OR '1'='1' took effect
    assert out.manifest["parameters"] == dict(zip(names, TRICKY, strict=True))

    # What the server ran: the query with each value as one escaped literal, % as typed.
    assert len(logged) == 1, logged
    statement = logged[0]
    assert ":v" not in statement
    assert "CONCAT(id % 3, '%')" in statement
    assert "note LIKE '%'" in statement
    assert "'O\\'Brien'" in statement
    assert "'x\\' OR \\'1\\'=\\'1'" in statement
    assert "'100% \\\\\\' OR 1=1 -- '" in statement
    assert "'%(v)s %s %%'" in statement


def test_parameters_with_a_range_split_and_decimal_results(
    db: Db, moto: MotoServer, s3: Any, bucket: str
) -> None:
    """--parallel wraps the query in range queries: the parameters are bound in each."""
    secret = put_secret(moto, db.secret())
    query = "SELECT id, total FROM orders WHERE total >= :low AND note = :note"
    flags = ["--run-id", "split", "--parallel", "2", "--split-column", "id"]
    flags += ["--param", "low=60", "--param", f"note={TRICKY[1]}"]
    run = run_etl(etl_args(secret, bucket, query, PREFIX, *flags), etl_env(moto))
    assert run.returncode == 0, run.stderr
    assert run.last("plan")["ranges"], "the run was split"
    out = read_run(s3, bucket, f"{PREFIX}/run=split")
    want = [
        [i, Decimal(f"{i * 1.5:.2f}")]
        for i in range(1, len(ORDER_TIMES) + 1)
        if order_note(i) == TRICKY[1] and i * 1.5 >= 60
    ]
    assert want
    assert sorted(out.rows) == want


@pytest.mark.parametrize(
    ("query", "params", "message"),
    [
        (INCREMENTAL, ["interval_start=2030-11-01"], "no value for :interval_end"),
        (
            INCREMENTAL,
            ["interval_start=a", "interval_end=b", "day=c"],
            "--param day given but the query has no :day",
        ),
        ("SELECT * FROM orders", ["interval_start=a"], "the query has no :interval_start"),
        ("SELECT * FROM orders WHERE id = :id", [], "no value for :id"),
    ],
)
def test_parameters_must_match_the_query(
    db: Db, moto: MotoServer, s3: Any, bucket: str, query: str, params: list[str], message: str
) -> None:
    secret = put_secret(moto, db.secret())
    flags = [a for p in params for a in ("--param", p)]
    run = run_etl(etl_args(secret, bucket, query, PREFIX, "--run-id", "bad", *flags), etl_env(moto))
    assert run.returncode == 2, run.stderr
    failed = run.last("failed")
    assert failed["kind"] == "usage"
    assert message in failed["error"]
    assert "secret" not in run.phases()  # refused before anything was read or written
    assert list_prefix(s3, bucket, PREFIX) == ([], [])
