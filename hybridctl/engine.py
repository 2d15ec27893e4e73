"""Feed captured resources to pulumi_policy policies exactly as the Pulumi engine does.

Mirrors pulumi_policy's analyzer server (`_PolicyAnalyzerServicer.Analyze/AnalyzeStack`):
props are `unknown_checking_proxy(deserialize_properties(...))`, resource policies see a
resource's inputs, stack policies see every resource's state with parents, dependencies and
property dependencies resolved to PolicyResource objects. Only the transport differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
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

    def resource_args(
        self, resource: CapturedResource, config: Mapping[str, Any] | None
    ) -> ResourceValidationArgs:
        provider = self.provider if resource.custom else None
        return ResourceValidationArgs(
            resource.type,
            _props(resource.inputs_struct),
            resource.urn,
            resource.name,
            _options(resource),
            provider,
            dict(config) if config else None,
            {},
        )

    def stack_args(self, config: Mapping[str, Any] | None) -> StackValidationArgs:
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
        return StackValidationArgs(list(by_urn.values()), dict(config) if config else None, {})


def _run(validate: Callable[..., Any], args: Any, report: Callable[..., None]) -> None:
    result = validate(args, report)
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def run_policy(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    inputs: PolicyInputs,
    config: Mapping[str, Any] | None,
) -> tuple[list[Reported], list[NotRun]]:
    """Everything one policy reports on the capture, in the engine's order."""
    reported: list[Reported] = []
    not_run: list[NotRun] = []
    if isinstance(policy, StackValidationPolicy):
        targets: list[tuple[Any, str | None]] = [(inputs.stack_args(config), None)]
    else:
        targets = [(inputs.resource_args(r, config), r.urn) for r in inputs.resources]
    for args, default_urn in targets:

        def report(
            message: str, urn: str | None = None, _default: str | None = default_urn
        ) -> None:
            reported.append(Reported(policy.name, message, urn or _default))

        try:
            _run(policy.validate, args, report)
        except UnknownValueError as error:
            not_run.append(NotRun(policy.name, default_urn, error.message))
    return reported, not_run
