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
from dataclasses import dataclass
from typing import Any

from hybrid_policies.evaluation import ARTEFACT_KINDS, Evaluation
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
        yield from _workload_regions(ev, site, allowed)
    yield from _undeclared_copies(ev)


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


@dataclass(frozen=True)
class _Owners:
    """What identifies each regulated site's stored data, indexed once per evaluation."""

    by_name: dict[tuple[str, str], str]  # (type, name) of a declared artefact -> its site
    databases: dict[str, str]  # Glue database URN -> its site
    lakes: frozenset[str]  # lake bucket names

    @classmethod
    def of(cls, ev: Evaluation) -> _Owners:
        cached = ev.cache.get("stored_owners")
        if isinstance(cached, _Owners):
            return cached
        by_name: dict[tuple[str, str], str] = {}
        databases: dict[str, str] = {}
        for site in ev.regulated_sites:
            for artefact in ev.artefacts_of(site, GLUE_DATABASE, LOG_GROUP, SECRET):
                name = artefact.resource.get("name")
                if isinstance(name, str):
                    by_name.setdefault((artefact.resource.type, name), site)
                if artefact.resource.type == GLUE_DATABASE:
                    databases[artefact.resource.urn] = site
        lakes = frozenset(
            name for lake in ev.lake_buckets if isinstance(name := lake.get("bucket"), str)
        )
        ev.cache["stored_owners"] = owners = cls(by_name, databases, lakes)
        return owners

    def prefix_site(self, location: Any, regulated: set[str]) -> str | None:
        """The site whose lake prefix `s3://<lake>/<site>/...` a location points at."""
        if not isinstance(location, str) or not location.startswith("s3://"):
            return None
        bucket, _, path = location.removeprefix("s3://").partition("/")
        site = path.split("/", 1)[0]
        return site if bucket in self.lakes and site in regulated else None


def _owner(ev: Evaluation, owners: _Owners, resource: StackResource) -> tuple[str, str] | None:
    """(site, why) when the resource holds a regulated site's data, by name, dependency or the
    lake prefix it points at."""
    regulated = set(ev.regulated_sites)
    name = resource.get("name")
    if resource.type == GLUE_TABLE:
        for urn in resource.depends_on("databaseName"):
            if urn in owners.databases:
                owner = owners.databases[urn]
                return owner, f"is a table of {owner}'s Glue database"
        database = resource.get("databaseName")
        if isinstance(database, str) and (GLUE_DATABASE, database) in owners.by_name:
            owner = owners.by_name[(GLUE_DATABASE, database)]
            return owner, f"is a table of {owner}'s Glue database {database}"
        location = resource.get("storageDescriptor", "location")
    else:
        if isinstance(name, str) and (resource.type, name) in owners.by_name:
            owner = owners.by_name[(resource.type, name)]
            kind = ARTEFACT_KINDS.get(resource.type, "resource")
            return owner, f"is named like {owner}'s {kind} {name}"
        location = resource.get("locationUri") if resource.type == GLUE_DATABASE else None
    site = owners.prefix_site(location, regulated)
    return (site, f"catalogs {site}'s lake prefix ({location})") if site else None


def _undeclared_copies(ev: Evaluation) -> Iterator[StackViolation]:
    owners = _Owners.of(ev)
    for resource in ev.of_type(GLUE_DATABASE, GLUE_TABLE, LOG_GROUP, SECRET):
        found = _owner(ev, owners, resource)
        if found is None:
            continue
        site, why = found
        if ev.declared_site(resource) == site:
            continue  # resources-in-allowed-regions checks what declares the site
        allowed = ev.config.regions_for(site)
        region = resource.region
        if _outside(region, allowed):
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
