"""The DAGs generated from the sites manifest: what DagBag loads and what each task would run."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
import random
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from jsonschema import Draft202012Validator

from .conftest import (
    DAG_FILE,
    DAGS_SRC,
    NETWORK_SCHEMA,
    PROBLEMS_FILE,
    ROOT,
    SCHEMA,
    MakeFolder,
    load_dagbag,
    site_of,
)

PROD_DAG_IDS = {"etl_hq__customers", "etl_hq__orders", "etl_munich", "etl_dublin"}
FULL_RUN_ID = "{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash }}"
INCREMENTAL_TAIL = [
    "--run-id",
    "{{ extract_interval(dag_run).run_id }}",
    "--param",
    "interval_start={{ extract_interval(dag_run).start_sql }}",
    "--param",
    "interval_end={{ extract_interval(dag_run).end_sql }}",
]


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
        if dag_id == "etl_hq__orders":  # incremental: data intervals, from its start, catch-up
            assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
            assert (dag.timetable.expression, str(dag.timetable.timezone)) == (schedule, "UTC")
            assert dag.start_date == pendulum.datetime(2026, 11, 1, tz="UTC")
            assert dag.catchup is True
        else:  # full: Airflow's default for a cron string, today's run only
            assert dag.schedule == schedule
            assert dag.start_date == pendulum.datetime(2025, 1, 1, tz="UTC")
            assert dag.catchup is False
        assert dag.max_active_runs == 1
        assert set(dag.tags) == {
            "hybrid-etl",
            f"site:{site_name}",
            f"residency:{site['residency']}",
        }
        assert [t.task_id for t in dag.tasks] == task_ids
        assert dag.fileloc.endswith(DAG_FILE)


def test_incremental_dags_make_data_intervals_from_their_start(prod_dagbag: Any) -> None:
    """What the scheduler reads from the serialized DAG: non-empty intervals, the first one on
    the first tick at or after `start` (00:00 UTC); a full DAG's runs are points in time.
    (The real scheduler's catch-up is in test_airflow_e2e.py.)"""
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    def first_interval(dag_id: str) -> Any:
        dag = DagSerialization.from_dict(DagSerialization.to_dict(prod_dagbag.dags[dag_id]))
        restriction = TimeRestriction(dag.start_date, None, catchup=dag.catchup)
        return dag.timetable.next_dagrun_info(
            last_automated_data_interval=None, restriction=restriction
        ).data_interval

    orders = first_interval("etl_hq__orders")
    assert (orders.start, orders.end) == (
        pendulum.datetime(2026, 11, 1, 2, 15, tz="UTC"),
        pendulum.datetime(2026, 11, 2, 2, 15, tz="UTC"),
    )
    munich = first_interval("etl_munich")
    assert munich.start == munich.end  # CronTriggerTimetable: nothing to bind an interval to


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
        head = ["--query", extract["query"], "--key-prefix", extract["keyPrefix"]]
        tail = ["--run-id", FULL_RUN_ID] if extract["incremental"] is None else INCREMENTAL_TAIL
        assert task.overrides == {
            "containerOverrides": [{"name": "etl", "command": [*head, *tail]}]
        }
        assert f"Glue table `{site['glueDatabase']}.{extract['name']}`" in task.doc_md
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
        extract.update(schedule="@hourly", incremental=None, query="SELECT id FROM t")
    hq["name"] = "head-office"  # '-' becomes '_' in the DAG id
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"etl_head_office", "etl_munich", "etl_dublin"}
    dag = bag.dags["etl_head_office"]
    assert dag.schedule == "@hourly"
    assert sorted(t.task_id for t in dag.tasks) == ["customers", "orders"]
    assert "site:head-office" in dag.tags


