"""The pack served over gRPC, driven as `pulumi preview` and `pulumi up` drive it, reports what
`hybridctl check` reports: the same policy, resource URN, site and level, on every example and
violating stack. Residency must decide during a first preview exactly as during `up`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime.proto import engine_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from hybridctl.capture import Capture
from hybridctl.engine import PolicyInputs, run_policies
from hybridctl.evaluate import evaluate
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import load
from tests.engine.agreement import check_findings, engine_findings, without
from tests.engine.conftest import BY_NAME, CASES, Case, Packs
from tests.engine.engine_host import EngineHost, EngineRun, analyze_request, stack_resource


def residency_policies(run: EngineRun) -> set[str]:
    """The policies the pack tags `residency` (its GetAnalyzerInfo, as the engine sees it)."""
    return {p.name for p in run.info.policies if "residency" in p.tags}


def ids(case: Case) -> str:
    return case.name


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_up_reports_what_check_reports(
    case: Case,
    engine_runs: Callable[..., EngineRun],
    captures: Callable[..., Capture],
    check_reports: Callable[[Case], dict[str, Any]],
) -> None:
    run = engine_runs(case, "up")
    assert run.not_run() == [], "with every value known, every policy must run"
    assert engine_findings(run.violations(), captures(case, "up")) == check_findings(
        check_reports(case)
    )


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_every_resource_goes_through_the_resource_policies(
    case: Case,
    engine_runs: Callable[..., EngineRun],
    captures: Callable[..., Capture],
    packs: Packs,
    engine_host: EngineHost,
) -> None:
    """The stack, the components and the default provider included, as the engine sends them;
    the pack logs no error (on stderr or through the engine's Log service)."""
    run = engine_runs(case, "up")
    pack = packs.get(load(case.stack_file), "up", case.pack_env())
    assert "Traceback" not in pack.stderr
    assert [log for log in engine_host.service.logs if log[0] >= engine_pb2.WARNING] == []
    captured = captures(case, "up")
    assert sorted(run.analyzed) == sorted(r.urn for r in captured.resources)
    assert run.stack_resources == len(captured.resources)
    assert any(urn.endswith("::pulumi:providers:aws::default_7_51_1") for urn in run.analyzed)
    assert run.remediations == []
    assert run.plugin_version  # GetPluginInfo answered


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_preview_reports_what_check_reports_where_the_pack_decides(
    case: Case,
    engine_runs: Callable[..., EngineRun],
    captures: Callable[..., Capture],
    check_reports: Callable[[Case], dict[str, Any]],
) -> None:
    """Every finding of a first preview is one `hybridctl check` reports too; what the preview
    does not report is exactly what the pack said it could not decide yet."""
    run = engine_runs(case, "preview")
    deferred_stack = {d.policy for d in run.not_run() if d.stage == "analyze-stack"}
    deferred = {(d.policy, d.urn) for d in run.not_run() if d.stage == "analyze"}
    expected = without(check_findings(check_reports(case)), deferred_stack, deferred)
    assert engine_findings(run.violations(), captures(case, "preview")) == expected


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_residency_decides_at_a_first_preview_as_at_up(
    case: Case,
    engine_runs: Callable[..., EngineRun],
    captures: Callable[..., Capture],
) -> None:
    preview, up = engine_runs(case, "preview"), engine_runs(case, "up")
    residency = residency_policies(up)
    degraded = sorted({(d.policy, d.urn) for d in preview.not_run() if d.policy in residency})
    assert degraded == [], "residency policies that a first preview cannot decide"

    def of_residency(run: EngineRun, capture: Capture) -> set[Any]:
        found = engine_findings(run.violations(), capture)
        return {f for f in found if f[0] in residency}

    assert of_residency(preview, captures(case, "preview")) == of_residency(
        up, captures(case, "up")
    )


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("mode", ["up", "preview"])
def test_hybridctl_evaluates_as_the_served_pack_does(
    case: Case,
    mode: str,
    engine_runs: Callable[..., EngineRun],
    captures: Callable[..., Capture],
) -> None:
    """hybridctl's in-process engine on the same capture: same findings, and in preview the
    same policies it cannot run, on the same resources."""
    captured = captures(case, mode)
    config = hp.load_config(
        case.policy_config or hp.PACK_DIR / f"config.{case.name}.json", hp.POLICY_NAMES
    )
    result = evaluate(captured, config, stack_file=str(case.stack_file))
    run = engine_runs(case, mode)
    ours = {(f.policy, f.urn, f.enforcement_level) for f in result.findings if f.status != "waived"}
    theirs = {(d.policy, d.urn, d.level) for d in run.violations()}
    assert ours == theirs
    assert {(n.policy, n.urn) for n in result.not_evaluated} == {
        (d.policy, d.urn) for d in run.not_run()
    }


@pytest.mark.parametrize("mode", ["up", "preview"])
def test_hybridctl_hands_policies_what_the_engine_sends(
    mode: str, captures: Callable[..., Capture]
) -> None:
    """Resource policies get a resource's inputs and its provider's inputs; stack policies get
    every resource's outputs, parent, provider, dependencies: compared field by field with the
    Analyze and AnalyzeStack requests the harness sends the served pack."""
    captured = captures(BY_NAME["regulated-fargate"], mode)
    inputs = PolicyInputs(captured)
    by_urn = captured.by_urn()
    stack_view = {r.urn: r for r in inputs.stack_resources}
    for resource in captured.resources:
        analyze = analyze_request(resource, by_urn)
        assert wire(analyze.properties) == wire(resource.inputs_struct)
        provider = inputs.provider_of(resource)
        if analyze.HasField("provider"):
            assert provider is not None
            assert (provider.urn, provider.name) == (analyze.provider.urn, analyze.provider.name)
            assert plain(provider.props) == props(analyze.provider.properties)
        else:
            assert provider is None
        sent = stack_resource(resource, by_urn)
        seen = stack_view[resource.urn]
        assert plain(seen.props) == props(sent.properties), resource.urn
        assert (seen.parent.urn if seen.parent else "") == sent.parent
        assert [d.urn for d in seen.dependencies] == list(sent.dependencies)
        assert {k: [d.urn for d in v] for k, v in seen.property_dependencies.items()} == {
            k: list(v.urns) for k, v in sent.propertyDependencies.items()
        }
        assert list(seen.opts.ignore_changes) == list(sent.options.ignoreChanges)


def wire(struct: Any) -> Any:
    return json_format.MessageToDict(struct)


def props(struct: Any) -> Any:
    return plain(unknown_checking_proxy(deserialize_properties(wire(struct))))


def plain(value: Any) -> Any:
    """A proxied value as plain data, unknowns kept as their sentinel strings."""
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str | dict | list):
        value = value["__target"]  # pulumi_policy's proxies hand out what they wrap
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, pulumi.Asset):
        return {"asset": type(value).__name__, **vars(value)}
    return value


def test_policies_read_the_target_stack_as_in_the_pack(captures: Callable[..., Capture]) -> None:
    """Inside a policy, pulumi.get_stack() and pulumi.Config() are the target stack's, as the
    engine's PULUMI_STACK and PULUMI_CONFIG make them in the pack's process; even when another
    stack was captured last."""
    prod = captures(BY_NAME["prod"], "preview")
    captures(BY_NAME["dev"], "up")
    seen: list[tuple[str, str | None, bool, str]] = []

    def probe(args: Any, report: Any) -> None:
        sites = pulumi.Config("hybrid-airflow").get_object("sites") or []
        seen.append(
            (
                pulumi.get_stack(),
                pulumi.Config("aws").get("region"),
                pulumi.runtime.is_dry_run(),
                sites[1]["name"],
            )
        )

    policy = ResourceValidationPolicy(
        "probe", "reads the stack", probe, enforcement_level=EnforcementLevel.ADVISORY
    )
    run_policies([policy], PolicyInputs(prod))
    assert set(seen) == {("prod", "eu-central-1", True, "munich")}
