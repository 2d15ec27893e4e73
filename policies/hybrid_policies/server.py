"""Serve the pack to the engine, with compliance's enforcement levels locked.

The engine's `Configure` call carries the levels of `--policy-pack-config` and of Pulumi Cloud
policy groups, and pulumi_policy applies them over the pack's own. A residency policy that
compliance's file makes mandatory must not become advisory or disabled that way, so the pack
refuses such a `Configure` with FAILED_PRECONDITION, naming the policies, and the engine stops
with that message. Levels may be raised (advisory -> mandatory) freely.

`PolicyPack(...)` builds pulumi_policy's analyzer servicer and serves it in one call, with no
place to intercept `Configure`. `serve()` does what `PolicyPack.__init__` does (same servicer,
same gRPC options, port printed on stdout) with the servicer wrapped; tests pin that
pulumi_policy still builds its server that way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from concurrent import futures
from typing import Any

import grpc
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _GRPC_CHANNEL_OPTIONS, _PolicyAnalyzerServicer

PACK_VERSION = "0.0.1"  # PulumiPolicy.yaml has none; the CLI uses this one then
_RANK = {"disabled": 0, "advisory": 1, "mandatory": 2, "remediate": 2}
_PROTO_LEVELS = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}


def lowered_levels(request: Any, compliance: Mapping[str, str]) -> list[str]:
    """`policy: engine level < compliance level` for each mandatory policy the request lowers."""
    lowered = []
    for name in sorted(request.policyConfig):
        wanted = _PROTO_LEVELS.get(int(request.policyConfig[name].enforcementLevel), "advisory")
        required = compliance.get(name)
        if required == "mandatory" and _RANK[wanted] < _RANK[required]:
            lowered.append(f"{name} ({wanted})")
    return lowered


class LevelGuard(analyzer_pb2_grpc.AnalyzerServicer):
    """The analyzer servicer, except that a `Configure` lowering compliance's levels fails."""

    def __init__(
        self,
        servicer: Any,
        compliance: Mapping[str, str],
        source: str,
        on_configure: Callable[[], None] | None = None,
    ) -> None:
        self._servicer = servicer
        self._compliance = dict(compliance)
        self._source = source
        self._on_configure = on_configure
        for name in vars(analyzer_pb2_grpc.AnalyzerServicer):
            if not name.startswith("_") and name != "Configure":
                setattr(self, name, getattr(servicer, name))

    def Configure(self, request: Any, context: Any) -> Any:
        lowered = lowered_levels(request, self._compliance)
        if lowered:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "hybrid-residency: the engine's policy config lowers policies that compliance's "
                f"policy config ({self._source}) makes mandatory: {', '.join(lowered)}. Remove "
                "them from --policy-pack-config / the Pulumi Cloud policy group, or have "
                "compliance change their level in its file.",
            )
        if self._on_configure is not None:
            self._on_configure()
        return self._servicer.Configure(request, context)


def build_servicer(
    name: str,
    description: str,
    policies: list[Policy],
    compliance: Mapping[str, str],
    source: str,
    on_configure: Callable[[], None] | None = None,
) -> LevelGuard:
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
    return LevelGuard(servicer, compliance, source, on_configure)


def serve(servicer: LevelGuard) -> None:
    """Serve until the engine is done, exactly as PolicyPack does (port on stdout)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, server)
    port = server.add_insecure_port(address="127.0.0.1:0")
    server.start()
    sys.stdout.buffer.write(f"{port}\n".encode())
    sys.stdout.flush()
    server.wait_for_termination()
