"""Feed captured resources to pulumi_policy policies exactly as the Pulumi engine does.

Mirrors pulumi_policy's analyzer server (`_PolicyAnalyzerServicer.Analyze/AnalyzeStack`):
props are `unknown_checking_proxy(deserialize_properties(...))`, resource policies see a
resource's inputs, stack policies see every resource's state with parents, dependencies and
property dependencies resolved to PolicyResource objects. Only the transport differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from hybridctl.capture import Capture, CapturedResource

AWS_PROVIDER_VERSION = "7_51_1"


@dataclass(frozen=True)
class Reported:
    """One `report_violation` call: what the engine would print for the policy."""

    policy: str
    message: str
    urn: str | None


@dataclass(frozen=True)
class NotRun:
    """A policy that could not run (an unknown value, as during preview)."""

    policy: str
    urn: str | None
    reason: str


def _props(struct: struct_pb2.Struct) -> Any:
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def _options(resource: CapturedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], resource.parent or None
    )


class PolicyInputs:
    """The policy-side view of one capture, built once and shared by every policy."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        provider_struct = struct_pb2.Struct()
        provider_struct.update({"region": capture.region, "version": "7.51.1"})
        name = f"default_{AWS_PROVIDER_VERSION}"
        urn = f"urn:pulumi:{capture.stack}::hybrid-airflow::pulumi:providers:aws::{name}"
        # Mocks register no default provider; the engine would pass this one (region from aws:region).
        self.provider = PolicyProviderResource(
            "pulumi:providers:aws", _props(provider_struct), urn, name
        )
        self.provider_state = PolicyResource(
            "pulumi:providers:aws",
            _props(provider_struct),
            urn,
            name,
            PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None),
            None,
            None,
            [],
            {},
        )
        self.resources = [r for r in capture.resources if r.type != "pulumi:pulumi:Stack"]

    def stack_args(self, config: Mapping[str, Any] | None) -> StackValidationArgs:
        return StackValidationArgs(self.stack_resources, dict(config) if config else None, {})

    @cached_property
    def stack_resources(self) -> list[PolicyResource]:
        """Every resource's state, with parents and dependencies resolved (built once)."""
        by_urn: dict[str, PolicyResource] = {self.provider_state.urn: self.provider_state}
        for r in self.resources:
            by_urn[r.urn] = PolicyResource(
                r.type,
                _props(r.outputs_struct if r.custom else r.inputs_struct),
                r.urn,
                r.name,
                _options(r),
                self.provider if r.custom else None,
                None,
                [],
                {},
            )
        for r in self.resources:
            policy_resource = by_urn[r.urn]
            policy_resource.parent = by_urn.get(r.parent)
            policy_resource.dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
            policy_resource.property_dependencies = {
                key: [by_urn[d] for d in deps if d in by_urn]
                for key, deps in r.property_dependencies.items()
            }
        return list(by_urn.values())


def _run(validate: Callable[..., Any], args: Any, report: Callable[..., None]) -> None:
    result = validate(args, report)
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def _level(policy: Policy) -> EnforcementLevel:
    return policy.enforcement_level or EnforcementLevel.ADVISORY


def run_policies(
    policies: Sequence[Policy],
    inputs: PolicyInputs,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[Reported], list[NotRun]]:
    """Everything the policies report on the capture, as `pulumi preview` would.

    Like the engine: every resource policy on every resource (disabled ones skipped), then the
    stack policies once. One difference, for speed: a resource's props are deserialised once and
    shared by the policies, where the engine repeats that per policy; our policies never mutate.
    """
    config = config or {}
    active = [p for p in policies if _level(p) != EnforcementLevel.DISABLED]
    resource_policies = [p for p in active if isinstance(p, ResourceValidationPolicy)]
    stack_policies = [p for p in active if isinstance(p, StackValidationPolicy)]
    reported: list[Reported] = []
    not_run: list[NotRun] = []

    def attempt(policy: Any, args: Any, default_urn: str | None) -> None:
        def report(message: str, urn: str | None = None) -> None:
            reported.append(Reported(policy.name, message, urn or default_urn))

        try:
            _run(policy.validate, args, report)
        except UnknownValueError as error:
            not_run.append(NotRun(policy.name, default_urn, error.message))

    for resource in inputs.resources:
        props = _props(resource.inputs_struct)
        options = _options(resource)
        provider = inputs.provider if resource.custom else None
        for policy in resource_policies:
            args = ResourceValidationArgs(
                resource.type,
                props,
                resource.urn,
                resource.name,
                options,
                provider,
                dict(config.get(policy.name) or {}) or None,
                {},
            )
            attempt(policy, args, resource.urn)
    if stack_policies:
        for stack_policy in stack_policies:
            attempt(stack_policy, inputs.stack_args(config.get(stack_policy.name)), None)
    return reported, not_run
