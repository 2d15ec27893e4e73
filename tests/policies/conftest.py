"""Policy fixtures built the way the engine builds them: ResourceValidationArgs and
StackValidationArgs whose props go through pulumi_policy's deserialisation and proxy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from hybridctl.policy_pack import hybrid_policies as hp

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
STACK = "urn:pulumi:test::hybrid-airflow"
SITE_URN = f"{STACK}::hybrid:platform:Site::munich"
ALLOWED = ["eu-central-1", "eu-west-1"]


def config(**overrides: Any) -> hp.PolicyConfig:
    raw = {"allowedRegions": ALLOWED, "maxActivationDays": 14, **overrides}
    return hp.parse_config(raw, "test", hp.POLICY_NAMES)


def wrap(props: dict[str, Any]) -> Any:
    return unknown_checking_proxy(deserialize_properties(props))


def options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def provider(region: str = "eu-central-1") -> PolicyProviderResource:
    return PolicyProviderResource(
        "pulumi:providers:aws",
        wrap({"region": region}),
        f"{STACK}::pulumi:providers:aws::default",
        "default",
    )


def resource_args(
    resource_type: str,
    props: dict[str, Any],
    name: str = "r",
    *,
    region: str = "eu-central-1",
    parent: str | None = None,
) -> ResourceValidationArgs:
    urn = f"{STACK}::{resource_type}::{name}"
    return ResourceValidationArgs(
        resource_type, wrap(props), urn, name, options(parent), provider(region), None, {}
    )


def stack_resource(
    resource_type: str,
    props: dict[str, Any],
    name: str,
    *,
    parent: PolicyResource | None = None,
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        resource_type,
        wrap(props),
        f"{STACK}::{resource_type}::{name}",
        name,
        options(parent.urn if parent else None),
        provider(),
        parent,
        [],
        property_dependencies or {},
    )


def violations(
    policy: str,
    args: ResourceValidationArgs | StackValidationArgs,
    cfg: hp.PolicyConfig | None = None,
    now: dt.datetime = NOW,
) -> list[str]:
    """What the named policy reports, calling its validate as the engine does."""
    built = hp.build_policies(hp.RuleContext(cfg or config(), now))
    target = next(p for p in built if p.name == policy)
    reported: list[str] = []
    target.validate(args, lambda message, urn=None: reported.append(message))  # type: ignore[arg-type]
    return reported


def stack_args(resources: Iterable[PolicyResource]) -> StackValidationArgs:
    return StackValidationArgs(list(resources), None, {})


@pytest.fixture
def regulated_tags() -> dict[str, str]:
    return {"site": "munich", "residency": "regulated", "environment": "test"}
