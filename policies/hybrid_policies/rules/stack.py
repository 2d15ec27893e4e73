"""Residency rules that need the whole stack: isolation, completeness, the manifest."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import (
    ACTIVATION,
    CLUSTER_CAPACITY_PROVIDERS,
    SECRET,
    SERVICE,
)
from hybrid_policies.rules.residency import is_customer_managed_key, pinned_site
from hybrid_policies.rules.stack_index import StackIndex, as_list
from hybrid_policies.views import StackResource, StackViolation


def regulated_sites_isolated(
    resources: Sequence[StackResource], ctx: RuleContext
) -> Iterator[StackViolation]:
    """Own cluster per regulated site, and the orchestrator may run its tasks only there."""
    index = StackIndex.of(resources, ctx)
    for site in index.regulated_sites:
        clusters = index.own_clusters(site)
        component = index.site_component(site)
        if not clusters:
            yield StackViolation(
                f"regulated site {site} has no ECS cluster of its own (no cluster tagged "
                f"site={site}): its hosts would share a cluster with other sites",
                component.urn if component else None,
                site,
            )
            continue
        own_arns = {str(c.get("arn")) for c in clusters}
        for task_definition in index.task_definitions_of(site):
            for grant in index.grants_for(task_definition):
                where = f"{grant.policy.name} statement {grant.sid}"
                family = task_definition.get("family")
                if grant.clusters is None:
                    yield StackViolation(
                        f"{where} lets its role run {site}'s task definition {family} on any "
                        f"cluster: add Condition ArnEquals ecs:cluster = {sorted(own_arns)[0]}",
                        grant.policy.urn,
                        site,
                    )
                elif not grant.clusters <= own_arns:
                    yield StackViolation(
                        f"{where} lets its role run {site}'s task definition {family} on "
                        f"clusters {sorted(grant.clusters - own_arns)} besides the site's own",
                        grant.policy.urn,
                        site,
                    )
        for grant in index.run_task_grants:
            if not (grant.clusters and grant.clusters & own_arns):
                continue
            for other in grant.covers:
                if other.tags.get("site") != site:
                    yield StackViolation(
                        f"{grant.policy.name} statement {grant.sid} lets "
                        f"{other.tags.get('site') or other.name}'s tasks run on regulated site "
                        f"{site}'s cluster",
                        grant.policy.urn,
                        site,
                    )


def regulated_services_external_only(
    resources: Sequence[StackResource], ctx: RuleContext
) -> Iterator[StackViolation]:
    """No service or capacity provider may put a regulated site's tasks on cloud capacity."""
    index = StackIndex.of(resources, ctx)
    regulated = set(index.regulated_sites)
    clusters = {
        value: site
        for site in regulated
        for cluster in index.own_clusters(site)
        for value in (str(cluster.get("arn")), str(cluster.get("name")))
    }
    families = {
        str(td.get("family")): site for site in regulated for td in index.task_definitions_of(site)
    }
    for service in index.of_type(SERVICE):
        task_definition = str(service.get("taskDefinition", default=""))
        family = task_definition.rsplit("/", 1)[-1].split(":", 1)[0]
        site = (
            (service.tags.get("site") if ctx.is_regulated(service.tags) else None)
            or clusters.get(str(service.get("cluster", default="")))
            or families.get(family)
        )
        if site is None:
            continue
        strategies = as_list(service.get("capacityProviderStrategies"))
        if strategies:
            providers = sorted(str(s.get("capacityProvider")) for s in strategies)
            yield StackViolation(
                f"service {service.name} runs regulated site {site}'s tasks with capacity "
                f"providers {providers}: ECS Anywhere has none; use launchType EXTERNAL",
                service.urn,
                site,
            )
        elif service.get("launchType") != "EXTERNAL":
            yield StackViolation(
                f"service {service.name} runs regulated site {site}'s tasks with launch type "
                f"{service.get('launchType') or 'EC2 (the default)'}: use launchType EXTERNAL",
                service.urn,
                site,
            )
    for attachment in index.of_type(CLUSTER_CAPACITY_PROVIDERS):
        site = clusters.get(str(attachment.get("clusterName", default="")))
        names = as_list(attachment.get("capacityProviders"))
        if site is not None and names:
            yield StackViolation(
                f"cluster of regulated site {site} has capacity providers {sorted(names)}: "
                "tasks could be placed on cloud capacity; remove them",
                attachment.urn,
                site,
            )


def regulated_sites_complete(
    resources: Sequence[StackResource], ctx: RuleContext
) -> Iterator[StackViolation]:
    """Each regulated site has everything that keeps its data at home."""
    index = StackIndex.of(resources, ctx)
    for site in index.regulated_sites:
        missing = []
        if not index.of_site(ACTIVATION, site):
            missing.append("an ECS Anywhere activation")
        if not index.own_clusters(site):
            missing.append("a cluster of its own")
        if not any(
            as_list(td.get("requiresCompatibilities")) == ["EXTERNAL"]
            and pinned_site(td.get("placementConstraints")) == [site]
            for td in index.task_definitions_of(site)
        ):
            missing.append(f"a task definition requiring EXTERNAL pinned to site={site}")
        if not any(
            is_customer_managed_key(secret.get("kmsKeyId"))
            for secret in index.of_site(SECRET, site)
        ):
            missing.append("a DB secret encrypted with a customer-managed key")
        if missing:
            component = index.site_component(site)
            yield StackViolation(
                f"regulated site {site} lacks " + ", ".join(missing),
                component.urn if component else None,
                site,
            )


def manifest_routes_regulated_external(
    resources: Sequence[StackResource], ctx: RuleContext
) -> Iterator[StackViolation]:
    """The DAGs do what the manifest says: it must send regulated sites only to EXTERNAL."""
    index = StackIndex.of(resources, ctx)
    found = index.manifest
    if found is None:
        yield StackViolation("the stack publishes no sites manifest (sites-manifest.json)")
        return
    manifest_object, manifest = found
    if not manifest:
        yield StackViolation("the sites manifest is not valid JSON", manifest_object.urn)
        return
    entries = {str(s.get("name")): s for s in as_list(manifest.get("sites")) if isinstance(s, dict)}
    regulated_value = ctx.config.residency.regulated
    shared_cluster = manifest.get("cluster")
    for site in index.regulated_sites:
        entry = entries.get(site)
        problems = []
        if entry is None:
            problems.append("is missing")
        else:
            if entry.get("residency") != regulated_value:
                problems.append(f"calls it {entry.get('residency')!r}")
            if entry.get("launchType") != "EXTERNAL":
                problems.append(f"routes it to {entry.get('launchType')}")
            if entry.get("networkConfiguration") is not None:
                problems.append("sends an awsvpc network configuration")
            if pinned_site(entry.get("placementConstraints")) != [site]:
                problems.append(f"does not pin it with memberOf attribute:site == {site}")
            own = {str(c.get("name")) for c in index.own_clusters(site)}
            cluster = entry.get("cluster")
            if cluster == shared_cluster or (own and cluster not in own):
                problems.append(f"sends it to cluster {cluster}, not its own")
        if problems:
            yield StackViolation(
                f"sites manifest entry for regulated site {site} " + "; ".join(problems),
                manifest_object.urn,
                site,
            )
