"""Sites as compliance knows them: every site is listed, labelled as compliance says, and every
regulated site has the safeguards that keep its data at home."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.rules import ACTIVATION, SECRET, TASK_DEFINITION
from hybrid_policies.rules.keys import stack_key
from hybrid_policies.rules.residency import external_only, pinned_sites
from hybrid_policies.views import StackResource, StackViolation


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def sites_known_to_compliance(ev: Evaluation) -> Iterator[StackViolation]:
    """Compliance's config lists every site, and the program's labels agree with it."""
    config = ev.config
    for site in ev.built_sites:
        if config.site(site) is None:
            yield StackViolation(
                f"site {site} is built by the program but compliance's policy config "
                f"({config.source}) does not list it: compliance adds it to `sites` with its "
                "residency and allowed regions before it can be deployed",
                ev.site_urn(site),
                site,
            )
    tag = config.residency
    mislabelled: dict[str, list[str]] = defaultdict(list)
    for resource in ev.resources:
        value = resource.tags.get(tag.key)
        entry = config.site(ev.declared_site(resource))
        if entry is None or value is None:
            continue
        expected = tag.regulated if entry.regulated else tag.standard
        if value != expected:
            mislabelled[entry.name].append(f"{resource.name} ({tag.key}={value})")
    for name, names in sorted(mislabelled.items()):
        known_site = config.site(name)
        assert known_site is not None
        yield StackViolation(
            f"site {name} is {known_site.residency} in compliance's policy config, but the "
            f"program labels {len(names)} of its resources otherwise: {_some(names)}",
            ev.site_urn(name),
            name,
        )


def _cmk_secret(ev: Evaluation, secret: StackResource) -> bool:
    key = stack_key(ev, secret, "kmsKeyId")
    return isinstance(key, StackResource)


def regulated_sites_complete(ev: Evaluation) -> Iterator[StackViolation]:
    """Each regulated site has everything that keeps its data at home."""
    declared: dict[tuple[str, str], list[StackResource]] = defaultdict(list)
    for resource_type in (ACTIVATION, SECRET, TASK_DEFINITION):
        for r in ev.of_type(resource_type):
            site = ev.declared_site(r)
            if site:
                declared[(resource_type, site)].append(r)
    for site in ev.regulated_sites:
        missing = []
        if not declared[(ACTIVATION, site)]:
            missing.append("an ECS Anywhere activation")
        if not ev.own_clusters(site):
            missing.append("a cluster of its own")
        if not any(
            external_only(td.get("requiresCompatibilities"))
            and pinned_sites(td.get("placementConstraints")) == [site]
            for td in declared[(TASK_DEFINITION, site)]
        ):
            missing.append(f"a task definition requiring EXTERNAL pinned to site={site}")
        if not any(_cmk_secret(ev, s) for s in declared[(SECRET, site)]):
            missing.append("a DB secret encrypted with a customer-managed key of this stack")
        if missing:
            yield StackViolation(
                f"regulated site {site} lacks " + ", ".join(missing), ev.site_urn(site), site
            )
