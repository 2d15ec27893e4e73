"""ETL DAGs for every site in the sites manifest written by the Pulumi stack.

The manifest (``sites-manifest.json`` beside this file, or the path in ``$HYBRID_SITES_MANIFEST``)
is the only input: add a site or an extract to ``stacks/Pulumi.<stack>.yaml``, deploy, and its DAG
appears. This module ships alone to MWAA and imports nothing from the rest of the repository.

- One DAG ``etl_<site>`` per site when all its extracts share one schedule, otherwise one DAG
  ``etl_<site>__<extract>`` per extract (a DAG has one schedule). ``-`` in names becomes ``_``.
- One ``EcsRunTaskOperator`` per extract, overriding the ``etl`` container's command with
  ``--query <query> --key-prefix <keyPrefix> --run-id <logical date, ts_nodash>``.
- A missing or unreadable manifest fails the whole file with an import error naming the file and
  the field. An invalid site is skipped and reported as one import error for this file naming
  the site and the field, while the valid sites' DAGs still load (see ``_InvalidSites``).

Parsing reads one small JSON file and does no AWS calls.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.sdk import DAG

log = logging.getLogger(__name__)

MANIFEST_ENV = "HYBRID_SITES_MANIFEST"
MANIFEST_NAME = "sites-manifest.json"
MANIFEST_VERSION = 1

#: The ETL's ``--run-id``: the run's logical date as ``YYYYMMDDTHHMMSS`` (S3-key-safe, sortable,
#: stable across retries so a retry overwrites its own attempt). Manual runs triggered without a
#: logical date fall back to the run's ``run_after``.
RUN_ID_TEMPLATE = "{{ (logical_date or dag_run.run_after) | ts_nodash }}"

START_DATE = pendulum.datetime(2025, 1, 1, tz="UTC")
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    # Airflow 3.1+: a multiplier, 2.0 doubles the delay per retry (2, 4, 8 min), capped below.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}

_SITE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_EXTRACT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_LAUNCH_TYPES = ("EXTERNAL", "FARGATE", "EC2")
_RESIDENCIES = ("standard", "regulated")


class ManifestError(ValueError):
    """The manifest file as a whole is unusable: no DAG can be built from it."""


class SiteError(ValueError):
    """One site of the manifest is invalid: its DAGs are skipped."""


class InvalidSitesError(ValueError):
    """Raised by the placeholder DAG's ``validate()`` so DagBag records an import error."""


class _InvalidSites(DAG):
    """Placeholder that turns invalid sites into an import error without hiding valid sites.

    A module that raises at import loses all its DAGs. Instead this DAG is left at module level;
    DagBag calls ``validate()`` on every DAG before bagging it and records any exception as the
    import error of this file, then goes on bagging the other DAGs of the file.
    """

    problems: tuple[str, ...] = ()

    def validate(self) -> None:
        raise InvalidSitesError("\n".join(self.problems))


def manifest_path() -> Path:
    override = os.environ.get(MANIFEST_ENV)
    return Path(override) if override else Path(__file__).with_name(MANIFEST_NAME)


