"""Every ECS workload that belongs to a regulated site runs on that site's own hosts, wherever in
the program it is declared and however it is labelled.

Membership is by relationship (see evaluation.py). Task definitions that declare their site (tag
or Site parent) are also checked by the resource rules before they are created; this rule
checks them only for what the resource rules cannot see, so a finding is reported once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hybrid_policies.evaluation import Evaluation, Membership
from hybrid_policies.rules import (
    CAPACITY_PROVIDER,
    CLUSTER_CAPACITY_PROVIDERS,
    SERVICE,
    TASK_DEFINITION,
    TASK_SET,
)
from hybrid_policies.rules.residency import external_only, pinned_sites
from hybrid_policies.views import (
    StackResource,
    StackViolation,
    as_list,
    is_unknown,
    site_from_parent,
)

KINDS = {
    TASK_DEFINITION: "task definition",
    SERVICE: "service",
    TASK_SET: "task set",
    CLUSTER_CAPACITY_PROVIDERS: "cluster capacity providers",
    CAPACITY_PROVIDER: "capacity provider",
}
TAGGABLE = (TASK_DEFINITION, SERVICE, TASK_SET, CAPACITY_PROVIDER)


def _unverified(what: str, value: Any) -> str:
    return f"cannot verify its {what} before creation ({value})"


def _checked_by_resource_rules(ev: Evaluation, td: StackResource, site: str) -> bool:
    """The resource rules see this task definition as the site's regulated task."""
    declared = td.tagged_site or site_from_parent(td.parent_urn)
    return declared == site and ev.ctx.is_regulated(td.tags, declared)


def _labels(ev: Evaluation, resource: StackResource, site: str) -> list[str]:
    if resource.type not in TAGGABLE:
        return []
    tag = ev.config.residency
    if resource.tagged_site == site and tag.key in resource.tags:
        return []  # labelled for the site; a wrong residency value is sites-known-to-compliance's
    return [f"is not tagged site={site}, {tag.key}={tag.regulated}"]


def _task_definition(ev: Evaluation, td: StackResource, site: str) -> list[str]:
    if _checked_by_resource_rules(ev, td, site):
        return []
    problems = []
    compatibilities = td.get("requiresCompatibilities")
    if is_unknown(compatibilities):
        problems.append(_unverified("launch types", compatibilities))
    elif not external_only(compatibilities):
        problems.append(
            f'requires {as_list(compatibilities) or "no launch type"}, not ["EXTERNAL"]'
        )
    constraints = td.get("placementConstraints")
    if is_unknown(constraints):
        problems.append(_unverified("placement constraints", constraints))
    elif pinned_sites(constraints) != [site]:
        problems.append(f"is not pinned to memberOf 'attribute:site == {site}' alone")
    return problems


def _service(ev: Evaluation, service: StackResource, site: str) -> list[str]:
    problems = []
    strategies = service.get("capacityProviderStrategies")
    launch_type = service.get("launchType")
    if is_unknown(strategies):
        problems.append(_unverified("capacity provider strategy", strategies))
    elif as_list(strategies):
        names = sorted(str(s.get("capacityProvider")) for s in strategies if isinstance(s, dict))
        problems.append(f"uses capacity providers {names} (ECS Anywhere has none)")
    elif is_unknown(launch_type):
        problems.append(_unverified("launch type", launch_type))
    elif launch_type != "EXTERNAL":
        problems.append(f"has launch type {launch_type or 'EC2 (the default)'}, not EXTERNAL")
    own = ev.is_own_cluster(site, service, "cluster")
    if own is None:
        problems.append(_unverified("cluster", service.get("cluster")))
    elif not own:
        problems.append(f"runs on cluster {service.get('cluster')}, not {site}'s own")
    return problems


def _capacity(resource: StackResource, site: str) -> list[str]:
    if resource.type == CAPACITY_PROVIDER:
        return ["is a capacity provider: a regulated site's tasks run only on its own hosts"]
    providers = resource.get("capacityProviders")
    strategy = resource.get("defaultCapacityProviderStrategies")
    if is_unknown(providers) or is_unknown(strategy):
        return [_unverified("capacity providers", providers)]
    if as_list(providers) or as_list(strategy):
        return [f"adds capacity providers {sorted(map(str, as_list(providers)))} to its cluster"]
    return []


def _problems(ev: Evaluation, resource: StackResource, site: str) -> list[str]:
    if resource.type == TASK_DEFINITION:
        return _task_definition(ev, resource, site)
    if resource.type in (SERVICE, TASK_SET):
        return _service(ev, resource, site)
    return _capacity(resource, site)


def regulated_workloads_on_site(ev: Evaluation) -> Iterator[StackViolation]:
    for site in ev.regulated_sites:
        for resource, membership in ev.members(site):
            problems = _problems(ev, resource, site) + _labels(ev, resource, site)
            if problems:
                yield StackViolation(
                    _message(resource, site, membership, problems), resource.urn, site
                )


def _message(
    resource: StackResource, site: str, membership: Membership, problems: list[str]
) -> str:
    why = "; ".join(membership.reasons[:3])
    return (
        f"{KINDS[resource.type]} {resource.name} belongs to regulated site {site} ({why}) but "
        + "; ".join(problems)
        + f": it must run EXTERNAL only, pinned to {site}'s hosts, on {site}'s own cluster"
    )
