"""Feed captured resources to pulumi_policy policies exactly as the Pulumi engine does.

Mirrors what `pulumi preview/up` sends (pulumi/pulumi `step_generator.go`) and what
pulumi_policy's analyzer server makes of it (`_PolicyAnalyzerServicer.Analyze/AnalyzeStack`):
- every registered resource goes through the resource policies with its inputs: the stack,
  components, custom resources and the default provider (`pulumi:providers:aws::default_...`);
- a custom resource's provider is its provider resource, with the provider's inputs;
- the stack policies see every resource's outputs (a component's are its registered outputs),
  with parents, dependencies and property dependencies resolved to PolicyResource objects;
- props are `unknown_checking_proxy(deserialize_properties(...))`.
Only the transport differs; tests/engine checks this against the pack served over gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from inspect import isawaitable
from typing import Any

import pulumi
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

from hybridctl.capture import PROJECT, Capture, CapturedResource


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
    options = resource.options
    return PolicyResourceOptions(
        options.protect,
        list(options.ignore_changes),
        options.delete_before_replace,
        [],
        PolicyCustomTimeouts(*options.custom_timeouts),
        list(options.additional_secret_outputs),
        resource.parent or None,
    )


class PolicyInputs:
    """The policy-side view of one capture, built once and shared by every policy."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.resources = list(capture.resources)
        by_urn = capture.by_urn()
        self._providers: dict[str, PolicyProviderResource] = {}
        for resource in self.resources:
            if resource.provider and resource.provider_urn not in self._providers:
                provider = by_urn[resource.provider_urn]
                self._providers[provider.urn] = PolicyProviderResource(
                    provider.type, _props(provider.inputs_struct), provider.urn, provider.name
                )

    def provider_of(self, resource: CapturedResource) -> PolicyProviderResource | None:
        return self._providers.get(resource.provider_urn) if resource.provider else None

    def stack_args(self, config: Mapping[str, Any] | None) -> StackValidationArgs:
        return StackValidationArgs(self.stack_resources, dict(config) if config else None, {})

    @cached_property
    def stack_resources(self) -> list[PolicyResource]:
        """Every resource's state, with parents and dependencies resolved (built once)."""
        by_urn: dict[str, PolicyResource] = {}
        for r in self.resources:
            by_urn[r.urn] = PolicyResource(
                r.type,
                _props(r.outputs_struct),
                r.urn,
                r.name,
                _options(r),
                self.provider_of(r),
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
                if deps
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


def as_the_pack_runs(capture: Capture) -> None:
    """The runtime of the pack's process: the engine starts it with the target stack's
    PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN and PULUMI_CONFIG, so `pulumi.get_stack()`
    and `pulumi.Config()` inside a policy read that stack."""
    pulumi.runtime.configure(
        pulumi.runtime.Settings(
            project=PROJECT,
            stack=capture.stack,
            dry_run=capture.mode == "preview",
            organization="organization",
        )
    )
    pulumi.runtime.set_all_config(dict(capture.config))


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
    A stack policy's report that names no resource of the stack is filed under the stack's URN,
    as the engine files it.
    """
    as_the_pack_runs(inputs.capture)
    config = config or {}
    active = [p for p in policies if _level(p) != EnforcementLevel.DISABLED]
    resource_policies = [p for p in active if isinstance(p, ResourceValidationPolicy)]
    stack_policies = [p for p in active if isinstance(p, StackValidationPolicy)]
    reported: list[Reported] = []
    not_run: list[NotRun] = []
    known = {r.urn for r in inputs.resources}
    root = inputs.capture.root_urn

    def attempt(policy: Any, args: Any, resource_urn: str | None) -> None:
        def report(message: str, urn: str | None = None) -> None:
            # Resource policies' reports are about their resource, whatever URN they name.
            target = resource_urn or (urn if urn in known else root)
            reported.append(Reported(policy.name, message, target))

        try:
            _run(policy.validate, args, report)
        except UnknownValueError as error:
            not_run.append(NotRun(policy.name, resource_urn or root, error.message))

    for resource in inputs.resources:
        props = _props(resource.inputs_struct)
        options = _options(resource)
        provider = inputs.provider_of(resource)
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
    for stack_policy in stack_policies:
        attempt(stack_policy, inputs.stack_args(config.get(stack_policy.name)), None)
    return reported, not_run
