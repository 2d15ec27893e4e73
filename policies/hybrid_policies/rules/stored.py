"""Where a regulated site's data is stored: every place is in a region compliance allows for
that site (its `allowedRegions` in the policy config).

A regulated site's data is stored in its lake prefix (so in the lake bucket's region, which is
the platform's, not the site's), its Glue database and tables (the catalog of that prefix), its
log group and its DB secret. `resources-in-allowed-regions` checks, before each is created, the
resources that declare the site (tag or Site parent); this rule checks what that cannot see:

- the lake bucket, which is shared and declares no site: every site has a prefix in it;
- copies that belong to the site without declaring it: a Glue database or table that names the
  site's database (by name or dependency) or points at its lake prefix, a log group or secret
  with the site's name in another region;
- where the site's workloads (membership by relationship, see evaluation.py) send its data: a
  container's `awslogs-region`, and the regions its ETL reads the secret in (`ETL_REGION`) and
  writes the catalog to (`ETL_GLUE_REGION`).

Everything it reads is written by the program (names, regions, container definitions), so it
decides at a first preview; a value that is unknown there fails closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.rules import (
    GLUE_DATABASE,
    GLUE_TABLE,
    LOG_GROUP,
    SECRET,
    TASK_DEFINITION,
)
from hybrid_policies.views import (
    StackResource,
    StackViolation,
    as_list,
    first_unknown,
    is_unknown,
    json_document,
)

# Container settings that say where the ETL of a site stores or reads its data.
REGION_SETTINGS = {
    "awslogs-region": "sends its logs to",
    "ETL_REGION": "reads its DB secret in",
    "ETL_GLUE_REGION": "writes its Glue catalog in",
}


def regulated_data_in_site_regions(ev: Evaluation) -> Iterator[StackViolation]:
    for site in ev.regulated_sites:
        allowed = ev.config.regions_for(site)
        yield from _lake(ev, site, allowed)
        yield from _undeclared_copies(ev, site, allowed)
        yield from _workload_regions(ev, site, allowed)


def _outside(region: Any, allowed: tuple[str, ...]) -> bool:
    return not isinstance(region, str) or region not in allowed


def _where(region: Any) -> str:
    return (
        f"in {region}"
        if not is_unknown(region)
        else f"in a region unknown before creation ({region})"
    )


def _lake(ev: Evaluation, site: str, allowed: tuple[str, ...]) -> Iterator[StackViolation]:
    for lake in ev.lake_buckets:
        region = lake.region
        if _outside(region, allowed):
            name = lake.get("bucket")
            shown = name if isinstance(name, str) else lake.name
            yield StackViolation(
                f"regulated site {site}'s data is stored in lake prefix {site}/ of bucket {shown} "
                f"{_where(region)}, outside site {site}'s allowedRegions {list(allowed)}: move "
                "the platform (aws:region) or have compliance allow the lake's region for the site",
                lake.urn,
                site,
            )


def _names(ev: Evaluation, site: str, resource_type: str) -> set[str]:
    return {
        name
        for a in ev.artefacts_of(site, resource_type)
        if isinstance(name := a.resource.get("name"), str)
    }


def _prefixes(ev: Evaluation, site: str) -> list[str]:
    """`s3://<lake>/<site>/` of every lake bucket whose name is known."""
    return [
        f"s3://{name}/{site}/"
        for lake in ev.lake_buckets
        if isinstance(name := lake.get("bucket"), str)
    ]


def _points_at(value: Any, prefixes: list[str]) -> bool:
    return isinstance(value, str) and any(
        value.rstrip("/") + "/" == p or value.startswith(p) for p in prefixes
    )


def _copy_reason(ev: Evaluation, site: str, resource: StackResource) -> str | None:
    """Why a resource that does not declare `site` stores the site's data, if it does."""
    databases = _names(ev, site, GLUE_DATABASE)
    database_urns = {a.resource.urn for a in ev.artefacts_of(site, GLUE_DATABASE)}
    prefixes = _prefixes(ev, site)
    if resource.type == GLUE_DATABASE:
        if resource.get("name") in databases:
            return f"is named like {site}'s Glue database {resource.get('name')}"
        if _points_at(resource.get("locationUri"), prefixes):
            return f"catalogs {site}'s lake prefix ({resource.get('locationUri')})"
    elif resource.type == GLUE_TABLE:
        if set(resource.depends_on("databaseName")) & database_urns:
            return f"is a table of {site}'s Glue database"
        if resource.get("databaseName") in databases:
            return f"is a table of {site}'s Glue database {resource.get('databaseName')}"
        if _points_at(resource.get("storageDescriptor", "location"), prefixes):
            return (
                f"catalogs {site}'s lake prefix ({resource.get('storageDescriptor', 'location')})"
            )
    elif resource.type == LOG_GROUP and resource.get("name") in _names(ev, site, LOG_GROUP):
        return f"is named like {site}'s log group {resource.get('name')}"
    elif resource.type == SECRET and resource.get("name") in _names(ev, site, SECRET):
        return f"is named like {site}'s DB secret {resource.get('name')}"
    return None


def _undeclared_copies(
    ev: Evaluation, site: str, allowed: tuple[str, ...]
) -> Iterator[StackViolation]:
    for resource in ev.of_type(GLUE_DATABASE, GLUE_TABLE, LOG_GROUP, SECRET):
        if ev.declared_site(resource) == site:
            continue  # resources-in-allowed-regions checks what declares the site
        why = _copy_reason(ev, site, resource)
        region = resource.region
        if why is not None and _outside(region, allowed):
            kind = resource.type.rsplit(":", 1)[-1]
            yield StackViolation(
                f"{kind} {resource.name} {why}, so it holds regulated site {site}'s data, but "
                f"it is {_where(region)}, outside site {site}'s allowedRegions {list(allowed)}",
                resource.urn,
                site,
            )


def _workload_regions(
    ev: Evaluation, site: str, allowed: tuple[str, ...]
) -> Iterator[StackViolation]:
    for td, _ in ev.members(site):
        if td.type != TASK_DEFINITION:
            continue
        containers = json_document(td.get("containerDefinitions"))
        unknown = first_unknown(containers)
        if unknown is not None:
            yield StackViolation(
                f"cannot verify where task definition {td.name} of regulated site {site} stores "
                f"its data before creation ({unknown}); residency fails closed: make it known at "
                "preview",
                td.urn,
                site,
            )
            continue
        for container in as_list(containers):
            if not isinstance(container, dict):
                continue
            settings = {
                str(v.get("name")): v.get("value")
                for v in as_list(container.get("environment"))
                if isinstance(v, dict)
            }
            options = (container.get("logConfiguration") or {}).get("options") or {}
            if isinstance(options, dict) and "awslogs-region" in options:
                settings["awslogs-region"] = options["awslogs-region"]
            for key, what in REGION_SETTINGS.items():
                region = settings.get(key)
                if region is not None and _outside(region, allowed):
                    yield StackViolation(
                        f"task definition {td.name} of regulated site {site}: container "
                        f"{container.get('name')} {what} {region} ({key}), outside site {site}'s "
                        f"allowedRegions {list(allowed)}",
                        td.urn,
                        site,
                    )
