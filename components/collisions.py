"""Distinct site names that would become equal once the platform normalises them.

Names are transformed on the way to AWS and Airflow: `-` becomes `_` in DAG ids and vanishes in
IAM statement ids (`plant-a` and `plant--a` are both `RunTaskPlantA`, which AWS refuses as a
duplicate Sid at deploy), a site's extracts may get one DAG each (`etl_a__x` is both site `a`'s
extract `x` and site `a--x`), and a regulated site's cluster name may be a shared cluster's
(`shared`). Each site claims every derived name; two owners of one name is a config error that
names both sites.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.dag_ids import site_dag_ids
from components.naming import SITE_RESOURCE_SUFFIXES, Naming, iam_sid

if TYPE_CHECKING:
    from components.config import Site

SHARED = "the shared platform"


@dataclass(frozen=True)
class Collision:
    where: str
    message: str
    path: tuple[str | int, ...]


def _site_claims(naming: Naming, site: Site) -> Iterator[tuple[str, str]]:
    """(kind, derived name) for everything a site's name turns into."""
    extracts = [(e.name, e.schedule, e.incremental is not None) for e in site.extracts]
    for dag in site_dag_ids(site.name, extracts):
        yield "Airflow DAG id", dag
    yield "IAM statement id", f"RunTask{iam_sid(site.name)}"
    if site.has_own_cluster:
        cluster = naming.site(site.name)
        yield "ECS cluster name", cluster
        yield "IAM statement id", f"WatchTasks{iam_sid(cluster)}"
    for suffix in SITE_RESOURCE_SUFFIXES:
        yield "resource name", naming.site(site.name, suffix)


def _shared_claims(naming: Naming, region: str, sites: Sequence[Site]) -> Iterator[tuple[str, str]]:
    regions = {region} | {s.region for s in sites if not s.has_own_cluster}
    for cluster_region in sorted(regions):
        cluster = naming.shared_cluster(cluster_region, region)
        yield "ECS cluster name", cluster
        yield "IAM statement id", f"WatchTasks{iam_sid(cluster)}"


def find_collisions(
    environment: str, region: Any, sites: Sequence[tuple[int, Site]]
) -> list[Collision]:
    """One collision per pair of owners, reported at the later site's name."""
    naming = Naming(environment)
    owner_of: dict[tuple[str, str], str] = {}
    if isinstance(region, str):
        for claim in _shared_claims(naming, region, [site for _, site in sites]):
            owner_of[claim] = SHARED
    found: list[Collision] = []
    for index, site in sites:
        label = f"sites[{index}] ({site.name})"
        reported: set[str] = set()
        for kind, name in _site_claims(naming, site):
            owner = owner_of.setdefault((kind, name), label)
            if owner == label or owner in reported:
                continue
            reported.add(owner)
            if owner == SHARED:
                message = f"its {kind} '{name}' is already {SHARED}'s; choose another name"
            else:
                message = f"collides with {owner}: both become {kind} '{name}'; rename one of them"
            found.append(Collision(f"{label}.name", message, (index, "name")))
    return found
