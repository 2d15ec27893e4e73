"""The sites manifest the DAGs read decides where each site's tasks run: every object named like
it is checked (a decoy must not hide the real one), against compliance's config and the stack.

The manifest (v2) is fully known at preview; an unknown manifest (v1 carries the secret ARN and
subnet ids) fails closed. `sites-network.json` holds provider-computed subnet and security group
ids, so it is unknown at a first preview by design: it may be unknown as long as its content is
built only from network resources, and once known it must name no regulated site.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.rules import BUCKET_OBJECT, BUCKET_OBJECT_V1, TASK_DEFINITION
from hybrid_policies.rules.residency import pinned_sites
from hybrid_policies.views import StackResource, StackViolation, Unknown, as_list

NETWORK_TYPES = ("aws:ec2/",)


def _site_region(ev: Evaluation, site: str) -> Any:
    """Where the site's resources are: the region of its declared task definition."""
    for artefact in ev.artefacts_of(site, TASK_DEFINITION):
        region = artefact.resource.region
        if isinstance(region, str):
            return region
    return None


def _entry_problems(ev: Evaluation, site: str, entry: dict[str, Any], shared: Any) -> list[str]:
    problems = []
    config_entry = ev.config.site(site)
    residency = entry.get("residency")
    if config_entry is not None and residency != config_entry.residency:
        problems.append(f"calls it {residency!r}, compliance's config {config_entry.residency!r}")
    region = entry.get("region")
    allowed = ev.config.regions_for(site)
    if region not in allowed:
        problems.append(f"puts it in {region}, outside its allowedRegions {list(allowed)}")
    actual = _site_region(ev, site)
    if actual is not None and region != actual:
        problems.append(f"puts it in {region}, but its resources are in {actual}")
    if site not in ev.regulated_sites:
        return problems
    if entry.get("launchType") != "EXTERNAL":
        problems.append(f"routes it to {entry.get('launchType')}")
    if entry.get("networkConfiguration") is not None:
        problems.append("sends an awsvpc network configuration")
    if pinned_sites(entry.get("placementConstraints")) != [site]:
        problems.append(f"does not pin it with memberOf attribute:site == {site}")
    own = {name for c in ev.own_clusters(site) if isinstance(name := c.get("name"), str)}
    cluster = entry.get("cluster")
    if cluster == shared or (own and cluster not in own):
        problems.append(f"sends it to cluster {cluster}, not its own")
    return problems


def _check_manifest(
    ev: Evaluation, obj: StackResource, manifest: Any, listed: set[str]
) -> Iterator[StackViolation]:
    if isinstance(manifest, Unknown):
        yield StackViolation(
            f"cannot verify the sites manifest {obj.name} before creation ({manifest}): the "
            "manifest must be built from values the program writes (manifest v2); residency "
            "fails closed",
            obj.urn,
        )
        return
    if not isinstance(manifest, dict):
        yield StackViolation(
            f"the sites manifest {obj.name} cannot be read as JSON (inline content is required)",
            obj.urn,
        )
        return
    shared = manifest.get("cluster")
    for entry in as_list(manifest.get("sites")):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        site = entry["name"]
        listed.add(site)
        problems = _entry_problems(ev, site, entry, shared)
        if problems:
            kind = "regulated site" if site in ev.regulated_sites else "site"
            yield StackViolation(
                f"sites manifest {obj.name}: the entry for {kind} {site} " + "; ".join(problems),
                obj.urn,
                site,
            )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_network(ev: Evaluation, obj: StackResource, content: Any) -> Iterator[StackViolation]:
    if isinstance(content, Unknown):
        sources = [ev.by_urn.get(u) for u in obj.depends_on("content")]
        if sources and all(s is not None and s.type.startswith(NETWORK_TYPES) for s in sources):
            return
        yield StackViolation(
            f"cannot verify {obj.name} names no regulated site: its content is unknown before "
            "creation and is built from more than network resources",
            obj.urn,
        )
        return
    named = sorted(set(_strings(content)) & set(ev.regulated_sites))
    if named:
        yield StackViolation(
            f"{obj.name} names regulated site(s) {', '.join(named)}: the network file is for "
            "FARGATE sites only, a regulated site never gets an awsvpc configuration",
            obj.urn,
            named[0] if len(named) == 1 else None,
        )


def manifest_routes_regulated_external(ev: Evaluation) -> Iterator[StackViolation]:
    """The DAGs do what the manifest says: it must send regulated sites only to EXTERNAL."""
    regulated = ev.regulated_sites
    if regulated:
        for obj in ev.of_type(BUCKET_OBJECT, BUCKET_OBJECT_V1):
            key = obj.get("key")
            if isinstance(key, Unknown):
                yield StackViolation(
                    f"cannot verify that bucket object {obj.name} is not a sites manifest: its "
                    "key is unknown before creation",
                    obj.urn,
                )
    if not ev.manifests:
        yield StackViolation("the stack publishes no sites manifest (sites-manifest.json)")
        return
    listed: set[str] = set()
    for obj, manifest in ev.manifests:
        yield from _check_manifest(ev, obj, manifest, listed)
    if all(isinstance(m, dict) for _, m in ev.manifests):
        for site in regulated:
            if site not in listed:
                yield StackViolation(
                    f"no sites manifest has an entry for regulated site {site}",
                    ev.manifests[0][0].urn,
                    site,
                )
    for obj, content in ev.network_objects:
        yield from _check_network(ev, obj, content)
