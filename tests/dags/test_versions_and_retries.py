"""The versions the DAG tests run on are MWAA's, and the retry delays the README states."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
import yaml

from .conftest import DAGS_SRC, ROOT

TEST_REQUIREMENTS = Path(__file__).with_name("requirements.txt")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\[\]-]+)==(\S+)$", line.strip()):
            pins[re.sub(r"\[.*\]", "", match[1]).lower()] = match[2]
    return pins


def test_dag_test_virtualenv_pins_what_mwaa_installs() -> None:
    mwaa = (DAGS_SRC / "requirements.txt").read_text()
    (constraint,) = re.findall(r'^--constraint "([^"]+)"$', mwaa, flags=re.M)
    airflow = re.search(r"/constraints-([0-9.]+)/constraints-3\.12\.txt$", constraint)
    assert airflow, constraint
    ours = _pins(TEST_REQUIREMENTS)
    assert ours["apache-airflow"] == airflow[1]
    assert (
        ours["apache-airflow-providers-amazon"]
        == _pins(DAGS_SRC / "requirements.txt")["apache-airflow-providers-amazon"]
    )
    # and the virtualenv running this test has exactly those
    assert version("apache-airflow") == ours["apache-airflow"]
    assert version("apache-airflow-providers-amazon") == ours["apache-airflow-providers-amazon"]


@pytest.mark.parametrize("stack", sorted((ROOT / "stacks").glob("Pulumi.*.yaml")), ids=str)
def test_every_stack_runs_the_airflow_version_the_dags_are_tested_on(stack: Path) -> None:
    config = yaml.safe_load(stack.read_text())["config"]
    airflow = config["hybrid-airflow:platform"]["orchestrator"]["airflowVersion"]
    assert airflow == _pins(TEST_REQUIREMENTS)["apache-airflow"]


def test_retry_delays_carry_jitter_in_the_ranges_the_readme_states(prod_dagbag: Any) -> None:
    """Airflow's own next_retry_datetime on the real task settings, over many task instances:
    the n-th retry waits [2, 4), [4, 8), [8, 16) minutes after the failed attempt."""
    from airflow.models.taskinstance import TaskInstance

    task = prod_dagbag.dags["etl_munich"].tasks[0]
    end = pendulum.datetime(2030, 1, 1, tz="UTC")
    for try_number, (low, high) in enumerate([(2, 4), (4, 8), (8, 16)], start=1):
        delays = []
        for day in range(300):
            ti = SimpleNamespace(
                retry_delay_override=None,
                task=task,
                try_number=try_number,
                dag_id=task.dag_id,
                task_id=task.task_id,
                logical_date=end.add(days=day),
                end_date=end,
                log=None,
            )
            delays.append(TaskInstance.next_retry_datetime(ti) - end)  # type: ignore[arg-type]
        assert min(delays) >= timedelta(minutes=low)
        assert max(delays) < timedelta(minutes=high)
        assert max(delays) - min(delays) > timedelta(minutes=(high - low) * 0.9)  # real jitter
