"""Fixtures for the ETL image tests: one MariaDB and one moto server for the session, and a
helper that runs ``python -m etl`` as a process the way the container does."""

from __future__ import annotations

import datetime as dt
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
            seed_hard_cases(conn)
            create_row_check(conn)
            seed_orders(conn)
        yield Db(server)


HARD_DDL = """
CREATE TABLE hard (
    id INT NOT NULL PRIMARY KEY,
    txt VARCHAR(200) NULL,
    latin VARCHAR(32) CHARACTER SET latin1 NULL,
    big_text MEDIUMTEXT NULL,
    bin VARBINARY(16) NULL,
    fixed BINARY(4) NULL,
    blb LONGBLOB NULL,
    flag BIT(1) NULL,
    bits BIT(12) NULL,
    doc JSON NULL,
    d65 DECIMAL(65,30) NULL,
    d38 DECIMAL(38,10) NULL,
    d12 DECIMAL(12,2) NOT NULL,
    ubig BIGINT UNSIGNED NULL,
    sbig BIGINT NULL,
    tiny TINYINT NULL,
    utiny TINYINT UNSIGNED NULL,
    umed MEDIUMINT UNSIGNED NULL,
    f FLOAT NULL,
    dbl DOUBLE NULL,
    d DATE NULL,
    dt0 DATETIME NULL,
    dt3 DATETIME(3) NULL,
    dt6 DATETIME(6) NULL,
    ts TIMESTAMP(6) NULL DEFAULT NULL,
    t TIME(3) NULL,
    y YEAR NULL,
    e ENUM('small', 'medium', 'large') NULL,
    s SET('a', 'b', 'c') NULL
) DEFAULT CHARSET=utf8mb4
"""

# Row by row: extremes, zero dates, CSV/pandas/DuckDB traps, all NULL. The test's expected
# values are written out beside it (tests/etl/test_etl_types.py).
HARD_ROWS = [
    "(1, '', 'café', REPEAT('ü', 524288), X'FF00FE', X'00000000', X'', b'1', b'101010101010',"
    ' \'{"a": [1, "x\\\\"y"]}\','
    " '-12345678901234567890123456789012345.123456789012345678901234567890',"
    " '1234567890123456789012345678.0123456789', '-0.01', 18446744073709551615,"
    " -9223372036854775808, -128, 255, 16777215, 1.5, 1.7976931348623157e308, '2024-02-29',"
    " '1000-01-01 00:00:00', '2024-01-31 12:00:00.123', '9999-12-31 23:59:59.999999',"
    " '2024-10-27 00:30:00.000001', '-838:59:59.000', 1901, 'large', 'a,c')",
    "(2, 'quote \" comma , newline \n crlf \r\n tab \t emoji \U0001f680', 'ÿ', '', X'0A0D22',"
    " X'FFFFFFFF', X'2C22', b'0', b'0', '[]', '0.000000000000000000000000000001', '-0.0000000001',"
    " '9999999999.99', 0, 9223372036854775807, 127, 0, 0, -0.0, -2.2250738585072014e-308,"
    " '0000-00-00', '0000-00-00 00:00:00', '2024-00-10 10:00:00.000', '2024-02-30 00:00:00',"
    " '0000-00-00 00:00:00', '838:59:59.999', 2155, 'small', '')",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0.00', NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, '01234', 'NA', 'null', 'None', 'true', NULL, b'1', b'111111111111', 'null',"
    " '99999999999999999999999999999999999.999999999999999999999999999999',"
    " '-9999999999999999999999999999.9999999999', '0.10', 9223372036854775808, -1, 0, 1, 1,"
    " -3.25, 0.1, '2024-12-31', '2024-10-27 02:30:00', '2024-10-27 02:30:00.5',"
    " '2024-10-27 02:30:00.000001', '2024-10-27 01:30:00', '00:00:00.001', 0, 'medium', 'a,b,c')",
]


def seed_hard_cases(conn: Any) -> None:
    with conn.cursor() as cur:
        # Zero dates and days a month does not have, as old applications wrote them.
        cur.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP literals are UTC instants
        cur.execute(HARD_DDL)
        cur.execute("INSERT INTO hard VALUES " + ", ".join(HARD_ROWS))


# Incremental extracts: an order every 45 minutes from 2030-10-31 20:00 UTC, and one exactly on
# each daily interval boundary (02:15, as hq's orders schedule "15 2 * * *").
ORDERS_START = dt.datetime(2030, 10, 31, 20, 0)
ORDER_TIMES = [ORDERS_START + dt.timedelta(minutes=45 * i) for i in range(120)] + [
    dt.datetime(2030, 11, day, 2, 15) for day in (1, 2, 3)
]
# Values a spliced parameter would turn into SQL: quotes, backslashes, %, a :name.
TRICKY = [
    "O'Brien",
    "x' OR '1'='1",
    "100% \\' OR 1=1 -- ",
    'say "hi" :interval_end; DROP TABLE orders',
    "%(v)s %s %%",
]


def order_note(i: int) -> str | None:
    """Order ``i``'s note: every tenth order has one of ``TRICKY``, in turn."""
    return TRICKY[(i // 10) % len(TRICKY)] if i % 10 == 0 else None


def seed_orders(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL,"
            " total DECIMAL(10,2) NOT NULL, note VARCHAR(100) NULL, created_at DATETIME NOT NULL)"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, %s, %s)",
            [
                (i, i % 7, f"{i * 1.5:.2f}", order_note(i), at)
                for i, at in enumerate(ORDER_TIMES, start=1)
            ],
        )


# A stored function that refuses one row and names its value in the error, as application
# functions and triggers do: what the ETL must keep out of its logs.
ROW_CHECK = """
CREATE FUNCTION row_check(v VARCHAR(200)) RETURNS INT DETERMINISTIC
BEGIN
    IF v = 'user300@example.com' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refusing row with email ''user300@example.com''';
    END IF;
    RETURN 1;
END
"""


def create_row_check(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(ROW_CHECK)
        for host in ("%", "localhost", "127.0.0.1"):
            cur.execute(f"GRANT EXECUTE ON FUNCTION {DB_NAME}.row_check TO %s@%s", (DB_USER, host))


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
