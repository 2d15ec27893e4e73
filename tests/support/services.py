"""Real services for tests and benchmarks: a private MariaDB and a moto S3 server.

Plain stdlib + PyMySQL + moto, so it works from the main virtualenv and from the Airflow
virtualenv alike. Nothing here uses a fixed port: every server binds a free port chosen by
the kernel.

    with MariaDB() as db:
        db.create_database_and_user("shop", "etl", "s3cret")
        with db.root_connect("shop") as conn:
            seed_customers(conn, 100)
    with moto_server() as endpoint:
        ...

MariaDB must be installed (``mariadbd`` and ``mariadb-install-db``); when it is not,
starting one raises ``ServiceError`` with a message saying what to install.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql

__all__ = [
    "CUSTOMER_COLUMNS",
    "MariaDB",
    "MotoServer",
    "ServiceError",
    "TlsFiles",
    "aws_env",
    "customer_row",
    "free_port",
    "make_tls_files",
    "moto_server",
    "seed_customers",
    "seed_customers_fast",
]

_MARIADBD_CANDIDATES = ("/usr/sbin/mariadbd", "/usr/bin/mariadbd", "/usr/sbin/mysqld")
_INSTALL_DB_CANDIDATES = ("/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")


class ServiceError(RuntimeError):
    """A test service could not be started or used."""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, then release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _find(candidates: Sequence[str], name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    raise ServiceError(
        f"{name} not found: install MariaDB server (e.g. `apt-get install mariadb-server`) "
        "to run the tests that start a real database"
    )


class MariaDB:
    """A private MariaDB server in a temporary directory, on a free port of 127.0.0.1.

    ``root`` has no password and is reached over the Unix socket; applications connect over
    TCP with a user made by ``create_database_and_user``.
    """

    def __init__(
        self,
        *,
        basedir: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
        tls: bool = False,
    ) -> None:
        self._own_dir = basedir is None
        self.basedir = Path(basedir or tempfile.mkdtemp(prefix="mariadb-"))
        self.datadir = self.basedir / "data"
        self.socket = str(self.basedir / "sock")
        self.host = "127.0.0.1"
        self.port = 0
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = self.basedir / "mariadbd.log"
        self.tls: TlsFiles | None = None
        if tls:
            self.tls = make_tls_files(self.basedir / "tls")
            self.extra_args += [
                f"--ssl-ca={self.tls.ca}",
                f"--ssl-cert={self.tls.cert}",
                f"--ssl-key={self.tls.key}",
            ]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> MariaDB:
        mariadbd = _find(_MARIADBD_CANDIDATES, "mariadbd")
        install_db = _find(_INSTALL_DB_CANDIDATES, "mariadb-install-db")
        if not (self.datadir / "mysql").exists():
            self.datadir.mkdir(parents=True, exist_ok=True)
            res = subprocess.run(
                [
                    install_db,
                    "--no-defaults",
                    "--user=root",
                    f"--datadir={self.datadir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if res.returncode != 0:
                raise ServiceError(f"mariadb-install-db failed:\n{res.stdout}\n{res.stderr}")
        last_error = ""
        for _ in range(3):  # a free port can be taken by someone else before we bind it
            self.port = free_port()
            log = self._log.open("ab")
            self.proc = subprocess.Popen(
                [
                    mariadbd,
                    "--no-defaults",
                    "--user=root",
                    f"--datadir={self.datadir}",
                    f"--socket={self.socket}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    "--skip-name-resolve",
                    f"--pid-file={self.basedir / 'mariadbd.pid'}",
                    "--innodb-buffer-pool-size=128M",
                    "--innodb-flush-log-at-trx-commit=2",
                    "--skip-log-bin",
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            try:
                self._wait_ready()
                return self
            except ServiceError as e:
                last_error = str(e)
                self.kill()
        raise ServiceError(f"mariadbd did not start: {last_error}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise ServiceError(f"mariadbd exited early; log:\n{self.log_tail()}")
            try:
                conn = pymysql.connect(
                    host=self.host, port=self.port, user="nobody-probe", connect_timeout=1
                )
                conn.close()
                return
            except pymysql.err.OperationalError as e:
                if e.args and e.args[0] in (1045, 1044, 1130, 1698):  # server answered
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise ServiceError(f"mariadbd not ready after {self.startup_timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def kill(self) -> None:
        """Hard stop (SIGKILL): clients see their connection drop mid-query."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown (SIGTERM, then SIGKILL after ``timeout``)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def __enter__(self) -> MariaDB:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- access ----------------------------------------------------------------------------

    def root_connect(self, database: str | None = None, **kwargs: Any) -> pymysql.Connection:
        """A root connection over the Unix socket (autocommit on)."""
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("charset", "utf8mb4")
        return pymysql.connect(unix_socket=self.socket, user="root", database=database, **kwargs)

    def connect(
        self, user: str, password: str, database: str | None = None, **kwargs: Any
    ) -> pymysql.Connection:
        """A TCP connection as an application user."""
        kwargs.setdefault("charset", "utf8mb4")
        return pymysql.connect(
            host=self.host, port=self.port, user=user, password=password, database=database,
            **kwargs,
        )  # fmt: skip

    def create_database_and_user(
        self,
        database: str,
        user: str,
        password: str | None = None,
        *,
        privileges: str = "SELECT",
        require_ssl: bool = False,
    ) -> str:
        """Create ``database`` and ``user`` with ``privileges`` on it; return the password."""
        password = password or secrets.token_urlsafe(16)
        require = " REQUIRE SSL" if require_ssl else ""
        with self.root_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
            for host in ("%", "localhost", "127.0.0.1"):
                cur.execute(
                    f"CREATE OR REPLACE USER %s@%s IDENTIFIED BY %s{require}",
                    (user, host, password),
                )
                cur.execute(f"GRANT {privileges} ON `{database}`.* TO %s@%s", (user, host))
        return password

    def secret(self, database: str, user: str, password: str, **extra: Any) -> dict[str, Any]:
        """The JSON document the ETL expects in Secrets Manager for this server."""
        return {
            "host": self.host,
            "port": self.port,
            "username": user,
            "password": password,
            "database": database,
            **extra,
        }


