"""The DAGs generated from the sites manifest: what DagBag loads and what each task would run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from jsonschema import Draft202012Validator

from .conftest import (
    DAG_FILE,
    NETWORK_SCHEMA,
    PROBLEMS_FILE,
    SCHEMA,
    MakeFolder,
    load_dagbag,
    site_of,
)

PROD_DAG_IDS = {"etl_hq__customers", "etl_hq__orders", "etl_munich", "etl_dublin"}


def _render(task: Any, logical_date: Any) -> dict[str, Any]:
    """Render the task's templated fields; the run id itself is checked through Airflow's own
    task runner in test_airflow_e2e.py (a hand-made context hid a strict-template failure)."""
    run = SimpleNamespace(logical_date=logical_date, run_after=logical_date)
    task.render_template_fields({"dag_run": run, "ti": SimpleNamespace(), "params": {}})
    return task.overrides


def _command(task: Any) -> list[str]:
    return task.overrides["containerOverrides"][0]["command"]


# --- the manifest itself --------------------------------------------------------------------


def test_prod_manifest_and_network_file_match_their_schemas(
    prod_manifest: dict[str, Any], prod_network: dict[str, Any]
) -> None:
    for path, doc in ((SCHEMA, prod_manifest), (NETWORK_SCHEMA, prod_network)):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        assert [e.message for e in Draft202012Validator(schema).iter_errors(doc)] == []
    assert prod_manifest["version"] == 2
    assert {s["name"] for s in prod_manifest["sites"]} == {"hq", "munich", "dublin"}


# --- loading --------------------------------------------------------------------------------


def test_dagbag_loads_prod_without_import_errors(prod_dagbag: Any) -> None:
    assert prod_dagbag.import_errors == {}
    assert set(prod_dagbag.dag_ids) == PROD_DAG_IDS
    assert prod_dagbag.captured_warnings == {}


def test_dags_serialize_like_the_dag_processor_does(prod_dagbag: Any) -> None:
    """The DAG processor serializes every bagged DAG; a failure would be an import error."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in prod_dagbag.dags.values():
        data = DagSerialization.to_dict(dag)
        assert data["dag"]["dag_id"] == dag.dag_id
        restored = DagSerialization.from_dict(data)
        assert restored.task_dict.keys() == dag.task_dict.keys()


def test_dag_level_settings(prod_dagbag: Any, prod_manifest: dict[str, Any]) -> None:
    expected = {
        "etl_hq__customers": ("hq", "@daily", ["customers"]),
        "etl_hq__orders": ("hq", "15 2 * * *", ["orders"]),
        "etl_munich": ("munich", "0 3 * * *", ["patients"]),
        "etl_dublin": ("dublin", "0 4 * * 1", ["payroll"]),
    }
    for dag_id, (site_name, schedule, task_ids) in expected.items():
        dag = prod_dagbag.dags[dag_id]
        site = site_of(prod_manifest, site_name)
        assert dag.schedule == schedule
        assert dag.catchup is False
        assert dag.max_active_runs == 1
        assert set(dag.tags) == {
            "hybrid-etl",
            f"site:{site_name}",
            f"residency:{site['residency']}",
        }
        assert [t.task_id for t in dag.tasks] == task_ids
        assert dag.fileloc.endswith(DAG_FILE)


