"""The Glue catalog (``--glue-database``) against moto's Glue and S3 and a real MariaDB: the
table from the Parquet schema, a partition per run added only once the run is complete, schema
growth and refused incompatible changes, and failed runs that never appear."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.etl.conftest import (
    REGION,
    Db,
    EtlRun,
    etl_args,
    etl_env,
    put_secret,
    run_etl,
)
from tests.etl.test_etl_types import EXPECTED, GLUE_TYPES
from tests.support.etl_output import list_prefix, read_run
from tests.support.recording_proxy import Injected, RecordingProxy
from tests.support.services import MotoServer

pytestmark = pytest.mark.slow

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


@pytest.fixture
def glue(moto: MotoServer) -> Any:
    return moto.client("glue", REGION)


@pytest.fixture
def database(glue: Any) -> Iterator[str]:
    name = f"hybrid_test_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": name})
    yield name
    glue.delete_database(Name=name)


@pytest.fixture
def secret(db: Db, moto: MotoServer) -> str:
    return put_secret(moto, db.secret())


def extract(
    moto: MotoServer,
    secret: str,
    bucket: str,
    database: str,
    query: str,
    prefix: str,
    run_id: str,
    *more: str,
    endpoint: str | None = None,
    **env_extra: str,
) -> EtlRun:
    env = etl_env(moto, ETL_GLUE_DATABASE=database, ETL_GLUE_REGION=REGION, **env_extra)
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return run_etl(etl_args(secret, bucket, query, prefix, "--run-id", run_id, *more), env)


def table(glue: Any, database: str, name: str) -> dict[str, Any]:
    return dict(glue.get_table(DatabaseName=database, Name=name)["Table"])


def columns(entity: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["Name"], c["Type"]) for c in entity["StorageDescriptor"]["Columns"]]


def partitions(glue: Any, database: str, name: str) -> dict[str, dict[str, Any]]:
    found = glue.get_partitions(DatabaseName=database, TableName=name)["Partitions"]
    return {p["Values"][0]: p for p in found}


def test_first_run_creates_the_table_and_its_partition_with_exact_types(
    moto: MotoServer, glue: Any, s3: Any, bucket: str, database: str, secret: str, tmp_path: Path
) -> None:
    query = "SELECT * FROM hard ORDER BY id"
    run = extract(moto, secret, bucket, database, query, "exports/hard", "r1")
    assert run.returncode == 0, run.stderr
    assert run.phases()[-3:] == ["manifest", "catalog", "done"]
    assert run.last("catalog")["table_change"] == "created"

    t = table(glue, database, "hard")
    assert columns(t) == list(GLUE_TYPES.items())
    comments = {c["Name"]: c["Comment"] for c in t["StorageDescriptor"]["Columns"]}
    assert comments["ubig"] == "BIGINT UNSIGNED"
    assert comments["d12"] == "DECIMAL(12,2)"
    assert comments["t"] == "TIME(3) as a count of milliseconds"
    assert {k: EXPECTED[k][0] for k in ("d65", "dt6", "e")} == {
        k: comments[k] for k in ("d65", "dt6", "e")
    }
    assert t["PartitionKeys"] == [{"Name": "run", "Type": "string", "Comment": "the ETL's run id"}]
    assert t["TableType"] == "EXTERNAL_TABLE"
    assert t["Parameters"]["classification"] == "parquet"
    sd = t["StorageDescriptor"]
    assert sd["Location"] == f"s3://{bucket}/exports/hard/"
    assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"

    found = partitions(glue, database, "hard")
    assert list(found) == ["r1"]
    part = found["r1"]
    assert part["StorageDescriptor"]["Location"] == f"s3://{bucket}/exports/hard/run=r1/"
    assert columns(part) == list(GLUE_TYPES.items())
    assert part["Parameters"]["rows"] == "4"
    assert part["Parameters"]["manifest"] == f"s3://{bucket}/exports/hard/run=r1/_manifest.json"

    # A second run adds its partition; the table stays as it is.
    run = extract(moto, secret, bucket, database, query, "exports/hard", "r2")
    assert run.returncode == 0, run.stderr
    assert run.last("catalog")["table_change"] == "none"
    assert sorted(partitions(glue, database, "hard")) == ["r1", "r2"]
    assert columns(table(glue, database, "hard")) == list(GLUE_TYPES.items())

    # The layout is Hive's: a reader that knows nothing of the catalog finds the partitions.
    import duckdb

    for key in list_prefix(s3, bucket, "exports/hard/")[0]:
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    got = duckdb.sql(
        f"SELECT run, count(*), sum(d12) FROM read_parquet('{tmp_path}/exports/hard/*/*.parquet',"
        " hive_partitioning = true) GROUP BY run ORDER BY run"
    ).fetchall()
    assert [(r, n) for r, n, _ in got] == [("r1", 4), ("r2", 4)]


def test_schema_growth_and_incompatible_changes(
    moto: MotoServer, glue: Any, s3: Any, bucket: str, database: str, secret: str
) -> None:
    prefix = "exports/people"

    def run(query: str, run_id: str, *more: str) -> EtlRun:
        return extract(moto, secret, bucket, database, query, prefix, run_id, *more)

    first = run("SELECT id, name FROM customers", "a")
    assert first.returncode == 0, first.stderr
    grown = run("SELECT id, name, email, balance FROM customers", "b")
    assert grown.returncode == 0, grown.stderr
    assert grown.last("catalog")["table_change"] == "added email, balance"
    t = table(glue, database, "people")
    assert columns(t) == [
        ("id", "int"),
        ("name", "string"),
        ("email", "string"),
        ("balance", "decimal(12,2)"),
    ]
    found = partitions(glue, database, "people")
    assert columns(found["a"]) == [("id", "int"), ("name", "string")]  # its own files' schema
    assert columns(found["b"]) == columns(t)
    # The same columns in another order are the same table.
    shuffled = run("SELECT balance, email, id, name FROM customers", "c")
    assert shuffled.returncode == 0, shuffled.stderr
    assert shuffled.last("catalog")["table_change"] == "none"

    incompatible = [
        ("SELECT id, email, balance FROM customers", "'name' (string) is missing"),
        ("SELECT id, name AS full_name, email, balance FROM customers", "'name' (string) is"),
        (
            "SELECT CAST(id AS CHAR) AS id, name, email, balance FROM customers",
            "'id' changed type from int to string",
        ),
        (
            "SELECT id, name, email, CAST(balance AS DECIMAL(14,2)) AS balance FROM customers",
            "'balance' changed type from decimal(12,2) to decimal(14,2)",
        ),
    ]
    before = table(glue, database, "people")
    for n, (query, message) in enumerate(incompatible):
        more = ("--parallel", "2", "--split-column", "id") if n == 0 else ()
        refused = run(query, f"x{n}", *more)
        assert refused.returncode == 5, refused.stderr
        failed = refused.last("failed")
        assert failed["kind"] == "catalog"
        assert message in failed["error"]
        assert "left as it was" in failed["error"]
        assert "part" not in refused.phases()  # refused before the first row was read
        assert list_prefix(s3, bucket, f"{prefix}/run=x{n}/") == ([], [])
    after = table(glue, database, "people")
    assert columns(after) == columns(before)
    assert after.get("VersionId") == before.get("VersionId")
    assert sorted(partitions(glue, database, "people")) == ["a", "b", "c"]


def test_results_athena_cannot_read_are_refused_before_any_row(
    moto: MotoServer, glue: Any, s3: Any, bucket: str, database: str, secret: str
) -> None:
    cases = [
        ("SELECT id, NULL AS nothing FROM customers", "'nothing' (NULL) is the NULL type"),
        ("SELECT id, email AS ID FROM customers", "'id' and 'ID' are the same Glue column"),
        ("SELECT id, 'x' AS run FROM customers", "clashes with the partition key"),
        ("SELECT id, d65 FROM hard", "decimal256(65, 30), which Athena cannot read"),
    ]
    for n, (query, message) in enumerate(cases):
        more = ("--wide-decimals", "decimal256") if "d65" in query else ()
        run = extract(moto, secret, bucket, database, query, f"exports/odd{n}", "r", *more)
        assert run.returncode == 5, run.stderr
        assert message in run.last("failed")["error"]
        assert "part" not in run.phases()
        assert list_prefix(s3, bucket, f"exports/odd{n}/") == ([], [])
    assert glue.get_tables(DatabaseName=database)["TableList"] == []


CHECKED = "SELECT id, email, row_check(email) AS ok FROM customers"


def test_failed_runs_never_appear(
    moto: MotoServer, glue: Any, s3: Any, bucket: str, database: str, secret: str
) -> None:
    """A run that fails mid-stream adds no partition; a failed rerun of a run id removes that
    run's partition before its files; a catalog failure after the data is written removes the
    run's files (and its partition, when Glue had added it before the failure)."""
    prefix = "exports/checked"

    def run(query: str, run_id: str, endpoint: str | None = None) -> EtlRun:
        # Files of 100 rows: some are complete before row 300 fails.
        return extract(
            moto, secret, bucket, database, query, prefix, run_id, endpoint=endpoint,
            ETL_PART_MAX_ROWS="100", ETL_FETCH_SIZE="50",
        )  # fmt: skip

    ok = run(f"{CHECKED} WHERE id < 300", "good")
    assert ok.returncode == 0, ok.stderr
    assert sorted(partitions(glue, database, "checked")) == ["good"]

    # row_check refuses row 300, mid-stream: exit 3, no partition, no file.
    failed = run(CHECKED, "bad")
    assert failed.returncode == 3, failed.stderr
    assert "part" in failed.phases()  # it had written files before it failed
    assert sorted(partitions(glue, database, "checked")) == ["good"]
    assert list_prefix(s3, bucket, f"{prefix}/run=bad/") == ([], [])

    # The data is complete, then Glue fails: no partition, and the files go too.
    def refuse_partition(method: str, path: str, query: Any, target: str) -> Injected | None:
        if target == "AWSGlue.CreatePartition":
            return Injected(400, "AccessDeniedException")
        return None

    with RecordingProxy(moto.endpoint, fault=refuse_partition) as proxy:
        refused = run(f"{CHECKED} WHERE id < 300", "refused", proxy.endpoint)
    assert refused.returncode == 5, refused.stderr
    assert refused.last("failed")["kind"] == "catalog"
    assert "manifest" in refused.phases()
    assert sorted(partitions(glue, database, "checked")) == ["good"]
    assert list_prefix(s3, bucket, f"{prefix}/run=refused/") == ([], [])

    # Glue adds the partition but the answer is lost: the run withdraws it, then the files.
    def lose_answer(method: str, path: str, query: Any, target: str) -> Injected | None:
        if target == "AWSGlue.CreatePartition":
            return Injected(500, "InternalServiceException", after_forwarding=True)
        return None

    with RecordingProxy(moto.endpoint, fault=lose_answer) as proxy:
        lost = run(f"{CHECKED} WHERE id < 300", "lost", proxy.endpoint)
    assert lost.returncode == 5, lost.stderr
    assert next(r for r in lost.logs if r.get("step") == "withdraw")["removed"] is True
    assert sorted(partitions(glue, database, "checked")) == ["good"]
    assert list_prefix(s3, bucket, f"{prefix}/run=lost/") == ([], [])

    # A rerun of "good" that fails: the old partition goes before the old files do.
    rerun = run(CHECKED, "good")
    assert rerun.returncode == 3, rerun.stderr
    assert partitions(glue, database, "checked") == {}
    assert list_prefix(s3, bucket, f"{prefix}/run=good/") == ([], [])
    assert columns(table(glue, database, "checked")) == [
        ("id", "int"),
        ("email", "string"),
        ("ok", "int"),
    ]


