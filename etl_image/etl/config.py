"""Command line and environment: every option is a flag or an ``ETL_*`` variable; flags win."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from etl.errors import UsageError

FORMATS = ("parquet", "csv.gz")
ZERO_DATES = ("null", "fail")
WIDE_DECIMALS = ("string", "decimal256")
MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+=@-]{0,199}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # as sqlcheck finds :name
PARAM_ENV_PREFIX = "ETL_PARAM_"
# Glue names Athena can use unquoted: lowercase letters, digits, underscore.
_GLUE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


@dataclass(frozen=True)
class Tuning:
    """Knobs with sensible defaults, set through the environment (tests make them small)."""

    fetch_size: int = 5_000  # ETL_FETCH_SIZE: rows per batch
    part_max_bytes: int = 256 * MIB  # ETL_PART_MAX_BYTES: rotate part files at this gz size
    part_max_rows: int = 0  # ETL_PART_MAX_ROWS: ... or at this many rows (0: no limit)
    upload_part_bytes: int = 5 * MIB  # ETL_UPLOAD_PART_BYTES: S3 multipart part size (>= 5 MiB)
    compress_level: int = 1  # ETL_COMPRESS_LEVEL: gzip level (ISA-L caps it at 3)
    gzip: str = "auto"  # ETL_GZIP: isal, zlib-ng or zlib (auto: the first installed)
    parquet_compression: str = "zstd"  # ETL_PARQUET_COMPRESSION: zstd, snappy, gzip, none
    row_group_bytes: int = 8 * MIB  # ETL_ROW_GROUP_BYTES: Arrow bytes gathered per row group
    row_group_rows: int = 1_000_000  # ETL_ROW_GROUP_ROWS: ... or this many rows
    queue_batches: int = 2  # ETL_QUEUE_BATCHES: batches waiting for the encoder
    connect_retries: int = 4  # ETL_CONNECT_RETRIES: connection attempts
    connect_backoff: float = 1.0  # ETL_CONNECT_BACKOFF: first retry delay, doubled each time
    connect_timeout: float = 10.0  # ETL_CONNECT_TIMEOUT: seconds
    read_timeout: float = 600.0  # ETL_READ_TIMEOUT: seconds without data from the server
    write_timeout: float = 60.0  # ETL_WRITE_TIMEOUT: seconds
    net_write_timeout: int = 3600  # ETL_NET_WRITE_TIMEOUT: server side, while S3 is slow
    progress_seconds: float = 15.0  # ETL_PROGRESS_SECONDS: progress log interval
    s3_max_attempts: int = 5  # ETL_S3_MAX_ATTEMPTS: botocore attempts per request
    s3_timeout: float = 60.0  # ETL_S3_TIMEOUT: connect/read timeout per S3 request
    cleanup_seconds: float = 60.0  # ETL_CLEANUP_SECONDS: keep retrying cleanup this long
    stop_seconds: float = 20.0  # ETL_STOP_SECONDS: after SIGTERM, stop and clean up within this
    tls_ca: str | None = None  # ETL_TLS_CA: CA bundle for TLS to the database
    row_reader: str = "wire"  # ETL_ROW_READER: wire (fast) or fetchmany (PyMySQL's cursor)
    vector: bool = True  # ETL_VECTOR=0: the wire reader builds CSV in Python, per value


_TUNING_ENV = {
    "fetch_size": ("ETL_FETCH_SIZE", int, 1),
    "part_max_bytes": ("ETL_PART_MAX_BYTES", int, 1),
    "part_max_rows": ("ETL_PART_MAX_ROWS", int, 0),
    "upload_part_bytes": ("ETL_UPLOAD_PART_BYTES", int, S3_MIN_PART),
    "compress_level": ("ETL_COMPRESS_LEVEL", int, 1),
    "row_group_bytes": ("ETL_ROW_GROUP_BYTES", int, 1024),
    "row_group_rows": ("ETL_ROW_GROUP_ROWS", int, 1),
    "queue_batches": ("ETL_QUEUE_BATCHES", int, 1),
    "connect_retries": ("ETL_CONNECT_RETRIES", int, 1),
    "connect_backoff": ("ETL_CONNECT_BACKOFF", float, 0),
    "connect_timeout": ("ETL_CONNECT_TIMEOUT", float, 0.1),
    "read_timeout": ("ETL_READ_TIMEOUT", float, 0.1),
    "write_timeout": ("ETL_WRITE_TIMEOUT", float, 0.1),
    "net_write_timeout": ("ETL_NET_WRITE_TIMEOUT", int, 1),
    "progress_seconds": ("ETL_PROGRESS_SECONDS", float, 0),
    "s3_max_attempts": ("ETL_S3_MAX_ATTEMPTS", int, 1),
    "s3_timeout": ("ETL_S3_TIMEOUT", float, 0.1),
    "cleanup_seconds": ("ETL_CLEANUP_SECONDS", float, 0),
    "stop_seconds": ("ETL_STOP_SECONDS", float, 1),
}


@dataclass(frozen=True)
class Config:
    secret_id: str
    query: str
    bucket: str
    key_prefix: str
    run_id: str
    fmt: str = "parquet"
    zero_dates: str = "null"
    wide_decimals: str = "string"
    region: str | None = None
    site: str | None = None
    parallel: int = 1
    split_column: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # --param NAME=VALUE
    glue_database: str | None = None
    glue_region: str | None = None
    tuning: Tuning = field(default_factory=Tuning)

    @property
    def run_prefix(self) -> str:
        """``<key-prefix>/run=<run-id>/`` (no leading slash; an empty key prefix is allowed):
        a Hive-style partition folder, as Athena, Spark and DuckDB's hive_partitioning read."""
        run = f"run={self.run_id}/"
        return f"{self.key_prefix}/{run}" if self.key_prefix else run

    @property
    def table_name(self) -> str:
        """The Glue table of the extract: the key prefix's last segment."""
        return self.key_prefix.rsplit("/", 1)[-1]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"bad arguments: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m etl",
        description=(
            "Run one read-only SELECT against MySQL/MariaDB and stream the result as typed "
            "Parquet (or gzip CSV) to S3: <key-prefix>/run=<run-id>/part-NNNNN.parquet, then "
            "_manifest.json, then (with --glue-database) the run's Glue partition. Every option "
            "can also be set with the environment variable shown."
        ),
        epilog="Exit codes: 0 ok, 2 usage/config, 3 database, 4 S3, 5 Glue catalog, "
        "1 internal error, 128 + signal when stopped.",
    )
    p.add_argument("--secret-id", help="Secrets Manager id of the DB secret (ETL_SECRET_ID)")
    p.add_argument("--query", help="one SELECT or WITH ... SELECT statement (ETL_QUERY)")
    p.add_argument("--bucket", help="destination S3 bucket (ETL_BUCKET)")
    p.add_argument("--key-prefix", help="destination key prefix (ETL_KEY_PREFIX)")
    p.add_argument("--format", dest="fmt", help="parquet (default) or csv.gz (ETL_FORMAT)")
    p.add_argument(
        "--zero-dates",
        help="Parquet: a zero date (0000-00-00) becomes NULL, counted in the manifest "
        "(null, the default), or fails the run (fail) (ETL_ZERO_DATES)",
    )
    p.add_argument(
        "--wide-decimals",
        help="Parquet: DECIMAL above 38 digits as exact text (string, the default: DuckDB, "
        "Athena and Spark stop at 38) or decimal256 (ETL_WIDE_DECIMALS)",
    )
    p.add_argument(
        "--run-id",
        help="the run: folder run=<run id> and Glue partition; default UTC date YYYY-MM-DD "
        "(ETL_RUN_ID)",
    )
    p.add_argument("--region", help="AWS region for Secrets Manager and S3 (ETL_REGION)")
    p.add_argument("--site", help="label recorded in logs and manifest (ETL_SITE)")
    p.add_argument(
        "--parallel", help="worker processes, each on a key range; default 1 (ETL_PARALLEL)"
    )
    p.add_argument(
        "--split-column",
        help="integer column to split key ranges on, with --parallel > 1 (ETL_SPLIT_COLUMN)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="value of the query's :NAME placeholder, bound by the driver (never spliced); "
        "repeatable; the query's placeholders must be exactly the ones given "
        f"({PARAM_ENV_PREFIX}NAME=VALUE)",
    )
    p.add_argument(
        "--glue-database",
        help="Glue database to register the extract's table and the run's partition in, after "
        "the manifest (Parquet only; nothing is registered without it) (ETL_GLUE_DATABASE)",
    )
    p.add_argument(
        "--glue-region",
        help="region of the Glue database; default: --region, then the AWS chain (ETL_GLUE_REGION)",
    )
    return p


