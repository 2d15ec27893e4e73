"""Serve the pack to the engine: compliance's levels locked, each request deserialised once.

**Levels.** The engine's `Configure` carries the levels of `--policy-pack-config` and of Pulumi
Cloud policy groups, and pulumi_policy applies them over the pack's own. A policy that
compliance's file makes mandatory must not become advisory or disabled that way, so the pack
refuses such a `Configure` with FAILED_PRECONDITION naming the policies, and the engine stops
with that message. Levels may be raised freely.

**One deserialisation per request.** pulumi_policy's servicer deserialises a request's
properties again for every policy (an AnalyzeStack: the whole stack once per stack policy), which
alone costs more than the policies and grows with their number. `PackServicer` runs `Analyze`
and `AnalyzeStack` with the same steps and the same diagnostics, but deserialises each request
once and hands every policy the same (read-only) arguments; the pack's policies never mutate
them. Everything else (GetAnalyzerInfo, Remediate, levels, per-policy config, the diagnostics'
text) is pulumi_policy's own servicer, built exactly as `PolicyPack.__init__` builds it; tests
pin that against pulumi_policy's source.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from concurrent import futures
from inspect import isawaitable
from types import MappingProxyType
from typing import Any

import grpc
from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import (
    _GRPC_CHANNEL_OPTIONS,
    _NotApplicableError,
    _PolicyAnalyzerServicer,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

PACK_NAME = "hybrid-residency"
PACK_VERSION = "0.0.1"  # PulumiPolicy.yaml has none; the CLI uses this one then
_RANK = {"disabled": 0, "advisory": 1, "mandatory": 2, "remediate": 2}
_PROTO_LEVELS = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}
_FORWARDED = ("GetAnalyzerInfo", "GetPluginInfo", "Remediate", "Handshake", "Cancel")


def lowered_levels(request: Any, compliance: Mapping[str, str]) -> list[str]:
    """`policy (engine level)` for each mandatory policy the request would lower."""
    lowered = []
    for name in sorted(request.policyConfig):
        wanted = _PROTO_LEVELS.get(int(request.policyConfig[name].enforcementLevel), "advisory")
        if compliance.get(name) == "mandatory" and _RANK[wanted] < _RANK["mandatory"]:
            lowered.append(f"{name} ({wanted})")
    return lowered


def _props(struct: Any) -> Any:
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


class PackServicer(analyzer_pb2_grpc.AnalyzerServicer):
    """pulumi_policy's analyzer servicer with locked levels and one deserialisation a request."""

    def __init__(
        self,
        servicer: _PolicyAnalyzerServicer,
        policies: list[Policy],
        compliance: Mapping[str, str],
        source: str,
        on_configure: Callable[[], None] | None = None,
    ) -> None:
        self._servicer = servicer
        self._policies = policies
        self._compliance = dict(compliance)
        self._source = source
        self._on_configure = on_configure
        self._stack_tags: Mapping[str, str] = MappingProxyType({})
        for name in _FORWARDED:
            setattr(self, name, getattr(servicer, name))

    # --- configuration ---------------------------------------------------------------------

    def Configure(self, request: Any, context: Any) -> Any:
        lowered = lowered_levels(request, self._compliance)
        if lowered:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{PACK_NAME}: the engine's policy config lowers policies that compliance's "
                f"policy config ({self._source}) makes mandatory: {', '.join(lowered)}. Remove "
                "them from --policy-pack-config / the Pulumi Cloud policy group, or have "
                "compliance change their level in its file.",
            )
        if self._on_configure is not None:
            self._on_configure()
        return self._servicer.Configure(request, context)

    def ConfigureStack(self, request: Any, context: Any) -> Any:
        self._stack_tags = MappingProxyType(dict(request.tags))
        return self._servicer.ConfigureStack(request, context)

    # --- analysis --------------------------------------------------------------------------

    def _level(self, policy: Policy) -> EnforcementLevel:
        level = self._servicer._get_enforcement_level(policy)
        return EnforcementLevel.MANDATORY if level == EnforcementLevel.REMEDIATE else level

    def _run(
        self,
        policy: ResourceValidationPolicy | StackValidationPolicy,
        args: Any,
        level: EnforcementLevel,
        response: Any,
    ) -> None:
        """pulumi_policy's steps for one policy: report at its level, unknown -> advisory note."""
        s = self._servicer
        report = s._create_report_violation(
            response, policy.name, policy.description, level, policy.severity
        )
        try:
            result = policy.validate(args, report)
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(result)
                finally:
                    loop.close()
        except UnknownValueError as error:
            response.diagnostics.append(
                proto.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=PACK_NAME,
                    policyPackVersion=PACK_VERSION,
                    message=(
                        f"can't run policy '{policy.name}' from policy pack "
                        f"'{PACK_NAME}@v{PACK_VERSION}' during preview: {error.message}"
                    ),
                    urn="",
                    description=policy.description,
                    enforcementLevel=s._map_enforcement_level(EnforcementLevel.ADVISORY),
                )
            )
        except _NotApplicableError as error:
            response.not_applicable.append(
                proto.PolicyNotApplicable(policy_name=policy.name, reason=error.reason or "")
            )

    def Analyze(self, request: Any, _context: Any) -> Any:
        s = self._servicer
        s._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        props = _props(request.properties)
        opts = s._get_resource_options(request)
        provider = s._get_provider_resource(request)
        for policy in self._policies:
            level = s._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED or not isinstance(
                policy, ResourceValidationPolicy
            ):
                continue
            if not policy.has_validation():
                response.not_applicable.append(
                    proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"
                    )
                )
                continue
            args = ResourceValidationArgs(
                request.type,
                props,
                request.urn,
                request.name,
                opts,
                provider,
                s._get_policy_config(policy.name),
                self._stack_tags,
            )
            self._run(policy, args, self._level(policy), response)
        return response

    def AnalyzeStack(self, request: Any, _context: Any) -> Any:
        s = self._servicer
        s._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        stack_policies = [
            p
            for p in self._policies
            if isinstance(p, StackValidationPolicy)
            and s._get_enforcement_level(p) != EnforcementLevel.DISABLED
        ]
        if not stack_policies:
            return response
        resources = self._stack_resources(request)
        for policy in stack_policies:
            args = StackValidationArgs(
                resources, s._get_policy_config(policy.name), self._stack_tags
            )
            self._run(policy, args, self._level(policy), response)
        return response

    def _stack_resources(self, request: Any) -> list[PolicyResource]:
        """The request's resources with parents and dependencies linked, as pulumi_policy does."""
        s = self._servicer
        by_urn: dict[str, PolicyResource] = {}
        links = []
        for r in request.resources:
            resource = PolicyResource(
                r.type,
                _props(r.properties),
                r.urn,
                r.name,
                s._get_resource_options(r),
                s._get_provider_resource(r),
                None,
                [],
                {},
            )
            by_urn[r.urn] = resource
            links.append((resource, r))
        for resource, r in links:
            if r.parent in by_urn:
                resource.parent = by_urn[r.parent]
            resource.dependencies.extend(by_urn[d] for d in r.dependencies if d in by_urn)
            for key, deps in r.propertyDependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in deps.urns if d in by_urn]
        return [resource for resource, _ in links]


def build_servicer(
    name: str,
    description: str,
    policies: list[Policy],
    compliance: Mapping[str, str],
    source: str,
    on_configure: Callable[[], None] | None = None,
) -> PackServicer:
    servicer = _PolicyAnalyzerServicer(
        name,
        PACK_VERSION,
        policies,
        EnforcementLevel.ADVISORY,
        None,
        description,
        None,
        None,
        None,
        None,
        None,
    )
    return PackServicer(servicer, policies, compliance, source, on_configure)


def serve(servicer: PackServicer) -> None:
    """Serve until the engine is done, as PolicyPack does (the port on stdout)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, server)
    port = server.add_insecure_port(address="127.0.0.1:0")
    server.start()
    sys.stdout.buffer.write(f"{port}\n".encode())
    sys.stdout.flush()
    server.wait_for_termination()