def _load(path: Path, name: str) -> Any:
    """A module from a file of the repository, without importing its package."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grouping_is_the_stack_side_rule(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    """Every mix of 1-3 extracts, two schedules, full or incremental: the DAG ids the DAG files
    build are the ids components/dag_ids.py predicts (config checks and `plan --diff` use them).
    """
    # the stack's restatement of the rule (standard library only)
    site_dag_ids = _load(ROOT / "components" / "dag_ids.py", "stack_dag_ids").site_dag_ids
    template = site_of(prod_manifest, "munich")
    sites, predicted = [], set()
    kinds = list(itertools.product(("0 3 * * *", "@daily"), (False, True)))
    mixes = [m for n in (1, 2, 3) for m in itertools.product(kinds, repeat=n)]
    for number, mix in enumerate(mixes):
        site = copy.deepcopy(template)
        site.update(name=f"s{number}", lakePrefix=f"s{number}", cluster=f"c{number}")
        site["extracts"] = [
            {
                "name": f"e{i}",
                "query": "SELECT id FROM t WHERE d >= :interval_start AND d < :interval_end"
                if incremental
                else "SELECT id FROM t",
                "schedule": schedule,
                "keyPrefix": f"s{number}/e{i}",
                "incremental": {"column": "d", "start": "2026-11-01"} if incremental else None,
            }
            for i, (schedule, incremental) in enumerate(mix)
        ]
        sites.append(site)
        triples = [
            (e["name"], e["schedule"], e["incremental"] is not None) for e in site["extracts"]
        ]
        predicted.update(site_dag_ids(site["name"], triples))
    prod_manifest["sites"] = sites
    bag = load_dagbag(make_dags_folder(prod_manifest, network=None))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == predicted
    assert {"etl_s0", "etl_s1__e0"} <= predicted  # both shapes occur
    for dag in bag.dags.values():  # an incremental extract never shares its DAG
        incremental = [
            t for t in dag.tasks if "--param" in t.overrides["containerOverrides"][0]["command"]
        ]
        assert not incremental or len(dag.tasks) == 1
        assert dag.catchup is bool(incremental)


def test_an_incremental_extract_takes_its_site_out_of_the_shared_dag(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    hq = site_of(prod_manifest, "hq")
    for extract in hq["extracts"]:
        extract["schedule"] = "15 2 * * *"  # the same schedule: one DAG, were both full
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}
    assert {"etl_hq__customers", "etl_hq__orders"} <= set(bag.dag_ids)
    assert "etl_hq" not in bag.dag_ids
    site_of(prod_manifest, "hq")["extracts"][1]["incremental"] = None
    site_of(prod_manifest, "hq")["extracts"][1]["query"] = "SELECT id FROM orders"
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert "etl_hq" in bag.dag_ids
    assert "etl_hq__orders" not in bag.dag_ids


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


# --- incremental extracts in the manifest -----------------------------------------------------

_INCREMENTAL = {"column": "admitted_at", "start": "2026-11-01"}


@pytest.mark.parametrize(
    ("incremental", "schedule", "expected"),
    [
        ("yes", "0 3 * * *", "field 'extracts[0].incremental' must be null or an object"),
        ({"start": "2026-11-01"}, "0 3 * * *", "field 'extracts[0].incremental.column' is missing"),
        (
            {"column": "admitted at", "start": "2026-11-01"},
            "0 3 * * *",
            "field 'extracts[0].incremental.column' must be a column name",
        ),
        (
            {"column": 7, "start": "2026-11-01"},
            "0 3 * * *",
            "field 'extracts[0].incremental.column' must be a column name",
        ),
        ({"column": "admitted_at"}, "0 3 * * *", "field 'extracts[0].incremental.start' is missing"),
        (
            {"column": "admitted_at", "start": "2026-02-30"},
            "0 3 * * *",
            "field 'extracts[0].incremental.start' must be a date written YYYY-MM-DD (UTC), "
            "got '2026-02-30'",
        ),
        (
            {"column": "admitted_at", "start": "2026-11-01T00:00:00Z"},
            "0 3 * * *",
            "field 'extracts[0].incremental.start' must be a date written YYYY-MM-DD",
        ),
        (
            {"column": "admitted_at", "start": 20261101},
            "0 3 * * *",
            "field 'extracts[0].incremental.start' must be a date written YYYY-MM-DD",
        ),
        (
            {**_INCREMENTAL, "end": "2027-01-01"},
            "0 3 * * *",
            "field 'extracts[0].incremental' has unknown key(s) ['end']",
        ),
        (_INCREMENTAL, None, "field 'extracts[0].schedule' must be a cron expression or preset"),
        (_INCREMENTAL, "@once", "field 'extracts[0].schedule' '@once' makes one run with no data"),
        (_INCREMENTAL, "@continuous", "field 'extracts[0].schedule' '@continuous' makes"),
        (_INCREMENTAL, "61 3 * * *", "field 'extracts[0].schedule' '61 3 * * *' is not a valid"),
        ("missing", "0 3 * * *", "field 'extracts[0].incremental' is missing"),
    ],
    ids=[
        "not-object", "no-column", "column-space", "column-int", "no-start", "start-not-a-day",
        "start-datetime", "start-int", "unknown-key", "no-schedule", "once", "continuous",
        "bad-cron", "missing",
    ],
)  # fmt: skip
def test_a_bad_incremental_block_is_its_sites_problem(
    make_dags_folder: MakeFolder,
    prod_manifest: dict[str, Any],
    incremental: Any,
    schedule: str | None,
    expected: str,
) -> None:
    """Reported by hybrid_sites_problems.py naming site, extract and field; the other sites load."""
    extract = site_of(prod_manifest, "munich")["extracts"][0]
    extract["schedule"] = schedule
    if incremental == "missing":
        del extract["incremental"]
    else:
        extract["incremental"] = incremental
    bag = load_dagbag(make_dags_folder(prod_manifest))
    message = _only_error(bag)
    assert f"sites[1] (site 'munich'): {expected}" in message
    assert not {"etl_munich", "etl_munich__patients"} & set(bag.dag_ids)
    assert PROD_DAG_IDS - {"etl_munich"} == set(bag.dag_ids)


@pytest.mark.parametrize("glue", [None, "", "Hybrid-Prod-Munich", "munich"])
def test_a_bad_glue_database_is_its_sites_problem(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any], glue: Any
) -> None:
    site_of(prod_manifest, "munich")["glueDatabase"] = glue
    message = _only_error(bag := load_dagbag(make_dags_folder(prod_manifest)))
    assert "sites[1] (site 'munich'): field 'glueDatabase' must be a Glue database name" in message
    assert "etl_munich" not in bag.dag_ids


def test_an_extract_made_incremental_gets_its_own_catching_up_dag(
    make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]
) -> None:
    extract = site_of(prod_manifest, "munich")["extracts"][0]
    extract.update(incremental=dict(_INCREMENTAL), schedule="@daily")
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}
    dag = bag.dags["etl_munich__patients"]
    assert "etl_munich" not in bag.dag_ids
    assert (dag.timetable.expression, dag.catchup) == ("0 0 * * *", True)
    assert dag.start_date == pendulum.datetime(2026, 11, 1, tz="UTC")
    assert dag.tasks[0].overrides["containerOverrides"][0]["command"][-6:] == INCREMENTAL_TAIL


# --- the interval a manual run without a logical date extracts -------------------------------


def _intervals_module() -> Any:
    return _load(DAGS_SRC / "hybrid_etl" / "intervals.py", "hybrid_intervals")


@pytest.mark.parametrize(
    "schedule", ["15 2 * * *", "@daily", "@hourly", "0 4 * * 1", "*/20 6-18 * * 1-5", "@monthly"]
)
def test_inferred_interval_is_airflows_own_manual_interval(schedule: str) -> None:
    """``latest_complete_interval`` (used when Airflow gives a run no data interval) equals what
    Airflow's scheduler-side CronDataIntervalTimetable infers for a manual run at that moment,
    on random moments and on ticks (where the interval must end at the moment itself)."""
    from airflow.timetables.interval import CronDataIntervalTimetable

    intervals = _intervals_module()
    airflow = CronDataIntervalTimetable(schedule, "UTC")
    expression = airflow._expression
    rng = random.Random(schedule)
    base = pendulum.datetime(2026, 1, 1, tz="UTC")
    moments = [base.add(seconds=rng.randrange(0, 400 * 86400), microseconds=rng.randrange(10**6))
               for _ in range(150)]  # fmt: skip
    ticks = [airflow.infer_manual_data_interval(run_after=m).end for m in moments[:30]]
    for moment in [*moments, *ticks]:
        want = airflow.infer_manual_data_interval(run_after=moment)
        got = intervals.latest_complete_interval(expression, moment)
        assert (got.start, got.end) == (want.start, want.end), moment
        assert got.start < got.end <= moment


def test_run_interval_prefers_the_interval_airflow_stored() -> None:
    intervals = _intervals_module()
    stored = SimpleNamespace(
        data_interval_start=pendulum.datetime(2026, 11, 5, 2, 15, tz="UTC"),
        data_interval_end=pendulum.datetime(2026, 11, 6, 2, 15, tz="UTC"),
        run_after=pendulum.datetime(2026, 11, 20, 1, 0, tz="UTC"),  # triggered before 02:15
    )
    got = intervals.run_interval(stored, expression="15 2 * * *")
    assert (got.run_id, got.start_sql, got.end_sql) == (
        "20261105T021500", "2026-11-05 02:15:00", "2026-11-06 02:15:00"
    )  # fmt: skip
    stored.data_interval_start = stored.data_interval_end = None  # manual, no logical date
    got = intervals.run_interval(stored, expression="15 2 * * *")
    assert (got.run_id, got.start_sql, got.end_sql) == (
        "20261118T021500", "2026-11-18 02:15:00", "2026-11-19 02:15:00"
    )  # fmt: skip
    # an interval stored in another zone is still passed in UTC
    stored.data_interval_start = pendulum.datetime(2026, 11, 5, 3, 15, tz="Europe/Berlin")
    stored.data_interval_end = pendulum.datetime(2026, 11, 6, 3, 15, tz="Europe/Berlin")
    assert (
        intervals.run_interval(stored, expression="15 2 * * *").start_sql == "2026-11-05 02:15:00"
    )
