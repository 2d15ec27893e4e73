"""End to end: the command a generated task sends, run as the ETL container would run it.

The operator's rendered container command (the RunTask override) is run as ``python -m etl`` with
the task definition's environment (docs/contracts.md §3) against a private MariaDB with seeded
tables and moto's Secrets Manager and S3; the extract lands under the site's prefix.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pendulum
import pytest

from tests.support.services import MariaDB, MotoServer, seed_customers

from .conftest import ROOT, MakeFolder, load_dagbag, site_of

pytestmark = pytest.mark.slow

LOGICAL_DATE = pendulum.datetime(2030, 5, 17, 3, 0, tz="UTC")
RUN_ID = "20300517T030000"
BUCKET = "hybrid-test-lake"
CUSTOMERS = 250
ADMISSIONS = 40


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[MariaDB, dict[str, Any]]]:
    with MariaDB() as db:
        password = db.create_database_and_user("sitedb", "etl", "etl-test-password")
        with db.root_connect("sitedb") as conn:
            seed_customers(conn, CUSTOMERS)
            with conn.cursor() as cur:
                cur.execute(
                    "CREATE TABLE admissions (id INT PRIMARY KEY, ward VARCHAR(20),"
                    " admitted_at DATETIME, discharged_at DATETIME NULL)"
                )
                cur.executemany(
                    "INSERT INTO admissions VALUES (%s, %s, %s, %s)",
                    [
                        (i, f"ward-{i % 4}", f"2030-05-{1 + i % 16:02d} 08:00:00", None)
                        for i in range(1, ADMISSIONS + 1)
                    ],
                )
            conn.commit()
        yield db, db.secret("sitedb", "etl", password)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def _rendered_command(task: Any) -> list[str]:
    ti = mock.Mock(dag_id=task.dag_id, task_id=task.task_id, run_id="scheduled__x", map_index=-1)
    task.render_template_fields(
        {"dag_run": mock.Mock(logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE), "ti": ti}
    )
    (container,) = task.overrides["containerOverrides"]
    assert container["name"] == "etl"
    return container["command"]


@pytest.mark.parametrize(
    ("site_name", "dag_id", "rows"),
    [("hq", "etl_hq__customers", CUSTOMERS), ("munich", "etl_munich", ADMISSIONS)],
)
def test_task_command_runs_the_etl_into_the_site_prefix(
    database: tuple[MariaDB, dict[str, Any]],
    moto: MotoServer,
    make_dags_folder: MakeFolder,
    prod_manifest: dict[str, Any],
    site_name: str,
    dag_id: str,
    rows: int,
) -> None:
    if not (ROOT / "etl_image" / "etl" / "__main__.py").exists():
        pytest.fail("etl_image/etl is missing: the end-to-end test runs the real ETL")
    _, secret = database
    site = site_of(prod_manifest, site_name)
    region = site["region"]
    task = load_dagbag(make_dags_folder(prod_manifest)).dags[dag_id].tasks[0]
    extract = next(e for e in site["extracts"] if e["name"] == task.task_id)
    command = _rendered_command(task)
    expected = ["--query", extract["query"], "--key-prefix", extract["keyPrefix"]]
    assert command == [*expected, "--run-id", RUN_ID]

    # what the stack puts in place: the site's secret and the lake bucket
    secret_arn = moto.client("secretsmanager", region).create_secret(
        Name=f"hybrid/prod/{site_name}/db", SecretString=json.dumps(secret)
    )["ARN"]
    s3 = moto.client("s3", region)
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": region})

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ETL_", "AIRFLOW"))},
        **moto.env(region),
        "PYTHONPATH": str(ROOT / "etl_image"),
        # the task definition's environment (docs/contracts.md §3)
        "ETL_SECRET_ID": secret_arn,
        "ETL_BUCKET": BUCKET,
        "ETL_SITE": site_name,
        "ETL_REGION": region,
        "ETL_FORMAT": "csv.gz",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "etl", *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"etl exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"

    prefix = f"{extract['keyPrefix']}/{RUN_ID}/"
    assert prefix.startswith(f"{site['lakePrefix']}/")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{site['lakePrefix']}/")
    keys = sorted(obj["Key"] for obj in listed.get("Contents", []))
    assert keys, "nothing written under the site's prefix"
    assert all(key.startswith(prefix) for key in keys), keys
    parts = [k for k in keys if k.rsplit("/", 1)[1].startswith("part-")]
    assert parts
    assert all(k.endswith(".csv.gz") for k in parts)
    assert f"{prefix}_manifest.json" in keys

    data_rows = 0
    for key in parts:
        body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        records = list(csv.reader(io.StringIO(body.decode("utf-8"))))
        data_rows += len(records) - 1 if records else 0  # one header line per part
    assert data_rows == rows
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"{prefix}_manifest.json")["Body"].read()
    )
    assert (manifest["site"], manifest["run_id"], manifest["rows"]) == (site_name, RUN_ID, rows)
