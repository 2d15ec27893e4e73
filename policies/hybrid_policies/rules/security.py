"""Security baseline on single resources: IAM, activations, registry, logs, MWAA."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import (
    ACTIVATION,
    LOG_GROUP,
    MANAGED_POLICY,
    MWAA,
    REPOSITORY,
    ROLE,
    ROLE_POLICY,
)
from hybrid_policies.views import ResourceView, json_document

# Verbs that read; anything else is treated as a write (deny by default).
READ_VERBS = ("Get", "List", "Describe", "BatchGet", "Head", "Discover", "Lookup", "Search")
# Actions with no resource-level permissions: allowed on "*" only under a condition.
NO_RESOURCE_LEVEL_WITH_CONDITION = frozenset({"cloudwatch:PutMetricData"})
ACTIVATION_SLACK = dt.timedelta(hours=1)  # the program computes "now + N days" a moment earlier


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def is_write(action: str) -> bool:
    _, _, verb = action.partition(":")
    return not verb.startswith(READ_VERBS)


def policy_documents(resource: ResourceView) -> list[tuple[str, Any]]:
    """(label, parsed document) of every permissions policy a resource carries."""
    if resource.type in (ROLE_POLICY, MANAGED_POLICY):
        return [(resource.name, json_document(resource.get("policy")))]
    if resource.type == ROLE:
        return [
            (f"{resource.name} inline policy {p.get('name')}", json_document(p.get("policy")))
            for p in resource.get("inlinePolicies", default=[]) or []
            if isinstance(p, dict)
        ]
    return []


def statement_problems(statement: dict[str, Any]) -> Iterator[str]:
    """Why one Allow statement is too broad, if it is."""
    sid = statement.get("Sid") or "(no Sid)"
    if "NotAction" in statement:
        yield f"statement {sid} allows everything but a list (NotAction)"
        return
    if "NotResource" in statement:
        yield f"statement {sid} allows everything but a list of resources (NotResource)"
        return
    actions = [str(a) for a in _as_list(statement.get("Action"))]
    resources = [str(r) for r in _as_list(statement.get("Resource"))]
    for action in actions:
        if action == "*" or action.endswith(":*"):
            yield f"statement {sid} allows every action ({action})"
    if "*" in resources:
        for action in actions:
            if not is_write(action):
                continue
            if action in NO_RESOURCE_LEVEL_WITH_CONDITION and statement.get("Condition"):
                continue
            yield f"statement {sid} allows write action {action} on every resource (*)"
    if "iam:PassRole" in actions or "iam:*" in actions:
        broad = [r for r in resources if "*" in r]
        if broad:
            yield f"statement {sid} passes roles matching {broad}: name each role"


def iam_no_wildcards(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    for label, document in policy_documents(resource):
        if not isinstance(document, dict):
            yield f"{label}: the policy document is not valid JSON"
            continue
        for statement in _as_list(document.get("Statement")):
            if isinstance(statement, dict) and statement.get("Effect") == "Allow":
                for problem in statement_problems(statement):
                    yield f"{label}: {problem}"


def _parse_time(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def activation_expiry(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != ACTIVATION:
        return
    days = ctx.config.max_activation_days
    expiration = resource.get("expirationDate")
    if expiration is not None:
        expires = _parse_time(str(expiration))
        if expires is None:
            yield f"activation {resource.name}: expirationDate {expiration!r} is not RFC 3339"
        elif expires > ctx.now + dt.timedelta(days=days) + ACTIVATION_SLACK:
            lifetime = round((expires - ctx.now).total_seconds() / 86400)
            yield (
                f"activation {resource.name} (site {resource.site}) expires in {lifetime} days, "
                f"beyond maxActivationDays {days}: shorten activation.expiresInDays "
                "(AWS accepts at most 30)"
            )
    if resource.get("registrationLimit") is None:
        yield (
            f"activation {resource.name}: no registrationLimit; state how many hosts may "
            "register with it"
        )


def ecr_scan_on_push(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == REPOSITORY and not resource.get(
        "imageScanningConfiguration", "scanOnPush", default=False
    ):
        yield f"repository {resource.name} does not scan images on push"


def ecr_immutable_tags(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == REPOSITORY and not str(
        resource.get("imageTagMutability", default="MUTABLE")
    ).startswith("IMMUTABLE"):
        yield f"repository {resource.name} allows tags to be overwritten"


def log_retention(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == LOG_GROUP and not resource.get("retentionInDays"):
        yield f"log group {resource.name} keeps logs forever: set retentionInDays"


def mwaa_private_webserver(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == MWAA and resource.get("webserverAccessMode") == "PUBLIC_ONLY":
        yield (
            f"MWAA environment {resource.name} serves the Airflow UI on the internet: set "
            "webserverAccessMode PRIVATE_ONLY"
        )
