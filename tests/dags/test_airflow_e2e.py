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
import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
        yield home
    finally:
        home.close()


@pytest.fixture
def good(airflow: AirflowHome, manifest: dict[str, Any], network: dict[str, Any]) -> AirflowHome:
    """The prod manifest, parsed: every site's DAGs active, no import error."""
    airflow.write_manifest(manifest, network)
    airflow.parse_if_changed()
    assert airflow.import_errors() == {}
    assert airflow.active_dags() >= GOOD_DAGS
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
    assert airflow.active_dags() >= GOOD_DAGS
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

    (task,) = [
        t for t in agent.runs_of(entry["taskDefinitionFamily"]) if t.run_id == "20300517T030000"
    ]
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


def test_an_etl_failure_is_retried_with_the_same_run_id(
    good: AirflowHome, agent: StandInEcsAgent, manifest: dict[str, Any]
) -> None:
    family = _family(manifest, "munich")
    agent.plan(family, Outcome(exit_code=3), Outcome(exit_code=0))
    dag_test = good.background("dags", "test", "etl_munich", "2030-06-01T03:00:00+00:00")
    (ti,) = good.wait_for(
        "SELECT run_id, end_date FROM task_instance WHERE dag_id = 'etl_munich' "
        "AND state = 'up_for_retry'",
        timeout=180,
    )
    run_id, end_date = ti
    time.sleep(3)  # Airflow waits 2 min plus jitter before the first retry: nothing happens
    assert [t.exit_code for t in agent.runs_of(family) if t.run_id == "20300601T030000"] == [3]
    # move the first attempt's end back instead of waiting for the retry delay
    earlier = datetime.fromisoformat(end_date) - timedelta(hours=1)
    good.execute(
        "UPDATE task_instance SET end_date = ? WHERE dag_id = 'etl_munich' AND run_id = ?",
        earlier.strftime("%Y-%m-%d %H:%M:%S.%f"),
        run_id,
    )
    returncode, out = dag_test.finish(timeout=180)
    assert returncode == 0, out
    assert _ti(good, "etl_munich", run_id) == ("success", 2)
    first, second = [t for t in agent.runs_of(family) if t.run_id == "20300601T030000"]
    assert (first.exit_code, second.exit_code) == (3, 0)
    assert first.started_by == second.started_by  # the same task instance: the reattach key
    # the failed attempt's error carries the container's last CloudWatch lines
    assert "This task is not in success state - last 10 logs from Cloudwatch" in out
    assert "etl: finished run-id=20300601T030000 exit=3" in out


def test_run_id_of_every_kind_of_run(
    good: AirflowHome, agent: StandInEcsAgent, manifest: dict[str, Any]
) -> None:
    """Scheduled (by the scheduler), manual with and without a logical date, and backfill runs,
    each run by ``airflow tasks test`` (Airflow's task runner, strict templates)."""
    # manual without a logical date: the run id is the run's run_after
    good.trigger("etl_dublin", "manual_no_date", None)
    ((logical, run_after),) = good.query(
        "SELECT logical_date, run_after FROM dag_run WHERE run_id = 'manual_no_date'"
    )
    assert logical is None
    # manual with one
    good.trigger("etl_munich", "manual_dated", "2030-09-01T03:00:00+00:00")
    # backfill
    good.airflow(
        "backfill", "create", "--dag-id", "etl_munich",
        "--from-date", "2026-01-05T00:00:00+00:00", "--to-date", "2026-01-05T23:00:00+00:00",
    )  # fmt: skip
    # scheduled, as the scheduler creates it
    if not good.query(
        "SELECT 1 FROM dag_run WHERE dag_id = 'etl_munich' AND run_type = 'scheduled'"
    ):
        good.airflow("scheduler", "--num-runs", "3", "--skip-serve-logs", timeout=180)
    ((scheduled, scheduled_date),) = good.query(
        "SELECT run_id, logical_date FROM dag_run WHERE dag_id = 'etl_munich' "
        "AND run_type = 'scheduled'"
    )
    ((backfill, backfill_date),) = good.query(
        "SELECT run_id, logical_date FROM dag_run WHERE dag_id = 'etl_munich' "
        "AND run_type = 'backfill'"
    )
    expected = {
        ("etl_dublin", "payroll", "manual_no_date"): ts_nodash(run_after),
        ("etl_munich", "patients", "manual_dated"): "20300901T030000",
        ("etl_munich", "patients", backfill): ts_nodash(backfill_date),
        ("etl_munich", "patients", scheduled): ts_nodash(scheduled_date),
    }
    assert ts_nodash(backfill_date) == "20260105T030000"
    for (dag_id, task_id, run_id), want in expected.items():
        out = good.airflow("tasks", "test", dag_id, task_id, run_id, timeout=180).stdout
        assert "UndefinedError" not in out
        family = _family(manifest, dag_id.removeprefix("etl_"))
        assert [t.exit_code for t in agent.runs_of(family) if t.run_id == want] == [0], out


