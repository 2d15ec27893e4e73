"""The DAGs of every valid site of the manifest, and one problem line per invalid site.

- One DAG ``etl_<site>`` per site when all its extracts are full (not incremental) and share one
  schedule, otherwise one DAG ``etl_<site>__<extract>`` per extract (a DAG has one schedule, and
  an incremental extract its own start date and catch-up). ``-`` in names becomes ``_``.
- One ``EcsRunTaskOperator`` per extract, overriding the ``etl`` container's command with
  ``--query <query> --key-prefix <keyPrefix> --run-id <run id>``, plus, for an incremental
  extract, ``--param interval_start=<start> --param interval_end=<end>`` of its data interval.

Both DAG files call :func:`build_sites` on the same manifest and so agree on which sites are
invalid: ``hybrid_sites.py`` registers the valid sites' DAGs, ``hybrid_sites_problems.py`` turns
the problems into its own import error (a file with an import error loses all its DAGs in the
DAG processor, so the problems must not be reported by the file that holds the valid DAGs).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

from .intervals import run_interval
from .manifest import (
    Manifest,
    ManifestError,
    SiteError,
    load_manifest,
    load_network,
    manifest_path,
    validate_site,
)

#: The ETL's ``--run-id``: the run's logical date as ``YYYYMMDDTHHMMSS`` (S3-key-safe, sortable,
#: the same for every retry, so a retry rewrites its own prefix). A manual run triggered without
#: a logical date has ``dag_run.logical_date`` None and uses ``dag_run.run_after`` instead.
#: ``dag_run`` is in every run's template context; ``logical_date`` is not (the task runner
#: leaves it out when it is None, and templates are strict).
RUN_ID_TEMPLATE = "{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash }}"
#: An incremental extract's run id and interval: its data interval (``intervals.run_interval``,
#: the DAG's ``extract_interval`` macro), so a retry, a backfill or a manual rerun of an interval
#: writes that interval's partition again. UTC, never the wall clock.
INCREMENTAL_RUN_ID_TEMPLATE = "{{ extract_interval(dag_run).run_id }}"
INTERVAL_PARAM_TEMPLATES = (
    "interval_start={{ extract_interval(dag_run).start_sql }}",
    "interval_end={{ extract_interval(dag_run).end_sql }}",
)

START_DATE = pendulum.datetime(2025, 1, 1, tz="UTC")
#: Upper bound of one extract. On timeout the task runner calls ``on_kill``: the ECS task is
#: stopped, and the attempt fails (then retried like any failure).
EXECUTION_TIMEOUT = timedelta(hours=2)
#: DescribeTasks polling interval of the waiting task (the provider's default).
WAITER_DELAY_S = 6
#: How often the container's CloudWatch lines are copied into the task log (provider default).
LOG_FETCH_INTERVAL = timedelta(seconds=30)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    # Airflow 3.1+: a multiplier. Airflow adds jitter: the n-th retry waits between
    # 2 * 2**(n-1) and twice that many minutes ([2, 4), [4, 8), [8, 16)), capped below.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": EXECUTION_TIMEOUT,
}


@dataclass
class SitesBuild:
    """What one parse of the manifest gives: the valid sites' DAGs and what is wrong."""

    manifest_path: Path
    dags: list[DAG] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per invalid site
    fatal: str | None = None  # the manifest as a whole is unusable

    def report(self) -> str | None:
        """The text of the import error to show, or None when everything loaded."""
        if self.fatal is not None:
            return self.fatal
        if not self.problems:
            return None
        return (
            f"sites manifest {self.manifest_path}: {len(self.problems)} invalid site(s) skipped, "
            "their DAGs are not loaded (the other sites' DAGs are):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


def _literal(text: str) -> str:
    """Make a manifest string survive Jinja rendering of the templated ``overrides`` unchanged."""
    return text.replace("{", "{{ '{' }}") if "{" in text else text


def dag_id(site_name: str, extract_name: str | None = None) -> str:
    base = f"etl_{site_name.replace('-', '_')}"
    return base if extract_name is None else f"{base}__{extract_name}"


def _command(extract: dict[str, Any]) -> list[str]:
    """The ETL container's arguments (docs/contracts.md §3); the rest is in its environment."""
    command = [
        "--query",
        _literal(extract["query"]),
        "--key-prefix",
        _literal(extract["keyPrefix"]),
    ]
    if extract["incremental"] is None:
        return [*command, "--run-id", RUN_ID_TEMPLATE]
    start, end = INTERVAL_PARAM_TEMPLATES
    return [*command, "--run-id", INCREMENTAL_RUN_ID_TEMPLATE, "--param", start, "--param", end]


def _doc(site: dict[str, Any], extract: dict[str, Any]) -> str:
    table = f"`{site['glueDatabase']}.{extract['name']}`"
    text = f"`{extract['query']}` -> `{extract['keyPrefix']}/run=<run id>/`, Glue table {table}"
    if extract["incremental"] is None:
        return text + " (full extract)."
    return (
        text + f" (incremental on `{extract['incremental']['column']}`: each run extracts its "
        "data interval, run id = the interval's start)."
    )


def _task(
    site: dict[str, Any], extract: dict[str, Any], dag: DAG, network: dict[str, Any] | None
) -> EcsRunTaskOperator:
    command = _command(extract)
    optional: dict[str, Any] = {}
    if network is not None:  # FARGATE (awsvpc) only, never EXTERNAL or EC2 (bridge)
        optional["network_configuration"] = network
    logs = site["logs"]
    return EcsRunTaskOperator(
        task_id=extract["name"],
        dag=dag,
        region_name=site["region"],
        cluster=site["cluster"],
        task_definition=site["taskDefinitionFamily"],  # latest ACTIVE revision of the family
        launch_type=site["launchType"],
        placement_constraints=site["placementConstraints"],
        overrides={"containerOverrides": [{"name": site["containerName"], "command": command}]},
        container_name=site["containerName"],
        awslogs_group=logs["group"],
        awslogs_region=logs["region"],
        awslogs_stream_prefix=logs["streamPrefix"],
        awslogs_fetch_interval=LOG_FETCH_INTERVAL,
        # A retry (or a rerun after a lost worker) of the same task instance waits for its
        # still-running ECS task (found by a deterministic startedBy) instead of starting another.
        reattach=True,
        # Explicitly not deferrable (dags/README.md "Waiting: on a worker, not deferred").
        deferrable=False,
        waiter_delay=WAITER_DELAY_S,
        doc_md=_doc(site, extract),
        **optional,
    )


def _incremental_dag_args(extract: dict[str, Any]) -> dict[str, Any]:
    """Schedule, start and catch-up of an incremental extract's own DAG.

    The timetable is explicitly ``CronDataIntervalTimetable``: Airflow 3 turns a cron string into
    ``CronTriggerTimetable`` (``[scheduler] create_cron_data_intervals`` defaults to False), whose
    runs have an empty data interval (start = end) and would extract nothing.
    """
    timetable = CronDataIntervalTimetable(extract["schedule"], timezone="UTC")
    start = pendulum.parse(extract["incremental"]["start"], tz="UTC")
    return {
        "schedule": timetable,
        "start_date": start,
        "catchup": True,  # one run per interval from `start`, oldest first
        "user_defined_macros": {
            "extract_interval": functools.partial(run_interval, expression=timetable.expression)
        },
    }


def _groups(site: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(DAG id, extracts) pairs; components/dag_ids.py restates this rule for the stack."""
    extracts = site["extracts"]
    if not extracts:
        return []
    schedules = {extract["schedule"] for extract in extracts}
    if len(schedules) == 1 and not any(extract["incremental"] for extract in extracts):
        return [(dag_id(site["name"]), extracts)]
    return [(dag_id(site["name"], extract["name"]), [extract]) for extract in extracts]


def build_site_dags(
    site: dict[str, Any], *, paused_on_creation: bool, network: dict[str, Any] | None
) -> list[DAG]:
    """The DAGs of one valid site: one per site, or one per extract (see :func:`_groups`)."""
    extracts = site["extracts"]
    dags = []
    for the_dag_id, members in _groups(site):
        first = members[0]
        index = extracts.index(first)
        try:
            if first["incremental"] is None:
                timing: dict[str, Any] = {
                    "schedule": first["schedule"],
                    "start_date": START_DATE,
                    "catchup": False,
                }
            else:
                timing = _incremental_dag_args(first)
            dag = DAG(
                dag_id=the_dag_id,
                description=f"ETL of site {site['name']} ({site['residency']}, "
                f"{site['launchType']}) generated from the sites manifest",
                max_active_runs=1,
                is_paused_upon_creation=paused_on_creation,
                default_args=DEFAULT_ARGS,
                tags=["hybrid-etl", f"site:{site['name']}", f"residency:{site['residency']}"],
                **timing,
            )
            dag.timetable.validate()  # the cron expression
        except Exception as exc:
            raise SiteError(
                f"field 'extracts[{index}].schedule' {first['schedule']!r} is not a valid "
                f"schedule: {exc}"
            ) from exc
        for extract in members:
            _task(site, extract, dag, network)
        # What the DAG processor checks before it keeps a DAG: fail here, for this site only.
        dag.validate()
        dags.append(dag)
    return dags


class _Network:
    """sites-network.json, read once and only if a FARGATE site needs it."""

    def __init__(self, manifest: Manifest) -> None:
        self._path = manifest.network_path
        self._loaded: dict[str, Any] | ManifestError | None = None

    def for_fargate(self) -> dict[str, Any]:
        if self._loaded is None:
            try:
                self._loaded = load_network(self._path)
            except ManifestError as exc:
                self._loaded = exc
        if isinstance(self._loaded, ManifestError):
            raise SiteError(
                f"launchType FARGATE needs the awsvpc configuration: {self._loaded}"
            ) from None
        return self._loaded


def build_sites(dags_folder: Path) -> SitesBuild:
    """Every valid site's DAGs; never raises for bad input (it is reported in the result)."""
    path = manifest_path(dags_folder)
    result = SitesBuild(manifest_path=path)
    try:
        manifest = load_manifest(path)
    except ManifestError as exc:
        result.fatal = f"{exc}"
        return result
    network = _Network(manifest)
    seen_names: set[str] = set()
    seen_dag_ids: set[str] = set()
    for index, site in enumerate(manifest.sites):
        label = f"sites[{index}]"
        if isinstance(site, dict) and isinstance(site.get("name"), str):
            label += f" (site {site['name']!r})"
        try:
            validate_site(site)
            if site["name"] in seen_names:
                raise SiteError("field 'name': the site appears twice")
            site_dags = build_site_dags(
                site,
                paused_on_creation=manifest.paused_on_creation,
                network=network.for_fargate() if site["launchType"] == "FARGATE" else None,
            )
            clash = seen_dag_ids.intersection(dag.dag_id for dag in site_dags)
            if clash:
                raise SiteError(f"DAG id(s) {sorted(clash)} already used by another site")
        except Exception as exc:  # a bad site must not hide the others
            result.problems.append(f"{label}: {exc}")
            continue
        seen_names.add(site["name"])
        seen_dag_ids.update(dag.dag_id for dag in site_dags)
        result.dags.extend(site_dags)
    return result
