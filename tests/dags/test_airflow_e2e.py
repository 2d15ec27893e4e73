"""The DAGs in a real Airflow: DAG processor, scheduler and task runner against a local ECS.

One SQLite Airflow installation and one moto server for the module (see airflow_home.py and
ecs_agent.py); the manifest and network file are the prod stack's, from ``hybridctl plan``,
with the network ids of moto's VPC. Sites: ``hq`` (standard, FARGATE on the shared cluster),
``munich`` (regulated, EXTERNAL on its own cluster), ``dublin`` (regulated, EXTERNAL, eu-west-1).
Tasks run through Airflow's own task runner: ``airflow dags test`` / ``tasks test`` (the
in-process supervisor and execution API), never a hand-made context.
"""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .airflow_home import AirflowHome, ts_nodash
from .conftest import PROBLEMS_FILE, site_of
from .ecs_agent import LocalEcs, Outcome, StandInEcsAgent

pytestmark = pytest.mark.slow

REGION = "eu-central-1"
GOOD_DAGS = {"etl_hq__customers", "etl_hq__orders", "etl_munich", "etl_dublin"}


@pytest.fixture(scope="module")
def manifest(prod_manifest_file: Path) -> dict[str, Any]:
    import json

    return json.loads(prod_manifest_file.read_text())


@pytest.fixture(scope="module")
def ecs(manifest: dict[str, Any]) -> Iterator[LocalEcs]:
    local = LocalEcs()
    try:
        for site in manifest["sites"]:
            local.add_site(site)
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def network(ecs: LocalEcs) -> dict[str, Any]:
    """The network file as the stack writes it, with ids that exist in moto's VPC."""
    subnet, group = ecs.subnet(REGION)
    return {
        "version": 1,
        "awsvpcConfiguration": {
            "subnets": [subnet],
            "securityGroups": [group],
            "assignPublicIp": "DISABLED",
        },
    }


@pytest.fixture(scope="module")
def agent(ecs: LocalEcs, manifest: dict[str, Any]) -> Iterator[StandInEcsAgent]:
    stand_in = StandInEcsAgent(ecs, manifest["sites"])
    yield stand_in
    stand_in.close()


@pytest.fixture(scope="module")
def airflow(
    tmp_path_factory: pytest.TempPathFactory,
    ecs: LocalEcs,
    manifest: dict[str, Any],
    network: dict[str, Any],
) -> Iterator[AirflowHome]:
    home = AirflowHome(tmp_path_factory.mktemp("airflow-e2e"), ecs.endpoint, REGION)
    try:
        home.write_manifest(manifest, network)
        home.parse()
        yield home
    finally:
        home.close()


@pytest.fixture
def good(airflow: AirflowHome, manifest: dict[str, Any], network: dict[str, Any]) -> AirflowHome:
    """The prod manifest, parsed: every site's DAGs active, no import error."""
    airflow.write_manifest(manifest, network)
    airflow.parse()
    assert airflow.import_errors() == {}
    assert GOOD_DAGS <= airflow.active_dags()
    return airflow


def _family(manifest: dict[str, Any], site: str) -> str:
    return site_of(manifest, site)["taskDefinitionFamily"]


def _run_of(airflow: AirflowHome, dag_id: str, logical_date: str) -> str:
    (run_id,) = airflow.query(
        "SELECT run_id FROM dag_run WHERE dag_id = ? AND logical_date = ?",
        dag_id,
        f"{logical_date}.000000",
    )[0]
    return str(run_id)


def _ti(airflow: AirflowHome, dag_id: str, run_id: str) -> tuple[Any, ...]:
    (row,) = airflow.query(
        "SELECT state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
        dag_id,
        run_id,
    )
    return row


def _xcom(airflow: AirflowHome, dag_id: str, run_id: str, key: str = "return_value") -> Any:
    import json

    (value,) = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = ?", dag_id, run_id, key
    )[0]
    return json.loads(value)


# --- 1. a broken site beside good ones ----------------------------------------------------------


