"""Fixtures for the ETL image tests: one MariaDB and one moto server for the session, and a
helper that runs ``python -m etl`` as a process the way the container does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import MariaDB, MotoServer, seed_customers, seed_customers_fast

ROOT = Path(__file__).resolve().parents[2]
ETL_DIR = ROOT / "etl_image"
if str(ETL_DIR) not in sys.path:  # unit tests import the package directly
    sys.path.insert(0, str(ETL_DIR))

DB_NAME = "shop"
DB_USER = "etl"
DB_PASSWORD = "Pw-etl-9f3b2c71-never-logged"
CUSTOMERS = 500
BIG_ROWS = 400_000
REGION = "eu-central-1"
WIDE_MIB = 17


@dataclass
class Db:
    server: MariaDB
    password: str = DB_PASSWORD

    def secret(self, **overrides: Any) -> dict[str, Any]:
        return {**self.server.secret(DB_NAME, DB_USER, self.password), **overrides}


@pytest.fixture(scope="session")
def db() -> Iterator[Db]:
    with MariaDB(extra_args=["--max-allowed-packet=64M"]) as server:
        server.create_database_and_user(DB_NAME, DB_USER, DB_PASSWORD)
        with server.root_connect(DB_NAME) as conn:
            seed_customers(conn, CUSTOMERS)
            seed_customers_fast(conn, BIG_ROWS, table="big")
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE empty_t LIKE customers")
                cur.execute(
                    "CREATE TABLE odd (id INT PRIMARY KEY, b VARBINARY(16) NULL, "
                    "j TEXT NULL, d DATE NULL, t TIME(3) NULL)"
                )
                cur.execute(
                    "INSERT INTO odd VALUES (1, X'00FF10', '', '2024-02-29', '-01:02:03.456'),"
                    " (2, NULL, NULL, NULL, NULL), (3, '', 'x', '0000-00-00', '00:00:00')"
                )
                # Values whose length needs 1, 3, 4 bytes, and a row over one 16 MiB packet.
                cur.execute(
                    "CREATE TABLE wide (id INT PRIMARY KEY, t LONGTEXT NULL, b LONGBLOB NULL)"
                )
                cur.execute(
                    "INSERT INTO wide VALUES (1, REPEAT('ä\"', 150), X'22FB00'),"
                    " (2, REPEAT('y,', 40000), NULL), (3, NULL, REPEAT(X'FB22', 300)),"
                    " (4, CONCAT(REPEAT('z', 17 * 1024 * 1024), '\"'), X''), (5, '', NULL)"
                )
        yield Db(server)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3(moto: MotoServer) -> Any:
    return moto.client("s3", REGION)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"etl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def put_secret(moto: MotoServer, value: dict[str, Any] | str) -> str:
    name = f"etl/db-{uuid.uuid4().hex[:8]}"
    body = value if isinstance(value, str) else json.dumps(value)
    moto.client("secretsmanager", REGION).create_secret(Name=name, SecretString=body)
    return name


def etl_env(moto: MotoServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ETL_"))}
    env.update(moto.env(REGION))
    env.update(
        PYTHONPATH=str(ETL_DIR),
        ETL_CONNECT_RETRIES="2",
        ETL_CONNECT_BACKOFF="0.1",
        ETL_CONNECT_TIMEOUT="5",
        ETL_S3_MAX_ATTEMPTS="2",
        ETL_S3_TIMEOUT="5",
        ETL_CLEANUP_SECONDS="5",
        ETL_PROGRESS_SECONDS="0.05",
    )
    env.update(extra)
    return env


@dataclass
class EtlRun:
    returncode: int
    stdout: str
    stderr: str
    logs: list[dict[str, Any]] = field(default_factory=list)

    def phases(self) -> list[str]:
        return [r.get("phase", "") for r in self.logs]

    def last(self, phase: str) -> dict[str, Any]:
        return [r for r in self.logs if r.get("phase") == phase][-1]


def parse_logs(stderr: str) -> list[dict[str, Any]]:
    logs = []
    for line in stderr.splitlines():
        if line.strip():
            logs.append(json.loads(line))  # every stderr line is one JSON object
    return logs


def etl_args(secret: str, bucket: str, query: str, prefix: str, *more: str) -> list[str]:
    """The ETL's required flags, then any others."""
    return [
        "--secret-id",
        secret,
        "--query",
        query,
        "--bucket",
        bucket,
        "--key-prefix",
        prefix,
        *more,
    ]


def run_etl(args: list[str], env: dict[str, str], timeout: float = 120) -> EtlRun:
    res = subprocess.run(
        [sys.executable, "-m", "etl", *args],
        env=env,
        cwd=ETL_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return EtlRun(res.returncode, res.stdout, res.stderr, parse_logs(res.stderr))


class EtlProcess:
    """``python -m etl`` in the background; ``wait_for(phase)`` blocks until it logs it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "etl", *args],
            env=env,
            cwd=ETL_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, phase: str, timeout: float = 60, **where: Any) -> dict[str, Any]:
        """The first log line of ``phase`` (whose fields match ``where``)."""
        needle = f'"phase":"{phase}"'

        def found() -> dict[str, Any] | None:
            for ln in self.lines:
                if needle in ln:
                    rec = json.loads(ln)
                    if all(rec.get(k) == v for k, v in where.items()):
                        return dict(rec)
            return None

        with self._cond:
            ok = self._cond.wait_for(
                lambda: found() is not None or self.proc.poll() is not None, timeout=timeout
            )
            rec = found()
        if not ok or rec is None:
            raise AssertionError(f"ETL never logged {phase!r}; stderr:\n{''.join(self.lines)}")
        return rec

    def logged(self, phase: str) -> bool:
        needle = f'"phase":"{phase}"'
        with self._cond:
            return any(needle in ln for ln in self.lines)

    def finish(self, timeout: float = 120) -> EtlRun:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        stdout = self.proc.stdout.read()
        stderr = "".join(self.lines)
        return EtlRun(self.proc.returncode, stdout, stderr, parse_logs(stderr))
