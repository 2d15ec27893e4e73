"""Failures in the middle of a run: the database dies, the S3 endpoint goes away.

Each uses its own server so the session's servers stay healthy, and checks the exit code,
that nothing is left under the prefix (no object, no manifest, no multipart upload) and that
the password never reaches the logs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.etl.conftest import (
    DB_NAME,
    DB_PASSWORD,
    DB_USER,
    REGION,
    Db,
    EtlProcess,
    etl_args,
    etl_env,
    put_secret,
    run_etl,
)
from tests.support.etl_output import list_prefix, read_run
from tests.support.services import MariaDB, MotoServer, seed_customers_fast

pytestmark = pytest.mark.slow

PREFIX = "exports/failing"
MIB = 1024 * 1024


def args(secret: str, bucket: str, query: str) -> list[str]:
    return etl_args(secret, bucket, query, PREFIX, "--run-id", "r")


def new_bucket(s3: Any) -> str:
    name = f"etl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def doomed_db() -> Iterator[MariaDB]:
    with MariaDB() as server:
        server.create_database_and_user(DB_NAME, DB_USER, DB_PASSWORD)
        with server.root_connect(DB_NAME) as conn:
            seed_customers_fast(conn, 500_000, table="big")
        yield server


@pytest.mark.parametrize(("reader", "parallel"), [("wire", "1"), ("fetchmany", "1"), ("wire", "2")])
def test_database_killed_mid_stream(
    doomed_db: MariaDB, moto: MotoServer, reader: str, parallel: str
) -> None:
    s3 = moto.client("s3", REGION)
    bucket = new_bucket(s3)
    secret = put_secret(moto, doomed_db.secret(DB_NAME, DB_USER, DB_PASSWORD))
    # Small part files so some are complete (visible) when the database dies.
    env = etl_env(
        moto,
        ETL_PART_MAX_BYTES=str(MIB),
        ETL_FETCH_SIZE="2000",
        ETL_ROW_READER=reader,
        ETL_PARALLEL=parallel,
        ETL_SPLIT_COLUMN="id",
    )
    etl = EtlProcess(args(secret, bucket, "SELECT * FROM big"), env)
    etl.wait_for("progress")
    etl.wait_for("part")  # at least one part file is already in S3
    assert list_prefix(s3, bucket, PREFIX)[0], "expected a completed part before the kill"
    doomed_db.kill()
    run = etl.finish()

    assert run.returncode == 3, run.stderr
    failed = run.last("failed")
    assert failed["kind"] == "source"
    assert "lost connection" in failed["error"].lower()
    cleanup = run.last("cleanup")
    assert cleanup["reason"] == "failed run"
    assert cleanup["deleted_objects"] >= 1
    assert DB_PASSWORD not in run.stderr
    keys, uploads = list_prefix(s3, bucket, PREFIX)
    assert keys == []
    assert uploads == []


def test_s3_endpoint_stopped_mid_upload(db: Db) -> None:
    # A second moto server: the ETL talks only to it, the test stops it mid-upload.
    with MotoServer() as moto:
        s3 = moto.client("s3", REGION)
        bucket = new_bucket(s3)
        secret = put_secret(moto, db.secret())
        env = etl_env(
            moto,
            ETL_UPLOAD_PART_BYTES=str(5 * MIB),
            ETL_S3_MAX_ATTEMPTS="2",
            ETL_S3_TIMEOUT="2",
            ETL_CLEANUP_SECONDS="30",
        )
        etl = EtlProcess(args(secret, bucket, "SELECT * FROM big"), env)
        deadline = time.monotonic() + 60
        while not list_prefix(s3, bucket, PREFIX)[1]:  # a multipart upload is under way
            assert etl.proc.poll() is None, "".join(etl.lines)
            assert time.monotonic() < deadline, "no multipart upload started"
            time.sleep(0.01)
        moto.stop()
        failed = etl.wait_for("failed")  # S3 calls fail, the run gives up...
        assert failed["kind"] == "sink"
        assert failed["exit_code"] == 4
        moto.restart()  # ...and its cleanup, still retrying, finds the endpoint back
        run = etl.finish()

        assert run.returncode == 4, run.stderr
        assert DB_PASSWORD not in run.stderr
        cleanup = run.last("cleanup")
        assert cleanup["reason"] == "failed run"
        assert cleanup.get("aborted_uploads", 0) >= 1, run.stderr
        keys, uploads = list_prefix(s3, bucket, PREFIX)
        assert keys == []
        assert uploads == []


def test_tls_when_the_secret_asks(db: Db, moto: MotoServer) -> None:
    s3 = moto.client("s3", REGION)
    bucket = new_bucket(s3)
    with MariaDB(tls=True) as server:
        assert server.tls is not None
        server.create_database_and_user(DB_NAME, DB_USER, DB_PASSWORD, require_ssl=True)
        with server.root_connect(DB_NAME) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
            cur.execute("INSERT INTO t VALUES (1, 'tls'), (2, NULL)")
        ok = put_secret(moto, server.secret(DB_NAME, DB_USER, DB_PASSWORD, tls=True))
        cmd = [
            "--secret-id",
            ok,
            "--query",
            "SELECT * FROM t",
            "--bucket",
            bucket,
            "--key-prefix",
            PREFIX,
        ]

        run = run_etl([*cmd, "--run-id", "tls"], etl_env(moto, ETL_TLS_CA=str(server.tls.ca)))
        assert run.returncode == 0, run.stderr
        assert run.last("connect")["tls"] is True
        assert read_run(s3, bucket, f"{PREFIX}/tls").rows == [["1", "tls"], ["2", None]]

        # The server's certificate is checked: an unknown CA is refused.
        run = run_etl([*cmd, "--run-id", "bad-ca"], etl_env(moto))
        assert run.returncode == 3, run.stderr
        assert "CERTIFICATE_VERIFY_FAILED" in run.last("failed")["error"]

    # A server without TLS is refused when the secret asks for it.
    no_tls = put_secret(moto, db.secret(tls=True))
    run = run_etl(args(no_tls, bucket, "SELECT 1"), etl_env(moto))
    assert run.returncode == 3, run.stderr
    assert "SSL" in run.last("failed")["error"]
    assert DB_PASSWORD not in run.stderr
    assert list_prefix(s3, bucket, f"{PREFIX}/r/") == ([], [])


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_sigterm_cleans_up(db: Db, moto: MotoServer, parallel: str) -> None:
    """ECS stops a task with SIGTERM: the run still removes what it wrote."""
    import signal

    s3 = moto.client("s3", REGION)
    bucket = new_bucket(s3)
    secret = put_secret(moto, db.secret())
    env = etl_env(
        moto,
        ETL_PART_MAX_BYTES=str(MIB),
        ETL_FETCH_SIZE="2000",
        ETL_PARALLEL=parallel,
        ETL_SPLIT_COLUMN="id",
    )
    etl = EtlProcess(args(secret, bucket, "SELECT * FROM big"), env)
    etl.wait_for("part")
    etl.proc.send_signal(signal.SIGTERM)
    run = etl.finish()
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert run.last("failed")["kind"] == "terminated"
    assert run.last("cleanup")["reason"] == "failed run"
    assert list_prefix(s3, bucket, PREFIX) == ([], [])
