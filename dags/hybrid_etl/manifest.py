"""Read the sites manifest (v2) and the network file beside it; check one site at a time.

The stack writes both to the DAG bucket (docs/contracts.md §2): ``sites-manifest.json`` holds
only values known at a first ``pulumi preview``; ``sites-network.json`` holds the
provider-computed awsvpc configuration that FARGATE sites need. Checks are hand-written (no
jsonschema: it would cost parse time) and name the file, the site and the field.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_ENV = "HYBRID_SITES_MANIFEST"
MANIFEST_NAME = "sites-manifest.json"
NETWORK_NAME = "sites-network.json"
MANIFEST_VERSION = 2
NETWORK_VERSION = 1

_SITE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_EXTRACT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_GLUE_DATABASE = re.compile(r"^hybrid_[a-z0-9_]+$")
# A MySQL column name as written unquoted (the stack config's rule, components/config.py).
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Schedules that make no fixed data interval: an incremental extract cannot use them.
_NO_INTERVAL = {
    "@once": "makes one run with no data interval",
    "@continuous": "makes intervals from the last run's end to now, which a retry or backfill "
    "cannot recreate",
}
_LAUNCH_TYPES = ("EXTERNAL", "FARGATE", "EC2")
_RESIDENCIES = ("standard", "regulated")
_PUBLIC_IP = ("ENABLED", "DISABLED")


class ManifestError(ValueError):
    """The manifest as a whole is unusable: no DAG can be built from it."""


class SiteError(ValueError):
    """One site of the manifest is invalid: its DAGs are left out, the other sites' are not."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    paused_on_creation: bool
    sites: list[Any]  # raw entries: each is checked on its own by validate_site

    @property
    def network_path(self) -> Path:
        return self.path.with_name(NETWORK_NAME)


def manifest_path(dags_folder: Path) -> Path:
    """``$HYBRID_SITES_MANIFEST`` if set, else the manifest beside the DAG files."""
    override = os.environ.get(MANIFEST_ENV)
    return Path(override) if override else dags_folder / MANIFEST_NAME