# -- TLS ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    ca: Path  # PEM of the test CA: what clients trust
    cert: Path  # server certificate for 127.0.0.1 and localhost, signed by the CA
    key: Path


def make_tls_files(directory: str | os.PathLike[str]) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost (needs ``openssl``)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl")
    if not openssl:
        raise ServiceError("openssl not found: needed to make test TLS certificates")
    ext = d / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=etl-test-ca",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem")],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(d / "server.key"), "-out", str(d / "server.csr")],
        ["x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"),
         "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(ext),
         "-out", str(d / "server.pem")],
    ]  # fmt: skip
    for step in steps:
        res = subprocess.run([openssl, *step], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise ServiceError(f"openssl {step[0]} failed: {res.stderr}")
    return TlsFiles(ca=d / "ca.pem", cert=d / "server.pem", key=d / "server.key")


# -- moto ---------------------------------------------------------------------------------


class MotoServer:
    """A moto server (all AWS services) on a free port of 127.0.0.1, in a thread."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""
        self._running = False

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._running = True
        return self

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._server.stop()

    def restart(self) -> None:
        """Start again on the same port (state survives: moto keeps it per process)."""
        from moto.server import ThreadedMotoServer

        self.stop()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self._running = True

    def env(self, region: str = "eu-central-1") -> dict[str, str]:
        return aws_env(self.endpoint, region)

    def client(self, service: str, region: str = "eu-central-1") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run a moto server for the duration of the block; yield its endpoint URL."""
    with MotoServer() as server:
        yield server.endpoint


def aws_env(endpoint: str, region: str = "eu-central-1") -> dict[str, str]:
    """Environment variables that point boto3 (and the aws CLI) at ``endpoint``."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


# -- seed data ----------------------------------------------------------------------------

CUSTOMER_COLUMNS = (
    "id",
    "name",
    "email",
    "country",
    "balance",
    "created_at",
    "note",
    "score",
)

_CUSTOMERS_DDL = """
CREATE TABLE IF NOT EXISTS customers (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(200) NOT NULL,
    country CHAR(2) NOT NULL,
    balance DECIMAL(12,2) NOT NULL,
    created_at DATETIME NOT NULL,
    note VARCHAR(200) NULL,
    score DOUBLE NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""

_NAMES = ("Zoë Ångström", "José Núñez", "Łukasz Żółć", "李雷", "Müller, Hans", 'O"Brien')
_COUNTRIES = ("DE", "FR", "PL", "CN", "AT", "IE")
_NOTES: tuple[str | None, ...] = (
    None,
    "",
    "plain",
    'comma, and "quotes"',
    "line\nbreak",
    "emoji 🚀",
    "NULL",
    "\\N",
)


def customer_row(i: int) -> tuple[Any, ...]:
    """Deterministic row ``i`` (1-based) of ``customers``: NULLs, empty strings, unicode,
    CSV-hostile characters, negative decimals and datetimes."""
    name = f"{_NAMES[i % len(_NAMES)]} {i}"
    email = f"user{i}@example.com"
    country = _COUNTRIES[i % len(_COUNTRIES)]
    cents = (i * 7919) % 10_000_000 - 2_000_000
    balance = Decimal(cents).scaleb(-2)
    created = dt.datetime(2020, 1, 1) + dt.timedelta(seconds=i * 3607)
    note = _NOTES[i % len(_NOTES)]
    score = None if i % 11 == 0 else round((i * 0.37) % 100 - 20, 6)
    return (i, name, email, country, balance, created, note, score)


def seed_customers(conn: pymysql.Connection, rows: int, *, start: int = 1) -> None:
    """Create ``customers`` (if missing) and insert rows ``start .. start+rows-1``."""
    with conn.cursor() as cur:
        cur.execute(_CUSTOMERS_DDL)
        batch: list[tuple[Any, ...]] = []
        sql = (
            "INSERT INTO customers (id, name, email, country, balance, created_at, note, score)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        )
        for i in range(start, start + rows):
            batch.append(customer_row(i))
            if len(batch) >= 1000:
                cur.executemany(sql, batch)
                batch.clear()
        if batch:
            cur.executemany(sql, batch)
    conn.commit()


def seed_customers_fast(conn: pymysql.Connection, rows: int, *, table: str = "customers") -> None:
    """Create ``table`` with the ``customers`` columns and ``rows`` generated rows server-side
    (MariaDB's SEQUENCE engine: ~4 s per million rows). Content differs from
    ``customer_row`` but has the same mix: NULLs, empty strings, unicode, decimals, datetimes."""
    with conn.cursor() as cur:
        cur.execute(_CUSTOMERS_DDL.replace("customers", f"`{table}`", 1))
        cur.execute(
            f"INSERT INTO `{table}` "
            "SELECT seq, CONCAT('Zoë Ångström ', seq), CONCAT('user', seq, '@example.com'),"
            " ELT(1 + seq % 4, 'DE', 'FR', 'PL', 'CN'),"
            " (CAST((seq * 7919) % 10000000 AS SIGNED) - 2000000) / 100,"
            " '2020-01-01 00:00:00' + INTERVAL seq * 37 SECOND,"
            " CASE seq % 5 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE CONCAT('note, \"', seq, '\"') END,"
            " IF(seq % 11 = 0, NULL, seq * 0.37)"
            f" FROM seq_1_to_{int(rows)}"
        )
    conn.commit()
