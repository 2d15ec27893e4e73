"""Residency rules on single resources: regulated data stays on its site's own hosts.

Each rule takes a ResourceView and the RuleContext and yields one message per problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import AWS_PROVIDER, MWAA, SECRET, TASK_DEFINITION
from hybrid_policies.views import GLOBAL_TYPE_PREFIXES, ResourceView, json_document

MEMBER_OF_SITE = re.compile(r"^\s*attribute:site\s*==\s*([A-Za-z0-9_.-]+)\s*$")
CREDENTIAL_NAME = re.compile(
    r"(PASS(WORD|WD)?|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)", re.IGNORECASE
)
# A secret's *identifier* is fine in the environment; the task reads the value at run time.
REFERENCE_NAME = re.compile(r"_(ID|ARN|NAME)$", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def _label(resource: ResourceView) -> str:
    site = resource.site
    return f"{resource.name} (site {site})" if site else resource.name


def pinned_site(constraints: Any) -> list[str]:
    """Sites a task's memberOf placement constraints pin it to."""
    sites = []
    for constraint in constraints or []:
        if not isinstance(constraint, dict) or constraint.get("type") != "memberOf":
            continue
        match = MEMBER_OF_SITE.match(str(constraint.get("expression", "")))
        if match:
            sites.append(match.group(1))
    return sites


def is_customer_managed_key(key: Any) -> bool:
    """A secret's kmsKeyId names a CMK: absent or an `alias/aws/...` key is AWS managed."""
    return bool(key) and not str(key).startswith("alias/aws/")


def regulated_tasks_external_only(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != TASK_DEFINITION or not ctx.is_regulated(resource.tags):
        return
    compatibilities = resource.get("requiresCompatibilities", default=[])
    if compatibilities != ["EXTERNAL"]:
        yield (
            f"task definition {_label(resource)} is regulated but requires "
            f"{compatibilities or 'no launch type'}: requiresCompatibilities must be exactly "
            '["EXTERNAL"], so that its data is processed only on the site\'s own hosts'
        )


def regulated_tasks_pinned_to_site(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != TASK_DEFINITION or not ctx.is_regulated(resource.tags):
        return
    site = resource.site
    if not site:
        yield f"task definition {resource.name} is regulated but carries no site tag"
        return
    pinned = pinned_site(resource.get("placementConstraints", default=[]))
    if site not in pinned or any(p != site for p in pinned):
        found = ", ".join(pinned) or "none"
        yield (
            f"task definition {_label(resource)} is not pinned to its site's hosts "
            f"(memberOf constraints on: {found}): add placement constraint memberOf "
            f"'attribute:site == {site}'"
        )


def resources_in_allowed_regions(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if not resource.type.startswith(("aws:", AWS_PROVIDER)):
        return  # components, and providers of other clouds
    if resource.type.startswith(GLOBAL_TYPE_PREFIXES):
        return
    allowed = ctx.config.allowed_regions
    region = resource.get("region") or resource.provider_region
    if region is None:
        yield (
            f"{resource.type} {resource.name}: its region cannot be determined; set the "
            "provider's region or the resource's region argument"
        )
    elif region not in allowed:
        yield (
            f"{resource.type} {_label(resource)} is in {region}, outside allowedRegions "
            f"{list(allowed)}"
        )
    if resource.type == SECRET:
        for replica in resource.get("replicas", default=[]) or []:
            replica_region = replica.get("region") if isinstance(replica, dict) else None
            if replica_region not in allowed:
                yield (
                    f"secret {_label(resource)} is replicated to {replica_region}, outside "
                    f"allowedRegions {list(allowed)}"
                )


def regulated_secrets_cmk(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != SECRET or not ctx.is_regulated(resource.tags):
        return
    if not is_customer_managed_key(resource.get("kmsKeyId")):
        yield (
            f"secret {_label(resource)} is regulated but encrypted with the AWS managed key: "
            "set kmsKeyId to the site's customer-managed KMS key"
        )


def _suspicious(name: str, value: Any) -> bool:
    text = "" if value is None else str(value)
    if URL_WITH_PASSWORD.search(text):
        return True
    if not CREDENTIAL_NAME.search(name):
        return False
    return not (REFERENCE_NAME.search(name) and (text.startswith("arn:") or " " not in text))


def no_plaintext_credentials(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == TASK_DEFINITION:
        containers = json_document(resource.get("containerDefinitions")) or []
        for container in containers if isinstance(containers, list) else []:
            for variable in container.get("environment") or []:
                name = str(variable.get("name", ""))
                if _suspicious(name, variable.get("value")):
                    yield (
                        f"task definition {_label(resource)}: container "
                        f"{container.get('name')} sets {name} in plain text; pass credentials "
                        "through the site's Secrets Manager secret (container `secrets` or "
                        "ETL_SECRET_ID), never as environment values"
                    )
    elif resource.type == MWAA:
        options = resource.get("airflowConfigurationOptions", default={}) or {}
        for name, value in options.items():
            if _suspicious(str(name).replace(".", "_"), value):
                yield (
                    f"MWAA environment {resource.name}: Airflow option {name} holds a credential "
                    "in plain text; use the Secrets Manager backend instead"
                )