@pytest.mark.parametrize("site_name", ["hq", "munich", "dublin"])
def test_operator_arguments_follow_the_manifest(
    prod_dagbag: Any, prod_manifest: dict[str, Any], site_name: str
) -> None:
    site = site_of(prod_manifest, site_name)
    tasks = [t for d in prod_dagbag.dags.values() if f"site:{site_name}" in d.tags for t in d.tasks]
    assert sorted(t.task_id for t in tasks) == sorted(e["name"] for e in site["extracts"])
    for task in tasks:
        extract = next(e for e in site["extracts"] if e["name"] == task.task_id)
        assert type(task).__name__ == "EcsRunTaskOperator"
        assert task.cluster == site["cluster"]
        assert task.task_definition == site["taskDefinitionFamily"]
        assert task.launch_type == site["launchType"]
        assert task.capacity_provider_strategy is None  # it would override launch_type
        assert task.region_name == site["region"]
        assert task.placement_constraints == site["placementConstraints"]
        assert task.overrides == {
            "containerOverrides": [
                {
                    "name": "etl",
                    "command": [
                        "--query",
                        extract["query"],
                        "--key-prefix",
                        extract["keyPrefix"],
                        "--run-id",
                        "{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash }}",
                    ],
                }
            ]
        }
        assert task.container_name == site["containerName"] == "etl"
        assert task.awslogs_group == site["logs"]["group"]
        assert task.awslogs_region == site["logs"]["region"]
        assert task.awslogs_stream_prefix == site["logs"]["streamPrefix"]
        assert task.reattach is True
        assert task.wait_for_completion is True
        assert task.deferrable is False  # explicit: see dags/README.md
        assert task.waiter_delay == 6
        assert task.awslogs_fetch_interval == timedelta(seconds=30)
        assert task.stop_task_on_failure is True
        assert task.retries == 3
        assert task.retry_delay == timedelta(minutes=2)
        assert task.retry_exponential_backoff == 2.0
        assert task.max_retry_delay == timedelta(minutes=30)
        assert task.execution_timeout == timedelta(hours=2)
        assert task.aws_conn_id == "aws_default"
        assert task.dag.is_paused_upon_creation is False  # prod: dags.pausedOnCreation false


def test_external_sites_never_send_a_network_configuration(
    prod_dagbag: Any, prod_manifest: dict[str, Any]
) -> None:
    for name in ("munich", "dublin"):
        site = site_of(prod_manifest, name)
        task = prod_dagbag.dags[f"etl_{name}"].tasks[0]
        assert task.launch_type == "EXTERNAL"
        assert task.network_configuration is None
        assert task.placement_constraints == [
            {"type": "memberOf", "expression": f"attribute:site == {name}"}
        ]
        # a regulated site runs on its own cluster, in its own region
        assert site["residency"] == "regulated"
        assert task.cluster == f"hybrid-prod-{name}" != prod_manifest["cluster"]
    assert prod_dagbag.dags["etl_dublin"].tasks[0].region_name == "eu-west-1"
    assert prod_dagbag.dags["etl_dublin"].tasks[0].awslogs_region == "eu-west-1"


def test_fargate_site_sends_the_awsvpc_configuration_of_the_network_file(
    prod_dagbag: Any, prod_manifest: dict[str, Any], prod_network: dict[str, Any]
) -> None:
    assert "networkConfiguration" not in site_of(prod_manifest, "hq")  # manifest v2
    for dag_id in ("etl_hq__customers", "etl_hq__orders"):
        task = prod_dagbag.dags[dag_id].tasks[0]
        assert task.launch_type == "FARGATE"
        assert task.cluster == prod_manifest["cluster"]
        assert task.network_configuration == {
            "awsvpcConfiguration": prod_network["awsvpcConfiguration"]
        }
        assert task.network_configuration["awsvpcConfiguration"]["subnets"]


@pytest.mark.parametrize("paused", [True, False])
def test_paused_on_creation_follows_the_manifest(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any], paused: bool
) -> None:
    prod_manifest["dags"]["pausedOnCreation"] = paused
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}
    assert {dag.is_paused_upon_creation for dag in bag.dags.values()} == {paused}


# --- DAG layout rules -----------------------------------------------------------------------


