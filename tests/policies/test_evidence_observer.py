"""The adapter's evidence observer: which resources each policy examined and which fields it read.

It is additive: with it or without it, the engine sees the same reports and every decision is
the same (each policy then builds its own lookups). What a policy examined does not depend on
which other policies ran before it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest

from hybridctl.capture import Capture, capture
from hybridctl.engine import PolicyInputs, run_policies
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import load
from tests.policies.conftest import NOW, prod_config, run_program
from tests.policies.violating_stacks import write_violating_stacks

Verdicts = tuple[list[tuple[str, str, str]], list[tuple[str, str, str, str]]]


def verdicts(
    captured: Capture, evidence: list[hp.Examined] | None, only: str | None = None
) -> Verdicts:
    """(what the engine is told, every decision the observer hears)."""
    outcomes: list[hp.Outcome] = []
    policies = hp.build_policies(
        hp.RuleContext(prod_config(), NOW),
        observe=outcomes.append,
        evidence=evidence.append if evidence is not None else None,
    )
    if only is not None:
        policies = [p for p in policies if p.name == only]
    reported, not_run = run_policies(policies, PolicyInputs(captured))
    told = sorted((r.policy, r.message, r.urn or "") for r in reported)
    told += sorted((n.policy, n.reason, n.urn or "") for n in not_run)
    decided = sorted((o.policy, o.urn or "", o.message, o.status) for o in outcomes)
    return told, decided


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Capture]:
    stacks = write_violating_stacks(tmp_path_factory.mktemp("stacks"))
    found = {name: capture(load(Path(path))) for name, path in stacks.items()}
    found["prod"] = run_program()
    found["prod-preview"] = run_program(mode="preview")  # a first preview: unknowns
    return found


def test_evidence_changes_no_verdict(captures: dict[str, Capture]) -> None:
    for name, captured in captures.items():
        examined: list[hp.Examined] = []
        assert verdicts(captured, examined) == verdicts(captured, None), name
        assert examined, name


def test_what_a_policy_read(captures: dict[str, Capture]) -> None:
    examined: list[hp.Examined] = []
    verdicts(captures["prod"], examined)
    by_policy: dict[str, dict[str, hp.Examined]] = defaultdict(dict)
    for item in examined:
        assert item.urn not in by_policy[item.policy], "one record per policy and resource"
        by_policy[item.policy][item.resource_name] = item

    tasks = by_policy["regulated-tasks-external-only"]
    assert set(tasks) == {"hybrid-prod-hq-etl", "hybrid-prod-munich-etl", "hybrid-prod-dublin-etl"}
    assert tasks["hybrid-prod-munich-etl"].fields == ("requiresCompatibilities", "tags")
    assert tasks["hybrid-prod-munich-etl"].site == "munich"
    assert tasks["hybrid-prod-hq-etl"].fields == ("tags",)  # not regulated: nothing more read

    versioned = by_policy["lake-versioned"]
    assert {i.resource_type for i in versioned.values()} == {
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketVersioning:BucketVersioning",
    }
    assert any("versioningConfiguration.status" in i.fields for i in versioned.values())
    assert all(
        i.fields == ("webserverAccessMode",) for i in by_policy["mwaa-private-webserver"].values()
    )


def test_describing_a_finding_is_not_evidence() -> None:
    """iam-no-wildcards reads documents, never tags; the adapter reads a resource's site to
    describe a finding, and that read must not be listed as the policy's."""
    import json

    import pulumi_aws as aws

    def wildcard_role(platform: object) -> None:
        aws.iam.Role(
            "wild",
            name="wild",
            assume_role_policy="{}",
            inline_policies=[
                aws.iam.RoleInlinePolicyArgs(
                    name="all",
                    policy=json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                        }
                    ),
                )
            ],
        )

    examined: list[hp.Examined] = []
    _, decided = verdicts(run_program(wildcard_role), examined)
    assert any(
        p == "iam-no-wildcards" and urn and urn.endswith("::wild") for p, urn, _, _ in decided
    )
    [wild] = [e for e in examined if e.policy == "iam-no-wildcards" and e.resource_name == "wild"]
    assert wild.fields == ("inlinePolicies",)


def test_a_policy_examines_the_same_alone_or_after_others(captures: dict[str, Capture]) -> None:
    """Shared lookups (memberships, principals) are read on behalf of each policy, so what a
    stack policy examined does not depend on whether another policy filled them first."""
    for policy in ("regulated-data-access-confined", "lake-encrypted-kms"):
        alone: list[hp.Examined] = []
        together: list[hp.Examined] = []
        verdicts(captures["prod"], alone, only=policy)
        verdicts(captures["prod"], together)
        assert sorted(alone, key=lambda e: e.urn) == sorted(
            (e for e in together if e.policy == policy), key=lambda e: e.urn
        )


def test_no_observer_no_cost_to_the_engine_path() -> None:
    """Without an observer the stack policies of one evaluation share one Evaluation."""
    session = hp.EvaluationSession(hp.RuleContext(prod_config(), dt.datetime.now(dt.UTC)))
    policies = hp.build_policies(session.ctx, session=session)
    run_policies(policies, PolicyInputs(run_program()))
    assert session.created == 1
