"""Residency rules on single resources: regulated data stays on its site's own hosts and in its
regions. They run before each resource is created, so they block `pulumi up` in time.

A resource is a regulated site's when its `site` tag or its Site parent names a site that
compliance's config calls regulated, or when it is tagged regulated itself. Everything they read
is written by the program, so they decide during preview too; an unknown value raises and the
adapter turns that into a mandatory "cannot verify" violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import AWS_PROVIDER, SECRET, TASK_DEFINITION
from hybrid_policies.rules.keys import is_aws_managed_key
from hybrid_policies.views import GLOBAL_TYPE_PREFIXES, ResourceView, as_list, known

MEMBER_OF_SITE = re.compile(r"^\s*attribute:site\s*==\s*([A-Za-z0-9_.-]+)\s*$")


def label(resource: ResourceView) -> str:
    site = resource.site
    return f"{resource.name} (site {site})" if site else resource.name


def regulated(resource: ResourceView, ctx: RuleContext) -> bool:
    known(resource.get("tags", default={}))  # unknown tags: cannot tell, fail closed
    return ctx.is_regulated(resource.tags, resource.site)


def pinned_sites(constraints: Any) -> list[str]:
    """Sites a task's memberOf placement constraints pin it to."""
    sites = []
    for constraint in as_list(constraints):
        if not isinstance(constraint, dict) or constraint.get("type") != "memberOf":
            continue
        match = MEMBER_OF_SITE.match(str(constraint.get("expression", "")))
        if match:
            sites.append(match.group(1))
    return sites


def external_only(compatibilities: Any) -> bool:
    return as_list(compatibilities) == ["EXTERNAL"]


def regulated_tasks_external_only(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != TASK_DEFINITION or not regulated(resource, ctx):
        return
    compatibilities = known(resource.get("requiresCompatibilities", default=[]))
    if not external_only(compatibilities):
        yield (
            f"task definition {label(resource)} is regulated but requires "
            f"{compatibilities or 'no launch type'}: requiresCompatibilities must be exactly "
            '["EXTERNAL"], so that its data is processed only on the site\'s own hosts'
        )


def regulated_tasks_pinned_to_site(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != TASK_DEFINITION or not regulated(resource, ctx):
        return
    site = resource.site
    if not site:
        yield f"task definition {resource.name} is regulated but carries no site tag"
        return
    pinned = pinned_sites(known(resource.get("placementConstraints", default=[])))
    if site not in pinned or any(p != site for p in pinned):
        found = ", ".join(pinned) or "none"
        yield (
            f"task definition {label(resource)} is not pinned to its site's hosts "
            f"(memberOf constraints on: {found}): add placement constraint memberOf "
            f"'attribute:site == {site}'"
        )


def _region(resource: ResourceView) -> Any:
    own = resource.get("region")
    return own if own is not None else resource.provider_region


def resources_in_allowed_regions(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if not resource.type.startswith(("aws:", AWS_PROVIDER)):
        return  # components, and providers of other clouds
    if resource.type.startswith(GLOBAL_TYPE_PREFIXES):
        return
    site = resource.site
    allowed = ctx.config.regions_for(site)
    whose = f"site {site}'s allowedRegions" if ctx.config.site(site) else "allowedRegions"
    region = known(_region(resource))
    if region is None:
        yield (
            f"{resource.type} {resource.name}: its region cannot be determined; set the "
            "provider's region or the resource's region argument"
        )
    elif region not in allowed:
        yield f"{resource.type} {label(resource)} is in {region}, outside {whose} {list(allowed)}"
    if resource.type == SECRET:
        for replica in as_list(known(resource.get("replicas", default=[]))):
            replica_region = replica.get("region") if isinstance(replica, dict) else None
            if replica_region not in allowed:
                yield (
                    f"secret {label(resource)} is replicated to {replica_region}, outside "
                    f"{whose} {list(allowed)}"
                )


def regulated_secrets_cmk(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != SECRET or not regulated(resource, ctx):
        return
    key = resource.get("kmsKeyId")
    if key is None or key == "" or is_aws_managed_key(key):
        shown = f" ({key})" if key else ""
        yield (
            f"secret {label(resource)} is regulated but encrypted with the AWS managed "
            f"key{shown}: set kmsKeyId to the site's customer-managed KMS key"
        )
    # An unknown kmsKeyId (preview) comes from a resource of the stack; regulated-sites-complete
    # checks, through the engine's dependency, that it is one of the stack's own KMS keys.