def test_a_broken_site_leaves_the_other_sites_scheduled(
    airflow: AirflowHome, manifest: dict[str, Any], network: dict[str, Any]
) -> None:
    """A new site ``cork`` added with a bad field: the import error names it, the other sites'
    DAGs stay active and unpaused, and the scheduler creates their runs."""
    broken = copy.deepcopy(manifest)
    cork = copy.deepcopy(site_of(broken, "munich"))
    cork.update(name="cork", cluster="", lakePrefix="cork")
    cork["extracts"][0]["keyPrefix"] = "cork/patients"
    broken["sites"].append(cork)
    airflow.write_manifest(broken, network)
    airflow.parse()

    errors = airflow.import_errors()
    assert list(errors) == [PROBLEMS_FILE]
    assert errors[PROBLEMS_FILE] == (
        "InvalidSitesError: sites manifest "
        f"{airflow.dags_folder / 'sites-manifest.json'}: 1 invalid site(s) skipped, their DAGs "
        "are not loaded (the other sites' DAGs are):\n"
        "  sites[3] (site 'cork'): field 'cluster' must be a non-empty string, got ''"
    )
    dags = airflow.dags()
    assert "etl_cork" not in dags
    for dag_id in GOOD_DAGS:
        assert dags[dag_id] == {
            "is_paused": 0,  # dags.pausedOnCreation false, though Airflow's default is paused
            "is_stale": 0,
            "has_import_errors": 0,
            "relative_fileloc": "hybrid_sites.py",
        }

    # the scheduler creates runs for the other sites (the pool has no slot: none is run)
    airflow.airflow("scheduler", "--num-runs", "3", "--skip-serve-logs", timeout=180)
    runs = airflow.query("SELECT DISTINCT dag_id FROM dag_run WHERE run_type = 'scheduled'")
    assert {dag_id for (dag_id,) in runs} == GOOD_DAGS


def test_a_fargate_site_without_network_file_is_its_own_error(
    airflow: AirflowHome, manifest: dict[str, Any], network: dict[str, Any]
) -> None:
    """hq (FARGATE) loses its network file: hq's error only; its DAGs go stale, the EXTERNAL
    sites' stay active."""
    airflow.write_manifest(manifest, network)
    airflow.parse()
    assert GOOD_DAGS <= airflow.active_dags()
    time.sleep(1.5)  # the hq DAGs' last parse is now older than the threshold below
    airflow.write_manifest(manifest, None)
    airflow.parse(stale_after_s=1)
    (message,) = airflow.import_errors().values()
    assert "1 invalid site(s) skipped" in message
    assert "sites[0] (site 'hq'): launchType FARGATE needs the awsvpc configuration" in message
    assert f"network file {airflow.dags_folder / 'sites-network.json'} not found" in message
    active = airflow.active_dags()
    assert {"etl_munich", "etl_dublin"} <= active
    assert not {"etl_hq__customers", "etl_hq__orders"} & active


# --- 2. runs through Airflow's task runner against the local ECS -----------------------------


@pytest.mark.parametrize(
    ("site", "dag_id", "task_id", "launch_type"),
    [
        ("munich", "etl_munich", "patients", "EXTERNAL"),  # regulated, on-prem, own cluster
        ("hq", "etl_hq__customers", "customers", "FARGATE"),  # standard, cloud, shared cluster
    ],
)
def test_a_run_succeeds(
    good: AirflowHome,
    agent: StandInEcsAgent,
    manifest: dict[str, Any],
    network: dict[str, Any],
    site: str,
    dag_id: str,
    task_id: str,
    launch_type: str,
) -> None:
    entry = site_of(manifest, site)
    out = good.airflow("dags", "test", dag_id, "2030-05-17T03:00:00+00:00", timeout=180).stdout
    run_id = _run_of(good, dag_id, "2030-05-17 03:00:00")
    assert _ti(good, dag_id, run_id) == ("success", 1)

    (task,) = [t for t in agent.runs_of(entry["taskDefinitionFamily"]) if t.run_id == "20300517T030000"]
    assert task.cluster == entry["cluster"]
    assert task.region == entry["region"]
    assert task.launch_type == launch_type
    extract = entry["extracts"][0]
    assert task.command == [
        "--query", extract["query"], "--key-prefix", extract["keyPrefix"], "--run-id", "20300517T030000"
    ]  # fmt: skip
    if launch_type == "FARGATE":
        assert task.network == {"awsvpcConfiguration": network["awsvpcConfiguration"]}
    else:
        assert task.network is None  # ECS Anywhere: bridge networking, never awsvpc
    assert task.exit_code == 0
    # the container's CloudWatch lines are streamed into the task log; the last is the XCom
    assert "etl: starting site run-id=20300517T030000" in out
    assert _xcom(good, dag_id, run_id) == "etl: finished run-id=20300517T030000 exit=0"
    assert _xcom(good, dag_id, run_id, "ecs_task_arn") == task.arn
