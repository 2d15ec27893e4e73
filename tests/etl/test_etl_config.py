"""Options from flags and ETL_* variables; flags win; bad values are usage errors."""

from __future__ import annotations

import datetime as dt

import pytest

from etl.config import MIB, parse_config
from etl.errors import UsageError
from etl.secret import parse_secret

BASE = ["--secret-id", "s", "--query", "SELECT 1", "--bucket", "b", "--key-prefix", "p/q/"]


def test_flags_only() -> None:
    cfg = parse_config(BASE, {}, today=dt.date(2024, 5, 6))
    assert (cfg.secret_id, cfg.bucket, cfg.key_prefix) == ("s", "b", "p/q")
    assert cfg.run_id == "2024-05-06"
    assert cfg.run_prefix == "p/q/run=2024-05-06/"
    assert (cfg.fmt, cfg.zero_dates, cfg.wide_decimals) == ("parquet", "null", "string")
    assert cfg.parallel == 1
    assert cfg.tuning.upload_part_bytes == 5 * MIB


def test_env_only_and_flags_win() -> None:
    env = {
        "ETL_SECRET_ID": "env-secret",
        "ETL_QUERY": "SELECT 2",
        "ETL_BUCKET": "env-bucket",
        "ETL_KEY_PREFIX": "env",
        "ETL_RUN_ID": "run-1",
        "ETL_REGION": "eu-west-1",
        "ETL_SITE": "onprem",
        "ETL_FORMAT": "csv.gz",
        "ETL_PARALLEL": "2",
        "ETL_SPLIT_COLUMN": "id",
        "ETL_FETCH_SIZE": "123",
    }
    cfg = parse_config([], env)
    assert (cfg.secret_id, cfg.query, cfg.bucket, cfg.run_prefix) == (
        "env-secret",
        "SELECT 2",
        "env-bucket",
        "env/run=run-1/",
    )
    assert (cfg.region, cfg.site, cfg.parallel, cfg.split_column) == (
        "eu-west-1",
        "onprem",
        2,
        "id",
    )
    assert cfg.tuning.fetch_size == 123
    assert cfg.fmt == "csv.gz"
    cfg = parse_config(["--bucket", "flag-bucket", "--run-id", "r2", "--parallel", "1"], env)
    assert (cfg.bucket, cfg.run_id, cfg.parallel) == ("flag-bucket", "r2", 1)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "missing required option"),
        (BASE[:4], {}, "--bucket (or ETL_BUCKET)"),
        ([*BASE, "--format", "json"], {}, "unsupported format"),
        ([*BASE, "--zero-dates", "keep"], {}, "--zero-dates"),
        ([*BASE, "--wide-decimals", "double"], {}, "--wide-decimals"),
        (BASE, {"ETL_GZIP": "7zip"}, "ETL_GZIP"),
        (BASE, {"ETL_PARQUET_COMPRESSION": "lz5"}, "ETL_PARQUET_COMPRESSION"),
        ([*BASE, "--run-id", "../x"], {}, "run id"),
        ([*BASE, "--run-id", "a/b"], {}, "run id"),
        ([*BASE, "--parallel", "two"], {}, "not an integer"),
        ([*BASE, "--parallel", "2"], {}, "--split-column"),
        ([*BASE, "--parallel", "2", "--split-column", "id; x"], {}, "plain column name"),
        ([*BASE, "--bogus"], {}, "bad arguments"),
        (BASE, {"ETL_FETCH_SIZE": "many"}, "ETL_FETCH_SIZE"),
        (BASE, {"ETL_UPLOAD_PART_BYTES": "1000"}, "must be >="),
        ([*BASE, "--param", "no_equals"], {}, "must be NAME=VALUE"),
        ([*BASE, "--param", "1x=a"], {}, "parameter name"),
        ([*BASE, "--param", "a-b=1"], {}, "parameter name"),
        ([*BASE, "--param", "a=1", "--param", "a=2"], {}, "given twice"),
        (BASE, {"ETL_PARAM_a-b": "1"}, "is not a parameter name"),
        ([*BASE, "--glue-database", "Shop-DB"], {}, "--glue-database"),
        ([*BASE, "--glue-database", "db", "--format", "csv.gz"], {}, "Parquet tables only"),
        (
            ["--secret-id", "s", "--query", "q", "--bucket", "b", "--key-prefix", "p/Orders-x"],
            {"ETL_GLUE_DATABASE": "db"},
            "last segment",
        ),
        ([*BASE, "--glue-region", "Frankfurt"], {}, "not a region"),
    ],
)
def test_usage_errors(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_config(argv, env)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_params_from_flags_and_environment() -> None:
    env = {"ETL_PARAM_interval_start": "env start", "ETL_PARAM_only_env": "e"}
    cfg = parse_config(
        [*BASE, "--param", "interval_start=2030-11-01 02:15:00", "--param", "empty=",
         "--param", "quote=it's = 100% \\ :x"],
        env,
    )  # fmt: skip
    assert cfg.params == {
        "interval_start": "2030-11-01 02:15:00",  # the flag wins
        "only_env": "e",
        "empty": "",
        "quote": "it's = 100% \\ :x",  # everything after the first '=' is the value
    }
    assert parse_config(BASE, {}).params == {}


def test_glue_options() -> None:
    cfg = parse_config(
        BASE, {"ETL_GLUE_DATABASE": "hybrid_prod_hq", "ETL_GLUE_REGION": "eu-west-1"}
    )
    assert (cfg.glue_database, cfg.glue_region, cfg.table_name) == (
        "hybrid_prod_hq",
        "eu-west-1",
        "q",
    )
    assert parse_config(BASE, {}).glue_database is None  # no catalog without it
    # An empty variable (a task definition's, cleared for a CSV hand run) means unset.
    cfg = parse_config([*BASE, "--format", "csv.gz"], {"ETL_GLUE_DATABASE": ""})
    assert cfg.glue_database is None


def test_secret_parsing() -> None:
    s = parse_secret(
        '{"host": "h", "port": "3307", "username": "u", "password": "p", "dbname": "d", "ssl": "true"}'
    )
    assert (s.host, s.port, s.database, s.tls) == ("h", 3307, "d", True)
    assert "p" not in repr(s).replace("port", "").replace("tls_ca", "")
    with pytest.raises(UsageError, match="not valid JSON"):
        parse_secret("host=h")
    with pytest.raises(UsageError, match="missing key\\(s\\): password, database"):
        parse_secret('{"host": "h", "port": 1, "username": "u"}')
    with pytest.raises(UsageError, match="port must be an integer"):
        parse_secret(
            '{"host": "h", "port": "x", "username": "u", "password": "p", "database": "d"}'
        )