# --- 3. SIGTERM, timeout, worker loss -----------------------------------------------------------


def test_sigterm_stops_the_ecs_task(
    good: AirflowHome, agent: StandInEcsAgent, manifest: dict[str, Any]
) -> None:
    agent.plan(_family(manifest, "munich"), Outcome(hold=True))
    good.trigger("etl_munich", "sigterm", "2030-10-01T03:00:00+00:00")
    task_run = good.background("tasks", "test", "etl_munich", "patients", "sigterm")
    task = agent.wait_for(lambda t: t.run_id == "20301001T030000", what="of the sigterm run")
    task_run.wait_for_line("Starting ECS Task Log Fetcher")  # waiting for it now
    good.kill(task_run.proc, signal.SIGTERM)
    task_run.finish(timeout=60)
    stopped = agent.wait_for(lambda t: t.arn == task.arn and t.final_status is not None)
    assert stopped.stopped_reason == "Task killed by the user"  # on_kill: StopTask


def test_execution_timeout_stops_the_ecs_task(
    good: AirflowHome, agent: StandInEcsAgent, manifest: dict[str, Any]
) -> None:
    agent.plan(_family(manifest, "munich"), Outcome(hold=True))
    good.trigger("etl_munich", "timeout", "2030-11-01T03:00:00+00:00")
    production, short = "timedelta(hours=2)\n", "timedelta(seconds=5)\n"
    good.edit_factory(f"EXECUTION_TIMEOUT = {production}", f"EXECUTION_TIMEOUT = {short}")
    try:
        out = good.airflow("tasks", "test", "etl_munich", "patients", "timeout", timeout=180).stdout
    finally:
        good.edit_factory(f"EXECUTION_TIMEOUT = {short}", f"EXECUTION_TIMEOUT = {production}")
    assert "AirflowTaskTimeout" in out
    (task,) = [
        t for t in agent.runs_of(_family(manifest, "munich")) if t.run_id == "20301101T030000"
    ]
    task = agent.wait_for(lambda t: t.arn == task.arn and t.final_status is not None)
    assert task.stopped_reason == "Task killed by the user"  # on_kill: StopTask


def test_after_a_lost_worker_the_retry_reattaches(
    good: AirflowHome, agent: StandInEcsAgent, manifest: dict[str, Any]
) -> None:
    family = _family(manifest, "munich")
    agent.plan(family, Outcome(hold=True))
    good.trigger("etl_munich", "worker_lost", "2030-12-01T03:00:00+00:00")
    first = good.background("tasks", "test", "etl_munich", "patients", "worker_lost")
    task = agent.wait_for(lambda t: t.run_id == "20301201T030000", what="of the lost worker")
    first.wait_for_line("Starting ECS Task Log Fetcher")
    good.kill(first.proc, signal.SIGKILL)  # no on_kill: the ECS task runs on
    first.finish(timeout=30)
    time.sleep(1)
    assert task.final_status is None
    second = good.background("tasks", "test", "etl_munich", "patients", "worker_lost")
    second.wait_for_line("Reattaching previously launched task")
    agent.release(task.arn, 0)
    returncode, out = second.finish(timeout=120)
    assert returncode == 0, out
    assert [t.arn for t in agent.runs_of(family) if t.run_id == "20301201T030000"] == [task.arn]
    assert "etl: finished run-id=20301201T030000 exit=0" in out


# --- 4. incremental extracts: the data interval in the command ------------------------------

ORDERS = ("etl_hq__orders", "orders")  # prod: incremental, "15 2 * * *", start 2026-11-01
DAY = timedelta(days=1)


