"""Failures in the middle of a run: the database dies, the S3 endpoint goes away.

Each uses its own server so the session's servers stay healthy, and checks the exit code,
that nothing is left under the prefix (no object, no manifest, no multipart upload) and that
the password never reaches the logs.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.etl.conftest import (
    DB_NAME,
    DB_PASSWORD,
    DB_USER,
    REGION,
    Db,
    EtlProcess,
    EtlRun,
    etl_args,
    etl_env,
    parse_logs,
    put_secret,
    run_etl,
)
from tests.support.etl_output import list_prefix, read_run
from tests.support.load import busy_loops
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
        # gzip CSV: larger than Parquet, so the upload is still going when the test looks
        etl = EtlProcess([*args(secret, bucket, "SELECT * FROM big"), "--format", "csv.gz"], env)
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
        assert read_run(s3, bucket, f"{PREFIX}/run=tls").rows == [[1, "tls"], [2, None]]

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
    assert list_prefix(s3, bucket, f"{PREFIX}/run=r/") == ([], [])


# -- stop signals (ECS: SIGTERM, then SIGKILL 30 s later) -----------------------------------

STOP_LIMIT = 25.0  # seconds from the signal to the exit; ECS kills at 30
STRESS_ROWS = 40_000
STRESS_RUNS = int(os.environ.get("ETL_STRESS_RUNS", "32"))


def stop_env(moto: MotoServer, parallel: str, **extra: str) -> dict[str, str]:
    settings = {
        "ETL_PART_MAX_BYTES": str(256 * 1024),
        "ETL_FETCH_SIZE": "2000",
        "ETL_PARALLEL": parallel,
        "ETL_SPLIT_COLUMN": "id",
    }
    return etl_env(moto, **{**settings, **extra})


def finish_within(etl: EtlProcess, seconds: float = STOP_LIMIT) -> EtlRun:
    """The run's end; fail (and kill it) if it takes longer than ``seconds``."""
    try:
        return etl.finish(timeout=seconds)
    except subprocess.TimeoutExpired:
        etl.proc.kill()
        for pid in worker_pids(parse_logs("".join(etl.lines))):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(
            f"ETL still running {seconds}s after the signal:\n{''.join(etl.lines)}"
        ) from None


def worker_pids(logs: list[dict[str, Any]]) -> list[int]:
    return [int(r["pid"]) for r in logs if r.get("phase") == "worker"]


def assert_processes_gone(pids: list[int]) -> None:
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        assert state == "Z", f"worker {pid} is still running (state {state})"


def assert_stopped_clean(run: EtlRun, s3: Any, bucket: str, prefix: str) -> None:
    """Exit 143 after a complete cleanup: nothing under the prefix, no open upload."""
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert run.last("failed")["kind"] == "terminated", run.stderr
    assert run.last("stopped")["signal"] == "SIGTERM"
    assert "cleanup_incomplete" not in run.phases(), run.stderr
    assert "workers_killed" not in run.phases(), run.stderr  # they stopped on their own
    assert list_prefix(s3, bucket, prefix) == ([], []), run.stderr
    assert_processes_gone(worker_pids(run.logs))
    assert DB_PASSWORD not in run.stderr


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_sigterm_cleans_up(db: Db, moto: MotoServer, parallel: str) -> None:
    """ECS stops a task with SIGTERM: the run still removes what it wrote."""
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
    run = finish_within(etl)
    assert_stopped_clean(run, s3, bucket, PREFIX)
    assert run.last("cleanup")["reason"] == "failed run"
    assert run.last("cleanup")["deleted_objects"] >= 1
    if parallel == "2":
        assert len(worker_pids(run.logs)) == 2


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_sigterm_interrupts_a_blocked_database_read(
    db: Db, moto: MotoServer, parallel: str
) -> None:
    """The query runs 60 s before its first row: the signal does not wait for it."""
    s3 = moto.client("s3", REGION)
    bucket = new_bucket(s3)
    secret = put_secret(moto, db.secret())
    query = "SELECT id, SLEEP(60) AS s FROM big WHERE id IN (1, 2)"
    etl = EtlProcess(args(secret, bucket, query), stop_env(moto, parallel))
    if parallel == "1":
        etl.wait_for("cleanup")  # the prefix is cleared just before the query is sent
    else:
        etl.wait_for("connect", worker=1)  # a worker is about to send its query
    time.sleep(0.5)
    sent = time.monotonic()
    etl.proc.send_signal(signal.SIGTERM)
    run = finish_within(etl)
    assert time.monotonic() - sent < 20, "the ETL waited for the query"
    assert_stopped_clean(run, s3, bucket, PREFIX)
    assert "query" not in run.phases()  # no row ever came


