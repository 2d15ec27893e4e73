"""URNs are the engine's, so a waiver copied from `hybridctl check` works under the engine; the
default provider goes through resource policies in hybridctl as in the engine."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_aws as aws

from hybridctl.capture import Capture, capture
from hybridctl.evaluate import evaluate
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import STACKS_DIR, StackFile, load
from tests.engine.agreement import check_findings, engine_findings
from tests.engine.conftest import BY_NAME, PROD_CONFIG, Case, Packs, run_check
from tests.engine.engine_host import EngineRun

PROVIDER = "pulumi:providers:aws::default_7_51_1"


def test_urns_follow_the_engine(captures: Callable[..., Capture]) -> None:
    prod = captures(BY_NAME["prod"], "up").by_urn()
    site = "urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site::munich"
    assert site in prod
    assert (
        prod[site].parent
        == "urn:pulumi:prod::hybrid-airflow::pulumi:pulumi:Stack::hybrid-airflow-prod"
    )
    child = (
        "urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site$"
        "aws:ssm/activation:Activation::hybrid-prod-munich-activation"
    )
    assert prod[child].parent == site
    assert not any("pulumi:pulumi:Stack$" in urn for urn in prod)


def test_a_waiver_by_urn_from_check_output_waives_the_same_finding_under_the_engine(
    tmp_path: Path,
    packs: Packs,
    captures: Callable[..., Capture],
    check_reports: Callable[[Case], dict[str, Any]],
) -> None:
    # A waivable policy (critical residency ones are not, by default) on a resource under a
    # Site component: the URN whose type chain the SDK's mocks would write differently.
    case = BY_NAME["long-activation"]
    before = check_reports(case)
    target = next(
        v
        for v in before["violations"]
        if v["policy"] == "activation-expiry"
        and v["resourceType"] == "aws:ssm/activation:Activation"
    )
    assert "::hybrid:platform:Site$aws:ssm/activation:Activation::" in target["urn"]
    config = json.loads(PROD_CONFIG.read_text(encoding="utf-8"))
    config["waivers"] = [
        {
            "policy": target["policy"],
            "resource": target["urn"],  # copied from `hybridctl check` output, as a user would
            "reason": "hosts rebuilt after the flood; rotation resumes next month",
            "approver": "dpo@example.com",
            # within compliance's waiverRules.maxDays (90)
            "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
        }
    ]
    path = tmp_path / "config.waived.json"
    path.write_text(json.dumps(config), encoding="utf-8")

    _, after = run_check(*case.check_args()[:2], "--policy-config", str(path))
    waived = [v for v in after["violations"] if v["status"] == "waived"]
    assert [(v["policy"], v["urn"]) for v in waived] == [(target["policy"], target["urn"])]
    assert after["unmatchedWaivers"] == []

    pack = packs.get(load(case.stack_file), "up", {"HYBRID_POLICY_CONFIG": str(path)})
    run: EngineRun = pack.analyze(captures(case, "up"))
    found = engine_findings(run.violations(), captures(case, "up"))
    assert found == check_findings(after)
    assert target["urn"] not in {f[1] for f in found}
    assert len(found) == len(check_findings(before)) - 1


def stack_with_region(region: str) -> StackFile:
    return StackFile("regions", Path("inline"), {"aws:region": region})


def every_resource_sets_its_region() -> None:
    aws.cloudwatch.LogGroup("logs", name="etl", retention_in_days=30, region="eu-central-1")
    aws.ecs.Cluster("cluster", name="etl", region="eu-west-1")


def provider_findings(found: set[Any]) -> set[Any]:
    return {f for f in found if f[1].endswith(PROVIDER)}


def test_the_default_provider_goes_through_resource_policies(packs: Packs) -> None:
    """aws:region outside the allowed regions fails the check even when every resource sets
    an allowed region of its own: the engine sends the provider itself through the policies."""
    config = hp.load_config(PROD_CONFIG, hp.POLICY_NAMES)
    outside = capture(stack_with_region("us-east-1"), program=every_resource_sets_its_region)
    result = evaluate(outside, config, stack_file="inline")
    regional = [f for f in result.findings if f.policy == "resources-in-allowed-regions"]
    assert [(f.urn, f.enforcement_level, f.blocking) for f in regional] == [
        (f"urn:pulumi:regions::hybrid-airflow::{PROVIDER}", "mandatory", True)
    ]
    assert "us-east-1" in regional[0].message
    inside = capture(stack_with_region("eu-central-1"), program=every_resource_sets_its_region)
    assert not [
        f
        for f in evaluate(inside, config, stack_file="inline").findings
        if f.policy == "resources-in-allowed-regions"
    ]

    outside_stack = stack_with_region("us-east-1")
    env = {"HYBRID_POLICY_CONFIG": str(PROD_CONFIG)}
    for mode in ("up", "preview"):
        captured = capture(outside_stack, program=every_resource_sets_its_region, mode=mode)
        run = packs.get(outside_stack, mode, env).analyze(captured)  # type: ignore[arg-type]
        engine = engine_findings(run.violations(), captured)
        ours = {
            (f.policy, f.urn, f.site, f.enforcement_level)
            for f in evaluate(captured, config, stack_file="inline").findings
        }
        assert provider_findings(engine) == provider_findings(ours) != set(), mode


def test_make_check_fails_a_stack_whose_provider_region_is_outside(tmp_path: Path) -> None:
    """The real program with aws:region (and its FARGATE site) moved to us-east-1."""
    stack = load(STACKS_DIR / "Pulumi.prod.yaml")
    config = copy.deepcopy(stack.config)
    config["aws:region"] = "us-east-1"
    config["hybrid-airflow:sites"][0]["region"] = "us-east-1"
    path = tmp_path / "Pulumi.moved.yaml"
    path.write_text(json.dumps({"config": config}), encoding="utf-8")
    code, report = run_check("--stack-file", str(path), "--policy-config", str(PROD_CONFIG))
    assert code == 1
    provider = [v for v in report["violations"] if v["urn"].endswith(PROVIDER)]
    assert [(v["policy"], v["enforcementLevel"]) for v in provider] == [
        ("resources-in-allowed-regions", "mandatory")
    ]