def load_manifest(path: Path) -> dict[str, Any]:
    """Read and check the top level of the manifest; raise ManifestError naming file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"sites manifest {path} not found: deploy the stack (it uploads {MANIFEST_NAME} "
            f"next to dags/) or set ${MANIFEST_ENV}"
        ) from None
    except OSError as exc:
        raise ManifestError(f"sites manifest {path} cannot be read: {exc}") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"sites manifest {path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"sites manifest {path}: expected a JSON object at the top level")
    if manifest.get("version") != MANIFEST_VERSION:
        raise ManifestError(
            f"sites manifest {path}: field 'version' is {manifest.get('version')!r}, "
            f"these DAGs read version {MANIFEST_VERSION}"
        )
    if not isinstance(manifest.get("sites"), list):
        raise ManifestError(f"sites manifest {path}: field 'sites' must be a list")
    return manifest


# --- per-site validation (hand-written: jsonschema would cost parse time) ---------------------


def _field(
    obj: dict[str, Any], key: str, where: str, check: Callable[[Any], bool], want: str
) -> Any:
    if key not in obj:
        raise SiteError(f"field '{where}{key}' is missing")
    value = obj[key]
    if not check(value):
        raise SiteError(f"field '{where}{key}' must be {want}, got {value!r}")
    return value


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def validate_site(site: Any) -> None:
    """Raise SiteError naming the first bad field of one site entry."""
    if not isinstance(site, dict):
        raise SiteError(f"expected an object, got {type(site).__name__}")
    _field(
        site, "name", "", lambda v: isinstance(v, str) and bool(_SITE_NAME.match(v)), "a site name"
    )
    _field(site, "residency", "", lambda v: v in _RESIDENCIES, f"one of {_RESIDENCIES}")
    for key in ("region", "cluster", "taskDefinitionFamily", "containerName", "lakePrefix"):
        _field(site, key, "", _is_str, "a non-empty string")
    launch_type = _field(
        site, "launchType", "", lambda v: v in _LAUNCH_TYPES, f"one of {_LAUNCH_TYPES}"
    )
    logs = _field(site, "logs", "", _is_dict, "an object")
    for key in ("group", "region", "streamPrefix"):
        _field(logs, key, "logs.", _is_str, "a non-empty string")
    constraints = _field(site, "placementConstraints", "", _is_list, "a list")
    for i, constraint in enumerate(constraints):
        where = f"placementConstraints[{i}]"
        if not isinstance(constraint, dict):
            raise SiteError(f"field '{where}' must be an object")
        _field(constraint, "type", f"{where}.", lambda v: v == "memberOf", "'memberOf'")
        _field(constraint, "expression", f"{where}.", _is_str, "a non-empty string")
    network = _field(
        site, "networkConfiguration", "", lambda v: v is None or _is_dict(v), "null or an object"
    )
    if launch_type == "FARGATE":
        if network is None:
            raise SiteError("field 'networkConfiguration' is required for launchType FARGATE")
        vpc = _field(network, "awsvpcConfiguration", "networkConfiguration.", _is_dict, "an object")
        _field(
            vpc,
            "subnets",
            "networkConfiguration.awsvpcConfiguration.",
            lambda v: _is_list(v) and bool(v),
            "a non-empty list",
        )
    elif network is not None:
        raise SiteError(
            f"field 'networkConfiguration' must be null for launchType {launch_type} "
            "(bridge networking; ECS Anywhere has no awsvpc)"
        )
    extracts = _field(site, "extracts", "", _is_list, "a list")
    lake_prefix = site["lakePrefix"].rstrip("/") + "/"
    seen: set[str] = set()
    for i, extract in enumerate(extracts):
        where = f"extracts[{i}]."
        if not isinstance(extract, dict):
            raise SiteError(f"field 'extracts[{i}]' must be an object")
        name = _field(
            extract,
            "name",
            where,
            lambda v: isinstance(v, str) and bool(_EXTRACT_NAME.match(v)),
            "an extract name",
        )
        if name in seen:
            raise SiteError(f"field '{where}name': extract {name!r} appears twice")
        seen.add(name)
        _field(extract, "query", where, _is_str, "a non-empty string")
        _field(extract, "schedule", where, lambda v: v is None or _is_str(v), "null or a schedule")
        _field(
            extract,
            "keyPrefix",
            where,
            lambda v: _is_str(v) and v.startswith(lake_prefix),
            f"a key below the site's lakePrefix {lake_prefix!r}",
        )


# --- DAG building ------------------------------------------------------------------------------


def _literal(text: str) -> str:
    """Make a manifest string survive Jinja rendering of the templated ``overrides`` unchanged."""
    return text.replace("{", "{{ '{' }}") if "{" in text else text


def dag_id(site_name: str, extract_name: str | None = None) -> str:
    base = f"etl_{site_name.replace('-', '_')}"
    return base if extract_name is None else f"{base}__{extract_name}"


def _task(site: dict[str, Any], extract: dict[str, Any], dag: DAG) -> EcsRunTaskOperator:
    command = [
        "--query",
        _literal(extract["query"]),
        "--key-prefix",
        _literal(extract["keyPrefix"]),
        "--run-id",
        RUN_ID_TEMPLATE,
    ]
    optional: dict[str, Any] = {}
    if site["networkConfiguration"] is not None:  # FARGATE (awsvpc) only, never EXTERNAL
        optional["network_configuration"] = site["networkConfiguration"]
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
        reattach=True,
        doc_md=f"`{extract['query']}` -> `{extract['keyPrefix']}/<run id>/`",
        **optional,
    )


def build_site_dags(site: dict[str, Any]) -> list[DAG]:
    """The DAGs of one valid site: one per site, or one per extract if schedules differ."""
    extracts = site["extracts"]
    if not extracts:
        return []
    schedules = {extract["schedule"] for extract in extracts}
    if len(schedules) == 1:
        groups = [(dag_id(site["name"]), extracts)]
    else:
        groups = [(dag_id(site["name"], extract["name"]), [extract]) for extract in extracts]
    dags = []
    for the_dag_id, members in groups:
        schedule = members[0]["schedule"]
        try:
            dag = DAG(
                dag_id=the_dag_id,
                description=f"ETL of site {site['name']} ({site['residency']}, "
                f"{site['launchType']}) generated from the sites manifest",
                schedule=schedule,
                start_date=START_DATE,
                catchup=False,
                max_active_runs=1,
                default_args=DEFAULT_ARGS,
                tags=["hybrid-etl", f"site:{site['name']}", f"residency:{site['residency']}"],
            )
            # What DagBag checks before bagging (the cron expression): fail here, for this site
            # only, rather than as an import error that would hide the invalid-sites report.
            dag.timetable.validate()
        except Exception as exc:
            index = extracts.index(members[0])
            raise SiteError(
                f"field 'extracts[{index}].schedule' {schedule!r} is not a valid schedule: {exc}"
            ) from exc
        for extract in members:
            _task(site, extract, dag)
        dags.append(dag)
    return dags


def build_dags(path: Path) -> tuple[list[DAG], list[str]]:
    """All DAGs of the manifest at ``path``, and one problem line per invalid site."""
    manifest = load_manifest(path)
    dags: list[DAG] = []
    problems: list[str] = []
    seen_names: set[str] = set()
    seen_dag_ids: set[str] = set()
    for index, site in enumerate(manifest["sites"]):
        label = f"sites[{index}]"
        if isinstance(site, dict) and isinstance(site.get("name"), str):
            label += f" (site {site['name']!r})"
        try:
            validate_site(site)
            if site["name"] in seen_names:
                raise SiteError("field 'name': the site appears twice")
            site_dags = build_site_dags(site)
            clash = seen_dag_ids.intersection(dag.dag_id for dag in site_dags)
            if clash:
                raise SiteError(f"DAG id(s) {sorted(clash)} already used by another site")
        except Exception as exc:  # a bad site must not hide the others
            problems.append(f"{label}: {exc}")
            continue
        seen_names.add(site["name"])
        seen_dag_ids.update(dag.dag_id for dag in site_dags)
        dags.extend(site_dags)
    return dags, problems


def _register() -> None:
    path = manifest_path()
    dags, problems = build_dags(path)  # ManifestError: the whole file fails to import
    for dag in dags:
        globals()[dag.dag_id] = dag
    if problems:
        message = (
            f"sites manifest {path}: {len(problems)} invalid site(s) skipped, their DAGs are not "
            "loaded (the other sites' DAGs are):\n" + "\n".join(f"  {p}" for p in problems)
        )
        log.error("%s", message)
        warnings.warn(message, stacklevel=1)
        sentinel = _InvalidSites(dag_id="etl__invalid_sites", schedule=None, start_date=START_DATE)
        sentinel.problems = (message,)
        globals()["etl__invalid_sites"] = sentinel


_register()