def test_sigterm_storm_does_not_cut_cleanup_short(db: Db, moto: MotoServer) -> None:
    """Signals keep coming during the cleanup (an impatient operator, a supervisor repeating
    itself): the cleanup still finishes and the run still exits 143."""
    s3 = moto.client("s3", REGION)
    bucket = new_bucket(s3)
    secret = put_secret(moto, db.secret())
    etl = EtlProcess(
        args(secret, bucket, "SELECT * FROM big"), stop_env(moto, "2", ETL_PART_MAX_BYTES="65536")
    )
    etl.wait_for("part", worker=0)  # both workers have a file in S3
    etl.wait_for("part", worker=1)
    sent = 0
    deadline = time.monotonic() + STOP_LIMIT
    while etl.proc.poll() is None and time.monotonic() < deadline:
        etl.proc.send_signal(signal.SIGINT if sent % 3 == 2 else signal.SIGTERM)
        sent += 1
        time.sleep(0.005)
    run = finish_within(etl, 1)
    assert_stopped_clean(run, s3, bucket, PREFIX)
    cleanup = run.last("cleanup")
    assert cleanup["reason"] == "failed run"
    assert cleanup["deleted_objects"] >= 2
    # More signals arrived after the "failed" line, i.e. while the cleanup ran, and it went on.
    stopped = run.last("stopped")
    assert stopped["signals"] > run.last("failed")["signals"] >= 1
    assert stopped["signals"] <= sent


@pytest.mark.parametrize("moment", ["starting", "mid-stream"])
def test_worker_killed_is_noticed(db: Db, moto: MotoServer, moment: str) -> None:
    """SIGKILL of a worker (out of memory, say): the supervisor stops the other worker,
    cleans up and exits non-zero."""
    s3 = moto.client("s3", REGION)
    bucket = new_bucket(s3)
    secret = put_secret(moto, db.secret())
    etl = EtlProcess(args(secret, bucket, "SELECT * FROM big"), stop_env(moto, "2"))
    victim = etl.wait_for("worker", worker=1)["pid"]
    if moment == "mid-stream":
        etl.wait_for("part", worker=1)
    os.kill(victim, signal.SIGKILL)
    run = finish_within(etl)
    assert run.returncode == 1, run.stderr
    failed = run.last("failed")
    assert failed["kind"] == "worker"
    assert "SIGKILL" in failed["error"]
    assert run.last("cleanup")["reason"] == "failed run"
    assert list_prefix(s3, bucket, PREFIX) == ([], [])
    assert_processes_gone(worker_pids(run.logs))


