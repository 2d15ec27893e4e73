"""The policy config: every problem named at once; waivers waive, expire and are accounted for."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp
from tests.policies.conftest import NOW, config, resource_args

TD = "aws:ecs/taskDefinition:TaskDefinition"
FARGATE_MUNICH = {
    "requiresCompatibilities": ["FARGATE"],
    "tags": {"site": "munich", "residency": "regulated"},
}


def test_shipped_configs_are_valid() -> None:
    prod = hp.load_config(PACK_DIR / "config.prod.json", hp.POLICY_NAMES)
    dev = hp.load_config(PACK_DIR / "config.dev.json", hp.POLICY_NAMES)
    assert prod.allowed_regions == ("eu-central-1", "eu-west-1")
    assert hp.enforcement_level(hp.BY_NAME["mwaa-private-webserver"], prod) == "mandatory"
    assert hp.enforcement_level(hp.BY_NAME["mwaa-private-webserver"], dev) == "advisory"


def test_every_policy_is_documented() -> None:
    for spec in hp.POLICIES:
        assert len(spec.description) > 40, spec.name
        assert spec.remediation, spec.name
        assert spec.severity in ("low", "medium", "high", "critical")
    assert "CT.ECS.PR.4" in hp.BY_NAME["regulated-tasks-external-only"].description
    assert "CKV_AWS_144" in hp.BY_NAME["resources-in-allowed-regions"].description


def test_every_problem_is_reported_with_its_field() -> None:
    raw = {
        "allowedRegions": ["eu-central-1", "mars-1"],
        "maxActivationDays": 90,
        "enforcementLevels": {"no-such-policy": "mandatory", "log-retention": "strict"},
        "waivers": [
            {"policy": "log-retention", "reason": "r", "approver": "a", "expires": "2027-01-01"},
            {"policy": "nope", "site": "x", "reason": "", "approver": "a", "expires": "soon"},
        ],
        "colour": "blue",
    }
    with pytest.raises(hp.PolicyConfigError) as error:
        hp.parse_config(raw, "cfg.json", hp.POLICY_NAMES)
    assert error.value.problems == [
        "colour: unknown setting",
        "allowedRegions[1]: 'mars-1' is not an AWS region",
        "maxActivationDays: must be a whole number from 1 to 30",
        "enforcementLevels.no-such-policy: no such policy",
        "enforcementLevels.log-retention: 'strict' is not one of advisory, mandatory, disabled",
        "waivers[0]: name exactly one of site or resource",
        "waivers[1].policy: 'nope' is not a policy of this pack",
        "waivers[1].reason: required",
        "waivers[1].expires: required, a date like 2027-03-31",
    ]


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(hp.PolicyConfigError, match="file not found"):
        hp.load_config(tmp_path / "absent.json", hp.POLICY_NAMES)
    broken = tmp_path / "broken.json"
    broken.write_text('{"allowedRegions": [', encoding="utf-8")
    with pytest.raises(hp.PolicyConfigError, match="not valid JSON"):
        hp.load_config(broken, hp.POLICY_NAMES)


def test_config_path_prefers_the_environment(tmp_path: Path) -> None:
    assert hp.config_path("prod", {}) == PACK_DIR / "config.prod.json"
    assert hp.config_path("nowhere", {}) is None
    assert hp.config_path("prod", {hp.CONFIG_ENV: str(tmp_path / "x.json")}) == tmp_path / "x.json"


def waiver(expires: str, **target: str) -> dict[str, str]:
    return {
        "policy": "regulated-tasks-external-only",
        "reason": "migration window",
        "approver": "dpo@example.com",
        "expires": expires,
        **target,
    }


def evaluate(cfg: hp.PolicyConfig, now: dt.datetime = NOW) -> tuple[list[str], list[hp.Outcome]]:
    outcomes: list[hp.Outcome] = []
    policy = next(
        p
        for p in hp.build_policies(hp.RuleContext(cfg, now), observe=outcomes.append)
        if p.name == "regulated-tasks-external-only"
    )
    reported: list[str] = []
    policy.validate(
        resource_args(TD, FARGATE_MUNICH, "hybrid-prod-munich-etl"),
        lambda message, urn=None: reported.append(message),  # type: ignore[arg-type]
    )
    return reported, outcomes


def test_a_valid_waiver_stops_the_report_but_is_observed() -> None:
    reported, outcomes = evaluate(config(waivers=[waiver("2026-12-31", site="munich")]))
    assert reported == []  # what the engine sees: nothing blocks `pulumi up`
    assert [o.status for o in outcomes] == ["waived"]
    assert outcomes[0].waiver is not None
    assert outcomes[0].waiver.approver == "dpo@example.com"


def test_a_waiver_is_valid_through_its_expiry_day() -> None:
    reported, _ = evaluate(config(waivers=[waiver(NOW.date().isoformat(), site="munich")]))
    assert reported == []


def test_an_expired_waiver_counts_as_the_violation() -> None:
    reported, outcomes = evaluate(config(waivers=[waiver("2026-11-25", site="munich")]))
    assert len(reported) == 1
    assert "has expired" in reported[0]
    assert "dpo@example.com" in reported[0]
    assert [o.status for o in outcomes] == ["expired-waiver"]


def test_waivers_by_resource_name() -> None:
    reported, _ = evaluate(
        config(waivers=[waiver("2027-01-01", resource="hybrid-prod-munich-etl")])
    )
    assert reported == []
    reported, _ = evaluate(config(waivers=[waiver("2027-01-01", resource="another")]))
    assert len(reported) == 1


def test_a_waiver_for_another_site_or_policy_does_not_apply() -> None:
    other_policy = {**waiver("2027-01-01", site="munich"), "policy": "log-retention"}
    reported, _ = evaluate(config(waivers=[waiver("2027-01-01", site="dublin"), other_policy]))
    assert len(reported) == 1


def test_shipped_configs_parse_as_json() -> None:
    for name in ("config.prod.json", "config.dev.json"):
        assert isinstance(json.loads((PACK_DIR / name).read_text(encoding="utf-8")), dict)
