"""Compliance's policy config: every problem named at once; who is regulated; waivers waive,
expire, are limited to what compliance allows, and are accounted for."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp
from tests.policies.conftest import NOW, PROD_SITES, config, resource_args

TD = "aws:ecs/taskDefinition:TaskDefinition"
FARGATE_MUNICH = {
    "requiresCompatibilities": ["FARGATE"],
    "tags": {"site": "munich", "residency": "regulated"},
}


def test_shipped_configs_list_the_example_stacks_sites() -> None:
    prod = hp.load_config(PACK_DIR / "config.prod.json", hp.POLICY_NAMES)
    dev = hp.load_config(PACK_DIR / "config.dev.json", hp.POLICY_NAMES)
    assert prod.allowed_regions == ("eu-central-1", "eu-west-1")
    # dublin's extracts and catalog are stored in the platform lake, in eu-central-1
    assert {(s.name, s.residency, s.allowed_regions) for s in prod.sites} == {
        ("hq", "standard", ("eu-central-1",)),
        ("munich", "regulated", ("eu-central-1",)),
        ("dublin", "regulated", ("eu-west-1", "eu-central-1")),
    }
    # the account the example stacks deploy to (the offline provider's): ARN checks decide at
    # a first preview
    assert prod.accounts == dev.accounts == ("123456789012",)
    assert {(s.name, s.residency) for s in dev.sites} == {
        ("hq", "standard"),
        ("plant-ohio", "standard"),
    }
    assert hp.enforcement_level(hp.BY_NAME["mwaa-private-webserver"], prod) == "mandatory"
    assert hp.enforcement_level(hp.BY_NAME["mwaa-private-webserver"], dev) == "advisory"


def test_every_policy_is_documented() -> None:
    for spec in hp.POLICIES:
        assert len(spec.description) > 40, spec.name
        assert spec.remediation, spec.name
        assert spec.reads, spec.name
        assert spec.preview, spec.name
        assert spec.severity in ("low", "medium", "high", "critical")
    assert "CT.ECS.PR.4" in hp.BY_NAME["regulated-tasks-external-only"].description
    assert "CKV_AWS_144" in hp.BY_NAME["resources-in-allowed-regions"].description


def test_the_readme_lists_every_policy() -> None:
    readme = (PACK_DIR / "README.md").read_text(encoding="utf-8")
    for spec in hp.POLICIES:
        assert f"`{spec.name}`" in readme, spec.name


def test_every_problem_is_reported_with_its_field() -> None:
    raw = {
        "allowedRegions": ["eu-central-1", "mars-1"],
        "sites": [
            {"name": "munich", "residency": "regulated"},
            {"name": "hq", "residency": "public", "allowedRegions": ["us-east-1"]},
            {"name": "hq", "residency": "standard"},
            {"name": "shared", "residency": "standard"},
        ],
        "maxActivationDays": 90,
        "enforcementLevels": {"no-such-policy": "mandatory", "log-retention": "strict"},
        "waiverRules": {"maxDays": 1000, "waivable": ["nope", "log-retention"]},
        "waivers": [
            {"policy": "log-retention", "reason": "r", "approver": "a", "expires": "2027-01-01"},
            {"policy": "nope", "site": "x", "reason": "", "approver": "a@b.eu", "expires": "soon"},
        ],
        "colour": "blue",
    }
    with pytest.raises(hp.PolicyConfigError) as error:
        hp.parse_config(raw, "cfg.json", hp.POLICY_NAMES, today=NOW.date())
    assert error.value.problems == [
        "colour: unknown setting",
        "allowedRegions[1]: 'mars-1' is not an AWS region",
        "sites[0] (munich).allowedRegions: required, a non-empty list of AWS regions",
        "sites[1] (hq).residency: required, one of regulated, standard",
        "sites[1] (hq).allowedRegions: us-east-1 is not in the top-level allowedRegions",
        "sites[2].name: hq is listed twice",
        "sites[3].name: 'shared' is reserved for findings of no site",
        "maxActivationDays: must be a whole number from 1 to 30",
        "enforcementLevels.no-such-policy: no such policy",
        "enforcementLevels.log-retention: 'strict' is not one of advisory, mandatory, disabled",
        "waiverRules.waivable: 'nope' is not a policy of this pack",
        "waiverRules.maxDays: must be a whole number from 1 to 365",
        "waivers[0]: name exactly one of site or resource",
        "waivers[0].approver: 'a' is not an e-mail address",
        "waivers[1].policy: 'nope' is not a policy of this pack",
        "waivers[1].site: 'x' is not a site of this config (or 'shared' for findings of no site)",
        "waivers[1].reason: required",
        "waivers[1].expires: required, a date like 2027-03-31",
    ]


def test_sites_are_required() -> None:
    with pytest.raises(hp.PolicyConfigError, match="sites: required"):
        hp.parse_config({"allowedRegions": ["eu-west-1"]}, "cfg", hp.POLICY_NAMES)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(hp.PolicyConfigError, match="file not found"):
        hp.load_config(tmp_path / "absent.json", hp.POLICY_NAMES)
    broken = tmp_path / "broken.json"
    broken.write_text('{"allowedRegions": [', encoding="utf-8")
    with pytest.raises(hp.PolicyConfigError, match="not valid JSON"):
        hp.load_config(broken, hp.POLICY_NAMES)


# --- waivers ---------------------------------------------------------------------------------


def waiver(expires: str, policy: str = "regulated-tasks-pinned-to-site", **target: str) -> dict:
    return {
        "policy": policy,
        "reason": "migration window",
        "approver": "dpo@example.com",
        "expires": expires,
        **target,
    }


def waivable_config(waivers: list[dict[str, Any]], **extra: Any) -> hp.PolicyConfig:
    """Compliance lets the pinning policy be waived (it is critical residency: not by default)."""
    rules = {"waivable": ["regulated-tasks-pinned-to-site", "log-retention"], **extra}
    return config(waivers=waivers, waiverRules=rules)


def evaluate(cfg: hp.PolicyConfig, now: dt.datetime = NOW) -> tuple[list[str], list[hp.Outcome]]:
    outcomes: list[hp.Outcome] = []
    policy = next(
        p
        for p in hp.build_policies(hp.RuleContext(cfg, now), observe=outcomes.append)
        if p.name == "regulated-tasks-pinned-to-site"
    )
    reported: list[str] = []
    policy.validate(
        resource_args(TD, FARGATE_MUNICH, "hybrid-prod-munich-etl"),
        lambda message, urn=None: reported.append(message),  # type: ignore[arg-type]
    )
    return reported, outcomes


def test_critical_residency_policies_cannot_be_waived_by_default() -> None:
    with pytest.raises(hp.PolicyConfigError) as error:
        config(waivers=[waiver("2026-12-31", site="munich")])
    assert error.value.problems == [
        "waivers[0].policy: regulated-tasks-pinned-to-site may not be waived (compliance's "
        "waiverRules.waivable does not list it; critical residency policies are not waivable "
        "by default)"
    ]
    # Every other policy is waivable unless compliance's list says otherwise.
    config(waivers=[waiver("2026-12-31", "activation-expiry", site="munich")])
    with pytest.raises(hp.PolicyConfigError, match="activation-expiry may not be waived"):
        config(
            waivers=[waiver("2026-12-31", "activation-expiry", site="munich")],
            waiverRules={"waivable": ["log-retention"]},
        )


def test_waivers_are_limited_in_length() -> None:
    with pytest.raises(hp.PolicyConfigError, match="2099-12-31 is more than 90 days away"):
        waivable_config([waiver("2099-12-31", site="munich")])
    waivable_config([waiver("2027-02-24", site="munich")])  # exactly 90 days
    with pytest.raises(hp.PolicyConfigError, match="more than 30 days away"):
        waivable_config([waiver("2027-02-24", site="munich")], maxDays=30)


@pytest.mark.parametrize("approver", ["the DPO", "dpo", "dpo@", "@example.com", "a b@c.de"])
def test_the_approver_is_an_email_address(approver: str) -> None:
    with pytest.raises(hp.PolicyConfigError, match="is not an e-mail address"):
        waivable_config([{**waiver("2026-12-31", site="munich"), "approver": approver}])


def test_a_valid_waiver_stops_the_report_but_is_observed() -> None:
    reported, outcomes = evaluate(waivable_config([waiver("2026-12-31", site="munich")]))
    assert reported == []  # what the engine sees: nothing blocks `pulumi up`
    assert [o.status for o in outcomes] == ["waived"]
    assert outcomes[0].waiver is not None
    assert outcomes[0].waiver.approver == "dpo@example.com"


def test_a_waiver_is_valid_through_its_expiry_day() -> None:
    reported, _ = evaluate(waivable_config([waiver(NOW.date().isoformat(), site="munich")]))
    assert reported == []


def test_an_expired_waiver_counts_as_the_violation() -> None:
    reported, outcomes = evaluate(waivable_config([waiver("2026-11-25", site="munich")]))
    assert len(reported) == 1
    assert "has expired" in reported[0]
    assert "dpo@example.com" in reported[0]
    assert [o.status for o in outcomes] == ["expired-waiver"]


def test_waivers_by_resource_name_and_urn() -> None:
    reported, _ = evaluate(
        waivable_config([waiver("2027-01-01", resource="hybrid-prod-munich-etl")])
    )
    assert reported == []
    urn = "urn:pulumi:test::hybrid-airflow::aws:ecs/taskDefinition:TaskDefinition::hybrid-prod-munich-etl"
    reported, _ = evaluate(waivable_config([waiver("2027-01-01", resource=urn)]))
    assert reported == []
    reported, _ = evaluate(waivable_config([waiver("2027-01-01", resource="another")]))
    assert len(reported) == 1


def test_a_waiver_for_another_site_or_policy_does_not_apply() -> None:
    other_policy = waiver("2027-01-01", "log-retention", site="munich")
    reported, _ = evaluate(waivable_config([waiver("2027-01-01", site="dublin"), other_policy]))
    assert len(reported) == 1


def test_site_shared_matches_the_findings_of_no_site() -> None:
    shared = hp.Waiver("log-retention", "r", "a@b.eu", dt.date(2027, 1, 1), site="shared")
    assert shared.matches("log-retention", None, "lake", "urn:x")
    assert not shared.matches("log-retention", "munich", "lake", "urn:x")
    cfg = config(waivers=[waiver("2027-01-01", "log-retention", site="shared")])
    outcomes: list[hp.Outcome] = []
    policy = next(
        p
        for p in hp.build_policies(hp.RuleContext(cfg, NOW), observe=outcomes.append)
        if p.name == "log-retention"
    )
    reported: list[str] = []
    policy.validate(
        resource_args("aws:cloudwatch/logGroup:LogGroup", {}, "airflow-logs"),
        lambda message, urn=None: reported.append(message),  # type: ignore[arg-type]
    )
    assert reported == []
    assert [(o.site, o.status) for o in outcomes] == [(None, "waived")]


def test_shipped_configs_parse_as_json() -> None:
    for name in ("config.prod.json", "config.dev.json"):
        assert isinstance(json.loads((PACK_DIR / name).read_text(encoding="utf-8")), dict)


def test_residency_comes_from_compliance_not_the_tags() -> None:
    """A task definition of munich tagged standard is still munich's: compliance says regulated."""
    relabelled = {
        "requiresCompatibilities": ["FARGATE"],
        "tags": {"site": "munich", "residency": "standard"},
    }
    args = resource_args(TD, relabelled, "hybrid-prod-munich-etl")
    from tests.policies.conftest import violations

    assert len(violations("regulated-tasks-external-only", args)) == 1
    standard_everywhere = [{**s, "residency": "standard"} for s in PROD_SITES]
    standard_everywhere[1].pop("allowedRegions")
    assert (
        violations("regulated-tasks-external-only", args, config(sites=standard_everywhere)) == []
    )


def test_a_waiver_by_engine_urn_matches_the_mocks_urn_and_back() -> None:
    engine = (
        "urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site$"
        "aws:ecs/taskDefinition:TaskDefinition::hybrid-prod-munich-etl"
    )
    mocks = engine.replace("::hybrid:platform:Site$", "::pulumi:pulumi:Stack$hybrid:platform:Site$")
    for written, seen in ((engine, mocks), (mocks, engine), (engine, engine)):
        w = hp.Waiver("log-retention", "r", "a@b.eu", dt.date(2027, 1, 1), resource=written)
        assert w.matches("log-retention", "munich", "other-name", seen)
    other = engine.replace("munich", "dublin")
    w = hp.Waiver("log-retention", "r", "a@b.eu", dt.date(2027, 1, 1), resource=engine)
    assert not w.matches("log-retention", "dublin", "x", other)