@pytest.mark.parametrize("rerun", [False, True])
def test_partition_is_added_after_the_manifest(
    moto: MotoServer, glue: Any, s3: Any, bucket: str, database: str, secret: str, rerun: bool
) -> None:
    """On the wire: the table and the partition are written only after the manifest PUT has
    returned; a rerun drops the run's old partition before it deletes the old files."""
    query = "SELECT * FROM customers"
    prefix = "exports/ordered"
    if rerun:
        first = extract(moto, secret, bucket, database, query, prefix, "r")
        assert first.returncode == 0, first.stderr
    with RecordingProxy(moto.endpoint) as proxy:
        run = extract(
            moto, secret, bucket, database, query, prefix, "r", "--parallel", "2",
            "--split-column", "id", endpoint=proxy.endpoint,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    requests = proxy.requests
    manifest = [r for r in requests if r.method == "PUT" and r.path.endswith("/_manifest.json")]
    assert len(manifest) == 1
    glue_writes = [
        r
        for r in requests
        if r.target.split(".")[-1] in ("CreateTable", "UpdateTable", "CreatePartition")
    ]
    assert [r.target.split(".")[-1] for r in glue_writes] == (
        ["CreatePartition"] if rerun else ["CreateTable", "CreatePartition"]
    )
    assert all(r.started >= manifest[0].finished for r in glue_writes)
    assert requests[-1] is glue_writes[-1]  # nothing after the partition
    if rerun:
        drops = [r for r in requests if r.target == "AWSGlue.DeletePartition"]
        deletes = [r for r in requests if r.method in ("DELETE", "POST") and "run=r" in r.path]
        assert len(drops) == 1
        assert deletes
        assert drops[0].finished <= min(r.started for r in deletes)
    out = read_run(s3, bucket, f"{prefix}/run=r")
    assert partitions(glue, database, "ordered")["r"]["Parameters"]["rows"] == str(
        out.manifest["rows"]
    )