def _read_json(path: Path, what: str, hint: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{what} {path} not found: {hint}") from None
    except OSError as exc:
        raise ManifestError(f"{what} {path} cannot be read: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{what} {path} is not valid JSON: {exc}") from None


def load_manifest(path: Path) -> Manifest:
    """Read and check the manifest's top level; raise ManifestError naming file and field."""
    doc = _read_json(
        path,
        "sites manifest",
        f"deploy the stack (it uploads {MANIFEST_NAME} next to dags/) or set ${MANIFEST_ENV}",
    )
    if not isinstance(doc, dict):
        raise ManifestError(f"sites manifest {path}: expected a JSON object at the top level")
    if doc.get("version") != MANIFEST_VERSION:
        raise ManifestError(
            f"sites manifest {path}: field 'version' is {doc.get('version')!r}, "
            f"these DAGs read version {MANIFEST_VERSION}"
        )
    if not isinstance(doc.get("sites"), list):
        raise ManifestError(f"sites manifest {path}: field 'sites' must be a list")
    dags = doc.get("dags")
    if not isinstance(dags, dict) or not isinstance(dags.get("pausedOnCreation"), bool):
        raise ManifestError(
            f"sites manifest {path}: field 'dags.pausedOnCreation' must be a boolean"
        )
    return Manifest(path=path, paused_on_creation=dags["pausedOnCreation"], sites=doc["sites"])


def load_network(path: Path) -> dict[str, Any]:
    """The awsvpc network configuration for RunTask, from ``sites-network.json``.

    Raises ManifestError naming the file and field; the caller turns it into an error of each
    FARGATE site only (EXTERNAL and EC2 sites never send a network configuration).
    """
    doc = _read_json(path, "network file", "deploy the stack (it uploads it beside the manifest)")
    if not isinstance(doc, dict):
        raise ManifestError(f"network file {path}: expected a JSON object at the top level")
    if doc.get("version") != NETWORK_VERSION:
        raise ManifestError(
            f"network file {path}: field 'version' is {doc.get('version')!r}, "
            f"these DAGs read version {NETWORK_VERSION}"
        )
    vpc = doc.get("awsvpcConfiguration")
    if not isinstance(vpc, dict):
        raise ManifestError(f"network file {path}: field 'awsvpcConfiguration' must be an object")
    for key in ("subnets", "securityGroups"):
        value = vpc.get(key)
        if not isinstance(value, list) or not value or not all(_is_str(v) for v in value):
            raise ManifestError(
                f"network file {path}: field 'awsvpcConfiguration.{key}' must be a non-empty "
                "list of ids"
            )
    if vpc.get("assignPublicIp") not in _PUBLIC_IP:
        raise ManifestError(
            f"network file {path}: field 'awsvpcConfiguration.assignPublicIp' must be one of "
            f"{_PUBLIC_IP}"
        )
    return {
        "awsvpcConfiguration": {
            "subnets": list(vpc["subnets"]),
            "securityGroups": list(vpc["securityGroups"]),
            "assignPublicIp": vpc["assignPublicIp"],
        }
    }


# --- one site -----------------------------------------------------------------------------------


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
    """Raise SiteError naming the first bad field of one site entry (fields the DAGs use)."""
    if not isinstance(site, dict):
        raise SiteError(f"expected an object, got {type(site).__name__}")
    _field(
        site, "name", "", lambda v: isinstance(v, str) and bool(_SITE_NAME.match(v)), "a site name"
    )
    _field(site, "residency", "", lambda v: v in _RESIDENCIES, f"one of {_RESIDENCIES}")
    for key in ("region", "cluster", "taskDefinitionFamily", "containerName", "lakePrefix"):
        _field(site, key, "", _is_str, "a non-empty string")
    _field(
        site,
        "glueDatabase",
        "",
        lambda v: isinstance(v, str) and bool(_GLUE_DATABASE.match(v)),
        "a Glue database name 'hybrid_<environment>_<site>'",
    )
    _field(site, "launchType", "", lambda v: v in _LAUNCH_TYPES, f"one of {_LAUNCH_TYPES}")
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
        if "incremental" not in extract:
            raise SiteError(f"field '{where}incremental' is missing (null for a full extract)")
        if extract["incremental"] is not None:
            _validate_incremental(extract, where)


def _validate_incremental(extract: dict[str, Any], where: str) -> None:
    """``{"column": <name>, "start": "YYYY-MM-DD"}`` and a schedule that makes data intervals."""
    incremental = extract["incremental"]
    where_inc = f"{where}incremental."
    if not isinstance(incremental, dict):
        raise SiteError(
            f"field '{where}incremental' must be null or an object {{column, start}}, "
            f"got {incremental!r}"
        )
    unknown = sorted(set(incremental) - {"column", "start"})
    if unknown:
        raise SiteError(f"field '{where}incremental' has unknown key(s) {unknown}")
    _field(
        incremental,
        "column",
        where_inc,
        lambda v: isinstance(v, str) and bool(_COLUMN.match(v)),
        "a column name (letters, digits, _ and $, not starting with a digit)",
    )
    _field(incremental, "start", where_inc, _is_iso_date, "a date written YYYY-MM-DD (UTC)")
    schedule = extract["schedule"]
    if schedule is None:
        raise SiteError(
            f"field '{where}schedule' must be a cron expression or preset for an incremental "
            "extract (its runs are the schedule's data intervals), got None"
        )
    if schedule in _NO_INTERVAL:
        raise SiteError(
            f"field '{where}schedule' {schedule!r} {_NO_INTERVAL[schedule]}: an incremental "
            "extract needs a cron expression or a preset such as @daily"
        )


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True
