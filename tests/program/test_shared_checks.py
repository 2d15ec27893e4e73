"""Config and run time agree: the ETL's SQL check and Airflow's schedule rules, the real ones."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from components import etl_sqlcheck
from components.config import ConfigError, parse_config
from components.schedules import ScheduleError, check_schedule
from hybridctl.stackfile import PROJECT_DIR
from tests.program.test_config import PLATFORM, site

ETL_COPY = PROJECT_DIR / "etl_image" / "etl" / "sqlcheck.py"
CONFIG_COPY = PROJECT_DIR / "components" / "etl_sqlcheck.py"
AIRFLOW_PYTHON = PROJECT_DIR / ".venv-airflow" / "bin" / "python"


def test_the_config_uses_a_byte_identical_copy_of_the_etl_query_check() -> None:
    assert CONFIG_COPY.read_bytes() == ETL_COPY.read_bytes(), (
        "components/etl_sqlcheck.py must be a copy of etl_image/etl/sqlcheck.py: "
        "cp etl_image/etl/sqlcheck.py components/etl_sqlcheck.py"
    )


def _etl_module() -> ModuleType:
    """etl/sqlcheck.py as the ETL image imports it (its own file, not the config's copy)."""
    spec = importlib.util.spec_from_file_location("etl_sqlcheck_from_image", ETL_COPY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


QUERIES = [
    "SELECT id FROM t WHERE note LIKE '%;%'",
    "SELECT id FROM t -- trailing; comment",
    "SELECT `select;` FROM t",
    "  SELECT 1 ;  ",
    "SELECT * FROM t INTO OUTFILE '/tmp/x'",
    "SELECT * INTO DUMPFILE '/tmp/x' FROM t",
    "DELETE FROM t",
    "SELECT 1; SELECT 2",
    "SELECT 1;;",
    "WITH x AS (SELECT 1) DELETE FROM t",
    "SELECT 'unterminated",
    "/* only a comment */",
    "SELECT * FROM t LOCK IN SHARE MODE",
]


@pytest.mark.parametrize("query", QUERIES)
def test_config_and_etl_accept_and_refuse_the_same_queries(query: str) -> None:
    etl = _etl_module()
    try:
        etl.check_query(query)
        etl_accepts = True
    except etl.QueryRejected:
        etl_accepts = False
    problems: list[str] = []
    try:
        parse_config("eu-central-1", PLATFORM, [site(extracts=[{"name": "x", "query": query}])])
    except ConfigError as error:
        problems = error.problems
    config_accepts = not problems
    assert all(p.startswith("sites[0] (munich).extracts[0].query: ") for p in problems)
    assert config_accepts == etl_accepts
    assert etl_sqlcheck.QueryRejected is not etl.QueryRejected  # two files, one behaviour


SCHEDULES = [
    "@daily",
    "@hourly",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@once",
    "@continuous",
    "@midnight",
    "@annually",
    "0 2 * * *",
    "15 2 * * MON-FRI",
    "0 3 L * *",
    "0 4 * * 5#3",
    "*/15 * * * *",
    "0 25 * * *",
    "60 * * * *",
    "*/0 * * * *",
    "0 0 32 * *",
    "H * * * *",
    "@reboot",
    "daily",
    "0 2 * *",
    "0 \uff12 * * *",
    "* * * * * *",
    "0 0 31 2 *",
]
# Airflow accepts these; the config refuses them on purpose (module docstring of schedules.py).
STRICTER = {"* * * * * *": "has 6 fields", "0 0 31 2 *": "never fires"}

AIRFLOW_PROBE = """
import json, sys, warnings
warnings.simplefilter("ignore")
import pendulum
from airflow.sdk import DAG
verdicts = {}
for i, schedule in enumerate(json.loads(sys.argv[1])):
    try:
        dag = DAG(dag_id=f"probe_{i}", schedule=schedule, start_date=pendulum.datetime(2025, 1, 1),
                  max_active_runs=1)  # as dags/hybrid_sites.py builds them
        dag.timetable.validate()
        verdicts[schedule] = "ok"
    except Exception as error:
        verdicts[schedule] = f"{type(error).__name__}: {error}"
print(json.dumps(verdicts))
"""


@pytest.mark.skipif(
    not AIRFLOW_PYTHON.exists(),
    reason="needs .venv-airflow (make .venv-airflow/.installed; CI builds it before the tests)",
)
def test_schedules_are_refused_exactly_where_airflow_refuses_them(tmp_path: Path) -> None:
    """Run Airflow 3.3's own DAG and timetable validation on every schedule above."""
    result = subprocess.run(
        [str(AIRFLOW_PYTHON), "-c", AIRFLOW_PROBE, json.dumps(SCHEDULES)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    airflow = json.loads(result.stdout.strip().splitlines()[-1])
    for schedule in SCHEDULES:
        try:
            check_schedule(schedule)
            ours = "ok"
        except ScheduleError as error:
            ours = str(error)
        if schedule in STRICTER:
            assert airflow[schedule] == "ok", schedule
            assert STRICTER[schedule] in ours
        else:
            assert (ours == "ok") == (airflow[schedule] == "ok"), (
                schedule,
                ours,
                airflow[schedule],
            )


def test_dag_ids_follow_the_dag_modules_grouping() -> None:
    """One DAG per site only when every extract is full and shares the schedule."""
    from components.dag_ids import site_dag_ids

    assert site_dag_ids("plant-a", [("a", "@daily", False), ("b", "@daily", False)]) == [
        "etl_plant_a"
    ]
    assert site_dag_ids("hq", [("a", "@daily", False), ("b", "@hourly", False)]) == [
        "etl_hq__a",
        "etl_hq__b",
    ]
    # An incremental extract needs a start date and catch-up of its own.
    assert site_dag_ids("hq", [("a", "@daily", False), ("b", "@daily", True)]) == [
        "etl_hq__a",
        "etl_hq__b",
    ]
    assert site_dag_ids("hq", [("b", "@daily", True)]) == ["etl_hq__b"]