def _utc(value: str) -> datetime:
    """A date from the metadata DB or the API as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _latest_0215_interval(moment: datetime) -> tuple[datetime, datetime]:
    """The latest whole "15 2 * * *" interval ending at or before ``moment`` (by hand)."""
    end = moment.replace(hour=2, minute=15, second=0, microsecond=0)
    if end > moment:
        end -= DAY
    return end - DAY, end


def _incremental_command(extract: dict[str, Any], start: datetime, end: datetime) -> list[str]:
    sql = "%Y-%m-%d %H:%M:%S"
    return [
        "--query", extract["query"], "--key-prefix", extract["keyPrefix"],
        "--run-id", start.strftime("%Y%m%dT%H%M%S"),
        "--param", f"interval_start={start.strftime(sql)}",
        "--param", f"interval_end={end.strftime(sql)}",
    ]  # fmt: skip


def _sent(agent: StandInEcsAgent, family: str, before: set[str]) -> list[str]:
    """The command of the one ECS task started since ``before`` (ARNs seen earlier)."""
    (task,) = [t for t in agent.runs_of(family) if t.arn not in before]
    assert task.exit_code == 0
    return task.command


def test_incremental_runs_of_every_kind_extract_their_data_interval(
    good: AirflowHome, agent: StandInEcsAgent, manifest: dict[str, Any]
) -> None:
    """A manual run through the REST API (the UI's path) with a logical date and one without,
    and a backfill run, each run by ``airflow tasks test``: the command carries the run's data
    interval and its start as run id. A manual run of the interval of a scheduled run (the
    scheduler's first catch-up run) writes that run's partition. (Scheduled runs' commands:
    test_catchup_creates_one_run_per_interval_from_start.)"""
    dag_id, task_id = ORDERS
    orders = next(e for e in site_of(manifest, "hq")["extracts"] if e["name"] == task_id)
    family = _family(manifest, "hq")
    if not good.query("SELECT 1 FROM dag_run WHERE dag_id = ? AND run_type = 'scheduled'", dag_id):
        good.airflow("scheduler", "--num-runs", "3", "--skip-serve-logs", timeout=180)
    # max_active_runs=1: the first catch-up run from `start`, the first tick after 00:00 UTC
    ((scheduled_logical,),) = good.query(
        "SELECT logical_date FROM dag_run WHERE dag_id = ? AND run_type = 'scheduled'", dag_id
    )

    runs = f"/api/v2/dags/{dag_id}/dagRuns"
    dated, undated, backfill = good.api(
        [
            # a logical date on the tick that ends the scheduled run's interval
            ("POST", runs, {"dag_run_id": "ui_dated", "logical_date": "2026-11-02T02:15:00Z"}),
            ("POST", runs, {"dag_run_id": "ui_undated", "logical_date": None}),
            (
                "POST",
                "/api/v2/backfills",
                {
                    "dag_id": dag_id,
                    "from_date": "2026-11-05T00:00:00Z",
                    "to_date": "2026-11-05T23:00:00Z",
                },
            ),
        ]
    )
    # what Airflow 3.3 gives each run
    assert (dated["data_interval_start"], dated["data_interval_end"]) == (
        "2026-11-01T02:15:00Z", "2026-11-02T02:15:00Z"
    )  # fmt: skip
    assert (undated["logical_date"], undated["data_interval_start"]) == (None, None)
    ((backfill_run, backfill_start, backfill_end),) = good.query(
        "SELECT run_id, data_interval_start, data_interval_end FROM dag_run "
        "WHERE dag_id = ? AND run_type = 'backfill'",
        dag_id,
    )
    assert backfill["from_date"].startswith("2026-11-05")
    assert (_utc(backfill_start), _utc(backfill_end)) == (
        datetime(2026, 11, 5, 2, 15, tzinfo=UTC), datetime(2026, 11, 6, 2, 15, tzinfo=UTC)
    )  # fmt: skip

    first = (datetime(2026, 11, 1, 2, 15, tzinfo=UTC), datetime(2026, 11, 2, 2, 15, tzinfo=UTC))
    assert _utc(scheduled_logical) == first[0]  # the scheduled run's interval starts there
    expected = {
        "ui_dated": first,  # the scheduled run's interval: its run id, its partition
        # no logical date: Airflow stores no interval; the latest one before it was triggered
        "ui_undated": _latest_0215_interval(_utc(undated["run_after"])),
        backfill_run: (_utc(backfill_start), _utc(backfill_end)),
    }
    for run_id, (start, end) in expected.items():
        before = {t.arn for t in agent.runs_of(family)}
        out = good.airflow("tasks", "test", dag_id, task_id, run_id, timeout=180).stdout
        assert "UndefinedError" not in out
        assert _sent(agent, family, before) == _incremental_command(orders, start, end), out


def test_cli_trigger_with_a_logical_date_gets_the_interval_of_the_trigger_time(
    good: AirflowHome,
) -> None:
    """Airflow 3.3.1's ``airflow dags trigger --logical-date`` (unlike the REST API and the UI)
    infers the data interval from the moment it is called, not from the logical date: the run
    extracts the latest interval, and its run id (the interval start) says so."""
    dag_id, _ = ORDERS
    good.trigger(dag_id, "cli_dated", "2026-11-10T00:00:00+00:00")
    ((logical, start, end, run_after),) = good.query(
        "SELECT logical_date, data_interval_start, data_interval_end, run_after FROM dag_run "
        "WHERE run_id = 'cli_dated'"
    )
    assert _utc(logical) == datetime(2026, 11, 10, tzinfo=UTC)
    assert (_utc(start), _utc(end)) == _latest_0215_interval(_utc(run_after))


def test_catchup_creates_one_run_per_interval_from_start(
    airflow: AirflowHome,
    agent: StandInEcsAgent,
    manifest: dict[str, Any],
    network: dict[str, Any],
) -> None:
    """A new incremental @daily extract starting two days ago: the real scheduler creates one
    run per whole day since `start` (two), oldest first and one at a time (max_active_runs=1),
    each scheduled run (run by ``airflow tasks test``) extracts its own interval, and no run is
    created for the day still under way."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 2 * DAY
    variant = copy.deepcopy(manifest)
    hq = site_of(variant, "hq")
    recent = copy.deepcopy(next(e for e in hq["extracts"] if e["name"] == "orders"))
    recent.update(name="recent_orders", keyPrefix="hq/recent_orders", schedule="@daily")
    recent["incremental"]["start"] = start.date().isoformat()
    hq["extracts"].append(recent)
    dag_id, family = "etl_hq__recent_orders", _family(manifest, "hq")
    airflow.write_manifest(variant, network)
    airflow.parse()
    assert dag_id in airflow.active_dags()

    scheduler = airflow.background("scheduler", "--skip-serve-logs")
    try:
        done: list[tuple[datetime, datetime]] = []
        interval = (start, start + DAY)
        while interval[1] <= datetime.now(UTC):
            ((run_id, run_type),) = airflow.wait_for(
                "SELECT run_id, run_type FROM dag_run WHERE dag_id = ? AND data_interval_start = ?",
                dag_id,
                interval[0].strftime("%Y-%m-%d %H:%M:%S.%f"),
                timeout=120,
            )
            assert run_type == "scheduled"
            before = {t.arn for t in agent.runs_of(family)}
            airflow.airflow("tasks", "test", dag_id, "recent_orders", run_id, timeout=180)
            assert _sent(agent, family, before) == _incremental_command(recent, *interval)
            done.append(interval)
            interval = (interval[1], interval[1] + DAY)
        # the scheduler finishes the last run and moves on to the interval still under way
        airflow.wait_for(
            "SELECT COUNT(*) FROM dag_run WHERE dag_id = ? AND state = 'success' HAVING COUNT(*) = ?",
            dag_id,
            len(done),
            timeout=120,
        )
        airflow.wait_for(
            "SELECT 1 FROM dag WHERE dag_id = ? AND next_dagrun_data_interval_start = ?",
            dag_id,
            interval[0].strftime("%Y-%m-%d %H:%M:%S.%f"),
            timeout=120,
        )
    finally:
        airflow.kill(scheduler.proc, signal.SIGTERM)
        scheduler.finish(timeout=60)
    rows = airflow.query(
        "SELECT data_interval_start, data_interval_end, state FROM dag_run WHERE dag_id = ? "
        "ORDER BY data_interval_start",
        dag_id,
    )
    assert [(_utc(s), _utc(e)) for s, e, _ in rows] == done
    assert {state for *_, state in rows} == {"success"}
    assert len(done) == (datetime.now(UTC) - start).days  # 2 (3 if midnight passed meanwhile)