def _env_value(name: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(name)
    return value if value not in (None, "") else None


def _tuning(environ: Mapping[str, str]) -> Tuning:
    values: dict[str, object] = {}
    for attr, (var, kind, minimum) in _TUNING_ENV.items():
        raw = _env_value(var, environ)
        if raw is None:
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise UsageError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
        if value < minimum:
            raise UsageError(f"{var}={raw!r} must be >= {minimum}")
        values[attr] = value
    ca = _env_value("ETL_TLS_CA", environ)
    if ca is not None:
        values["tls_ca"] = ca
    for attr, var, allowed in (
        ("gzip", "ETL_GZIP", ("auto", "isal", "zlib-ng", "zlib")),
        ("parquet_compression", "ETL_PARQUET_COMPRESSION", ("zstd", "snappy", "gzip", "none")),
    ):
        choice = _env_value(var, environ)
        if choice is not None:
            if choice not in allowed:
                raise UsageError(f"{var}={choice!r} must be one of {', '.join(allowed)}")
            values[attr] = choice
    vector = _env_value("ETL_VECTOR", environ)
    if vector is not None:
        if vector not in ("0", "1"):
            raise UsageError(f"ETL_VECTOR={vector!r} must be 0 or 1")
        values["vector"] = vector == "1"
    reader = _env_value("ETL_ROW_READER", environ)
    if reader is not None:
        if reader not in ("wire", "fetchmany"):
            raise UsageError(f"ETL_ROW_READER={reader!r} must be wire or fetchmany")
        values["row_reader"] = reader
    return Tuning(**values)  # type: ignore[arg-type]


def parse_config(
    argv: Sequence[str], environ: Mapping[str, str], today: dt.date | None = None
) -> Config:
    """Flags first, then ``ETL_*`` variables. Raises ``UsageError`` (exit 2)."""
    args = build_parser().parse_args(list(argv))

    def pick(attr: str, var: str) -> str | None:
        flag = getattr(args, attr)
        return flag if flag not in (None, "") else _env_value(var, environ)

    secret_id = pick("secret_id", "ETL_SECRET_ID")
    query = pick("query", "ETL_QUERY")
    bucket = pick("bucket", "ETL_BUCKET")
    key_prefix = pick("key_prefix", "ETL_KEY_PREFIX")
    missing = [
        f"--{name} (or {var})"
        for name, var, value in (
            ("secret-id", "ETL_SECRET_ID", secret_id),
            ("query", "ETL_QUERY", query),
            ("bucket", "ETL_BUCKET", bucket),
            ("key-prefix", "ETL_KEY_PREFIX", key_prefix),
        )
        if value is None
    ]
    if missing:
        raise UsageError("missing required option(s): " + ", ".join(missing))
    assert secret_id is not None
    assert query is not None
    assert bucket is not None
    assert key_prefix is not None

    fmt = pick("fmt", "ETL_FORMAT") or "parquet"
    if fmt not in FORMATS:
        raise UsageError(f"unsupported format {fmt!r}; supported: {', '.join(FORMATS)}")
    zero_dates = pick("zero_dates", "ETL_ZERO_DATES") or "null"
    if zero_dates not in ZERO_DATES:
        raise UsageError(f"--zero-dates {zero_dates!r} must be one of {', '.join(ZERO_DATES)}")
    wide_decimals = pick("wide_decimals", "ETL_WIDE_DECIMALS") or "string"
    if wide_decimals not in WIDE_DECIMALS:
        raise UsageError(
            f"--wide-decimals {wide_decimals!r} must be one of {', '.join(WIDE_DECIMALS)}"
        )

    prefix = key_prefix.strip("/")
    if any(seg in ("", ".", "..") for seg in prefix.split("/")) and prefix:
        raise UsageError(f"key prefix {key_prefix!r} has empty, '.' or '..' segments")

    today = today or dt.datetime.now(dt.UTC).date()
    run_id = pick("run_id", "ETL_RUN_ID") or today.isoformat()
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise UsageError(
            f"run id {run_id!r} must be 1-200 characters of letters, digits and ._:+=@- "
            "(no '/'), starting with a letter or digit"
        )

    raw_parallel = pick("parallel", "ETL_PARALLEL") or "1"
    try:
        parallel = int(raw_parallel)
    except ValueError:
        raise UsageError(f"--parallel {raw_parallel!r} is not an integer") from None
    if not 1 <= parallel <= 64:
        raise UsageError("--parallel must be between 1 and 64")
    split_column = pick("split_column", "ETL_SPLIT_COLUMN")
    if parallel > 1 and split_column is None:
        raise UsageError("--parallel > 1 needs --split-column (an integer column of the result)")
    if split_column is not None and not _COLUMN.match(split_column):
        raise UsageError(f"--split-column {split_column!r} must be a plain column name")

    glue_database = pick("glue_database", "ETL_GLUE_DATABASE")
    glue_region = pick("glue_region", "ETL_GLUE_REGION")
    if glue_database is not None:
        if not _GLUE_NAME.match(glue_database):
            raise UsageError(
                f"--glue-database {glue_database!r} must be 1-255 lowercase letters, digits "
                "or underscores (a name Athena reads unquoted)"
            )
        if fmt != "parquet":
            raise UsageError(
                "--glue-database needs --format parquet: the catalog holds typed Parquet "
                f"tables only (Athena's CSV readers cannot read {fmt} faithfully: NULL and "
                "the empty string, line breaks in values, binary as hex); unset "
                "ETL_GLUE_DATABASE for a CSV run"
            )
        table = prefix.rsplit("/", 1)[-1]
        if not _GLUE_NAME.match(table):
            raise UsageError(
                f"the Glue table is named after the key prefix's last segment, {table!r}, "
                "which must be 1-255 lowercase letters, digits or underscores"
            )
    if glue_region is not None and not _REGION.match(glue_region):
        raise UsageError(f"--glue-region {glue_region!r} is not a region name")

    return Config(
        secret_id=secret_id,
        query=query,
        bucket=bucket,
        key_prefix=prefix,
        run_id=run_id,
        fmt=fmt,
        zero_dates=zero_dates,
        wide_decimals=wide_decimals,
        region=pick("region", "ETL_REGION"),
        site=pick("site", "ETL_SITE"),
        parallel=parallel,
        split_column=split_column,
        params=_params(args.param, environ),
        glue_database=glue_database,
        glue_region=glue_region,
        tuning=_tuning(environ),
    )


def _params(flags: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``--param NAME=VALUE`` flags over ``ETL_PARAM_NAME=VALUE`` variables (a flag wins for
    its name). A value may be empty or hold any character; it is bound, never spliced."""
    params = {
        key[len(PARAM_ENV_PREFIX) :]: value
        for key, value in environ.items()
        if key.startswith(PARAM_ENV_PREFIX)
    }
    for name in params:
        if not _PARAM_NAME.match(name):
            raise UsageError(f"{PARAM_ENV_PREFIX}{name}: {name!r} is not a parameter name")
    given: set[str] = set()
    for flag in flags:
        name, sep, value = flag.partition("=")
        if not sep:
            raise UsageError(f"--param {flag!r} must be NAME=VALUE")
        if not _PARAM_NAME.match(name):
            raise UsageError(
                f"--param {name!r}: a parameter name is a letter or '_' then letters, digits "
                "or '_' (as in the query's :name)"
            )
        if name in given:
            raise UsageError(f"--param {name} is given twice")
        given.add(name)
        params[name] = value
    return params