def test_a_site_whose_extracts_share_a_schedule_gets_one_dag(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    hq = site_of(prod_manifest, "hq")
    for extract in hq["extracts"]:
        extract["schedule"] = "@hourly"
    hq["name"] = "head-office"  # '-' becomes '_' in the DAG id
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"etl_head_office", "etl_munich", "etl_dublin"}
    dag = bag.dags["etl_head_office"]
    assert dag.schedule == "@hourly"
    assert sorted(t.task_id for t in dag.tasks) == ["customers", "orders"]
    assert "site:head-office" in dag.tags


def test_manual_only_extracts_get_an_unscheduled_dag(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    site_of(prod_manifest, "munich")["extracts"][0]["schedule"] = None
    site_of(prod_manifest, "dublin")["extracts"] = []
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}
    assert bag.dags["etl_munich"].schedule is None
    assert "etl_dublin" not in bag.dag_ids  # a site without extracts has nothing to run


def test_jinja_in_a_query_is_passed_through_literally(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    query = "SELECT '{{ macros.ds_add(ds, 1) }}' AS a, '{% raw %}' AS b, '{#' AS c FROM admissions"
    site_of(prod_manifest, "munich")["extracts"][0]["query"] = query
    bag = load_dagbag(make_dags_folder(prod_manifest))
    task = bag.dags["etl_munich"].tasks[0]
    overrides = _render(task, pendulum.datetime(2030, 1, 2, tz="UTC"))
    assert overrides["containerOverrides"][0]["command"] == [
        "--query",
        query,
        "--key-prefix",
        "munich/patients",
        "--run-id",
        "20300102T000000",
    ]


def test_manifest_path_from_environment(
    make_dags_folder: MakeFolder,
    prod_manifest: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    prod_manifest["sites"] = [site_of(prod_manifest, "munich")]
    elsewhere.write_text(json.dumps(prod_manifest))
    monkeypatch.setenv("HYBRID_SITES_MANIFEST", str(elsewhere))
    bag = load_dagbag(make_dags_folder(None))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"etl_munich"}


# --- bad manifests --------------------------------------------------------------------------


def _only_error(bag: Any) -> str:
    assert len(bag.import_errors) == 1, bag.import_errors
    (path, message), *_ = bag.import_errors.items()
    assert path.endswith(PROBLEMS_FILE)  # never the file with the valid DAGs
    assert message.startswith("InvalidSitesError: ")  # no traceback
    assert "etl__manifest_problems" not in bag.dag_ids  # the placeholder is never kept
    return message


def test_missing_manifest_is_an_import_error_naming_the_file(make_dags_folder: MakeFolder) -> None:
    folder = make_dags_folder(None)
    bag = load_dagbag(folder)
    message = _only_error(bag)
    assert f"{folder / 'sites-manifest.json'} not found" in message
    assert bag.dag_ids == []


def test_invalid_json_is_an_import_error(make_dags_folder: MakeFolder) -> None:
    bag = load_dagbag(make_dags_folder(raw='{"version": 2, "sites": ['))
    message = _only_error(bag)
    assert "sites-manifest.json is not valid JSON" in message
    assert bag.dag_ids == []


def test_wrong_version_is_an_import_error_naming_the_field(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    prod_manifest["version"] = 1
    bag = load_dagbag(make_dags_folder(prod_manifest))
    message = _only_error(bag)
    assert "field 'version' is 1, these DAGs read version 2" in message
    assert bag.dag_ids == []


def test_sites_must_be_a_list(make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]) -> None:
    prod_manifest["sites"] = {"hq": {}}
    message = _only_error(load_dagbag(make_dags_folder(prod_manifest)))
    assert "field 'sites' must be a list" in message


def test_dag_settings_must_be_there(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    del prod_manifest["dags"]["pausedOnCreation"]
    message = _only_error(load_dagbag(make_dags_folder(prod_manifest)))
    assert "field 'dags.pausedOnCreation' must be a boolean" in message


def test_one_bad_site_is_reported_and_the_others_still_load(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    del site_of(prod_manifest, "munich")["taskDefinitionFamily"]
    bag = load_dagbag(make_dags_folder(prod_manifest))
    message = _only_error(bag)
    assert "1 invalid site(s) skipped" in message
    assert "sites[1] (site 'munich'): field 'taskDefinitionFamily' is missing" in message
    assert set(bag.dag_ids) == {"etl_hq__customers", "etl_hq__orders", "etl_dublin"}
    assert all(dag.fileloc.endswith(DAG_FILE) for dag in bag.dags.values())


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (None, "sites-network.json not found"),
        (
            {"version": 1, "awsvpcConfiguration": {"subnets": [], "securityGroups": ["sg-1"]}},
            "field 'awsvpcConfiguration.subnets' must be a non-empty list of ids",
        ),
        ({"version": 2}, "field 'version' is 2"),
    ],
    ids=["missing", "no-subnets", "version"],
)
def test_a_fargate_site_without_its_network_config_is_its_own_error(
    make_dags_folder: MakeFolder,
    prod_manifest: dict[str, Any],
    network: dict[str, Any] | None,
    expected: str,
) -> None:
    bag = load_dagbag(make_dags_folder(prod_manifest, network=network))
    message = _only_error(bag)
    assert "1 invalid site(s) skipped" in message
    assert "sites[0] (site 'hq'): launchType FARGATE needs the awsvpc configuration" in message
    assert expected in message
    assert set(bag.dag_ids) == {"etl_munich", "etl_dublin"}  # EXTERNAL sites need no network


def test_external_sites_alone_need_no_network_file(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    prod_manifest["sites"] = [s for s in prod_manifest["sites"] if s["launchType"] == "EXTERNAL"]
    bag = load_dagbag(make_dags_folder(prod_manifest, network=None))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"etl_munich", "etl_dublin"}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.update(launchType="LAMBDA"), "field 'launchType' must be one of"),
        (lambda s: s["logs"].pop("group"), "field 'logs.group' is missing"),
        (
            lambda s: s["extracts"][0].update(schedule="every day"),
            "field 'extracts[0].schedule' 'every day' is not a valid schedule",
        ),
        (
            lambda s: s["extracts"][0].update(keyPrefix="hq/patients"),
            "field 'extracts[0].keyPrefix' must be a key below the site's lakePrefix 'munich/'",
        ),
        (
            lambda s: s["extracts"].append(dict(s["extracts"][0])),
            "extract 'patients' appears twice",
        ),
        (
            lambda s: s["placementConstraints"].append({"type": "distinctInstance"}),
            "field 'placementConstraints[1].type' must be 'memberOf'",
        ),
    ],
    ids=["launch-type", "logs", "cron", "key-prefix", "duplicate", "constraint"],
)
def test_bad_site_variants(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any], edit: Any, expected: str
) -> None:
    edit(site_of(prod_manifest, "munich"))
    bag = load_dagbag(make_dags_folder(prod_manifest))
    message = _only_error(bag)
    assert "site 'munich'" in message
    assert expected in message
    assert "etl_munich" not in bag.dag_ids
    assert {"etl_hq__customers", "etl_hq__orders", "etl_dublin"} <= set(bag.dag_ids)


def test_several_bad_sites_are_listed_in_one_error(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    site_of(prod_manifest, "munich")["cluster"] = ""
    prod_manifest["sites"].append("not a site")
    prod_manifest["sites"].append(dict(site_of(prod_manifest, "dublin")))  # duplicate name
    message = _only_error(bag := load_dagbag(make_dags_folder(prod_manifest)))
    assert "3 invalid site(s) skipped" in message
    assert "sites[1] (site 'munich'): field 'cluster' must be a non-empty string" in message
    assert "sites[3]: expected an object, got str" in message
    assert "sites[4] (site 'dublin'): field 'name': the site appears twice" in message
    assert {"etl_hq__customers", "etl_hq__orders", "etl_dublin"} == set(bag.dag_ids)