def test_sigterm_at_random_moments_under_load(db: Db, moto: MotoServer) -> None:
    """SIGTERM at random moments of ``--parallel 1`` and ``--parallel 2`` runs, with two busy
    loops competing for the CPU: every run exits within 25 s, either complete (the signal
    came after the manifest) or stopped with nothing left under its prefix.

    Half the signals follow a log line (start-up, connect, plan, workers starting, query,
    first part, extract just before the manifest, the catalog's steps) by a random few
    milliseconds, the other half come at a random time within the length of a whole run.
    Parquet runs register their partition in a Glue database: a complete run has it, a
    stopped one never does. Seed: ETL_STRESS_SEED."""
    seed = int(os.environ.get("ETL_STRESS_SEED", str(time.time_ns() % 1_000_000)))
    rnd = random.Random(seed)
    s3 = moto.client("s3", REGION)
    glue = moto.client("glue", REGION)
    bucket = new_bucket(s3)
    secret = put_secret(moto, db.secret())
    database = f"stress_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": database})
    query = f"SELECT * FROM big WHERE id <= {STRESS_ROWS}"

    # Small files (Parquet rotates on its row groups) so that runs are mid-stream for a while.
    small = {"ETL_PART_MAX_BYTES": str(128 * 1024), "ETL_ROW_GROUP_BYTES": str(512 * 1024)}

    def env_for(parallel: str, fmt: str) -> dict[str, str]:
        catalog = {"ETL_GLUE_DATABASE": database} if fmt == "parquet" else {}
        return stop_env(moto, parallel, **small, **catalog)

    def partition(table: str) -> list[str]:
        try:
            found = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
        except glue.exceptions.EntityNotFoundException:
            return []
        return [p["Values"][0] for p in found]

    phases = {
        "1": ["start", "secret", "connect", "cleanup", "query", "part", "extract"],
        "2": ["start", "plan", "cleanup", "worker", "query", "part", "extract"],
    }
    formats = ("parquet", "csv.gz")
    outcomes: list[tuple[str, str, str, int, float]] = []
    with busy_loops(2):
        full: dict[tuple[str, str], float] = {}
        for parallel in ("1", "2"):  # how long a whole run takes under this load
            for fmt in formats:
                t = time.monotonic()
                prefix = f"stress/full_{parallel}_{fmt[:3]}"
                run = run_etl(
                    etl_args(secret, bucket, query, prefix, "--run-id", "r", "--format", fmt),
                    env_for(parallel, fmt),
                )
                assert run.returncode == 0, run.stderr
                full[parallel, fmt] = time.monotonic() - t
                assert read_run(s3, bucket, f"{prefix}/run=r").manifest["rows"] == STRESS_ROWS

        plan: list[tuple[str, str, str | None]] = []
        for n in range(STRESS_RUNS):
            parallel, fmt = "12"[n % 2], formats[n // 2 % 2]
            # The first four (both modes, both formats) right after the first part: mid-stream.
            choices = phases[parallel] + (["catalog"] if fmt == "parquet" else [])
            trigger = "part" if n < 4 else rnd.choice(choices) if n % 4 < 2 else None
            plan.append((parallel, fmt, trigger))
        for n, (parallel, fmt, trigger) in enumerate(plan):
            prefix = f"stress/s{n}"
            etl = EtlProcess(
                etl_args(secret, bucket, query, prefix, "--run-id", "r", "--format", fmt),
                env_for(parallel, fmt),
            )
            if trigger:
                with contextlib.suppress(AssertionError):  # it may end before: still checked
                    etl.wait_for(trigger, timeout=30)
                time.sleep(rnd.uniform(0, 0.05))
                what = f"{fmt}, after {trigger!r}"
            else:
                delay = rnd.uniform(0, 1.1 * full[parallel, fmt])
                time.sleep(delay)
                what = f"{fmt}, at {delay:.2f}s"
            sent = time.monotonic()
            etl.proc.send_signal(signal.SIGTERM)
            try:
                run = finish_within(etl)
            except AssertionError as e:
                raise AssertionError(
                    f"seed {seed}, run {n} (--parallel {parallel}, {what}): {e}"
                ) from None
            took = time.monotonic() - sent
            context = f"seed {seed}, run {n} (--parallel {parallel}, signal {what})"
            if run.returncode == 0:  # the signal came after the manifest: a complete run
                out = read_run(s3, bucket, f"{prefix}/run=r")
                assert out.manifest["rows"] == STRESS_ROWS, context
                assert partition(f"s{n}") == (["r"] if fmt == "parquet" else []), context
                kind = "completed"
            elif run.returncode == -signal.SIGTERM:
                # Before Python ran a line of the ETL (interpreter start-up): nothing written.
                assert run.logs == [], context
                assert list_prefix(s3, bucket, prefix) == ([], []), context
                kind = "before start-up"
            else:
                try:
                    assert_stopped_clean(run, s3, bucket, prefix)
                    assert partition(f"s{n}") == [], "a stopped run's partition is registered"
                except AssertionError as e:
                    raise AssertionError(f"{context}: {e}") from None
                cleaned = run.last("cleanup") if "cleanup" in run.phases() else {}
                kind = "stopped" if cleaned.get("reason") == "failed run" else "stopped early"
                if cleaned.get("reason") == "failed run" and cleaned.get("deleted_objects"):
                    kind = "stopped, parts removed"
            outcomes.append((parallel, what, kind, run.returncode, took))

    summary = collections.Counter((p, k) for p, _, k, _, _ in outcomes)
    print(f"seed {seed}; full run {full}; outcomes {dict(summary)}")
    print(f"slowest exit after the signal: {max(o[4] for o in outcomes):.2f}s")
    assert len(outcomes) == STRESS_RUNS
    # The schedule really hit running extractions, for both modes.
    for parallel in ("1", "2"):
        assert summary[(parallel, "stopped, parts removed")] >= 1, summary
