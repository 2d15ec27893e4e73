"""The pack during a first `pulumi preview`: provider-computed outputs (ids, ARNs, generated
names) and every input built from one arrive as the engine's unknown sentinel.

The preview captures are hybridctl's (`capture(mode="preview")`, the mechanism tests/engine holds
to the engine's rules), of the real program and of hostile changes to it. Residency never
degrades to pulumi_policy's advisory "can't run during preview": the program builds what the
rules read from names and the account (components/arns.py), so the verdicts are those of `up`;
where a program still builds a document from a provider-computed value, residency fails closed
with a mandatory violation saying what it could not verify.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi_aws as aws
import pytest

from hybridctl.capture import Capture, CapturedResource, capture
from hybridctl.findings import CheckResult
from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import STACKS_DIR, load
from hybridctl.wire import is_unknown
from tests.policies import test_hostile_programs as hostile
from tests.policies.conftest import (
    RESIDENCY,
    check,
    edited,
    residency_verdicts,
    run_program,
    set_prop,
)


def verdicts(result: CheckResult) -> set[tuple[str, str | None, str | None]]:
    return residency_verdicts(result)


def findings(result: CheckResult) -> set[tuple[str, str | None, str | None, str]]:
    return {(f.policy, f.site, f.resource_name, f.enforcement_level) for f in result.findings}


# --- hostile programs that still build from provider-computed values -----------------------


def hq_policy_from_a_secret_arn(p: Any) -> None:
    """A document built from munich's secret ARN: unknown until the secret exists."""
    aws.iam.RolePolicy(
        "hq-from-arn",
        role="hybrid-prod-hq-task",
        policy=p.sites["munich"].secret.arn.apply(
            lambda arn: hostile.document(hostile.allow("secretsmanager:GetSecretValue", arn))
        ),
    )


def manifest_from_a_secret_arn(p: Any) -> None:
    """A second sites manifest (v1 style) that carries munich's secret ARN: unknown at
    preview, harmless once known (it routes munich as the real one does)."""
    entry = {
        "name": "munich",
        "residency": "regulated",
        "region": "eu-central-1",
        "cluster": "hybrid-prod-munich",
        "launchType": "EXTERNAL",
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:site == munich"}],
    }
    aws.s3.BucketObjectv2(
        "manifest-v1",
        bucket=p.orchestrator.dag_bucket_name,
        key="dags/v1/sites-manifest.json",
        content=p.sites["munich"].secret.arn.apply(
            lambda arn: json.dumps({"version": 1, "sites": [{**entry, "secretArn": arn}]})
        ),
    )


# --- the example stacks ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_a_first_preview_decides_every_policy_as_up_does(stack: str) -> None:
    """Nothing is left to "can't run during preview", residency or not, and the findings are
    those of `up` (none of them mandatory), with compliance's shipped config."""
    stack_file = load(STACKS_DIR / f"Pulumi.{stack}.yaml")
    config = hp.load_config(PACK_DIR / f"config.{stack}.json", hp.POLICY_NAMES)
    during = check(capture(stack_file, mode="preview"), config)
    after = check(capture(stack_file), config)
    assert during.not_evaluated == []
    assert findings(during) == findings(after)
    assert during.blocking == []


def test_the_preview_is_the_engines_not_the_up_capture(prod_capture: Capture) -> None:
    """What the rules see at preview: provider-computed values are the unknown sentinel;
    documents built from names are known and what `up` sends."""
    preview = run_program(mode="preview")
    up = {r.urn: r for r in prod_capture.resources}
    td = next(r for r in preview.resources if r.name == "hybrid-prod-munich-etl")
    raw = td.raw_inputs
    assert is_unknown(raw["executionRoleArn"])
    assert is_unknown(raw["taskRoleArn"])
    assert raw["requiresCompatibilities"] == ["EXTERNAL"]
    assert raw["containerDefinitions"] == up[td.urn].raw_inputs["containerDefinitions"]
    secret = next(r for r in preview.resources if r.name == "hybrid-prod-munich-db")
    assert is_unknown(secret.raw_inputs["kmsKeyId"])
    assert is_unknown(secret.raw_outputs["arn"])


# --- hostile programs: the same verdict in preview and up -----------------------------------

HOSTILE = [
    case
    for case in hostile.PROGRAMS
    if case[0]
    in {
        "fargate-copy",
        "fargate-task-set",
        "service-on-shared-cluster",
        "family-name",
        "capacity-provider",
        "hq-task-with-dublin-role",
        "iam-case",
        "aws-managed-admin",
        "group-membership",
        "not-action",
        "revision-without-cluster",
        "managed-policy-attachment",
        "ecs-full-access",
        "replication",
        "bucket-policy-account",
        "log-subscription",
        "task-role-writes-elsewhere",
        "key-policy-account",
        "decoy-manifest",
        "network-file",
        "prefix-subpath",
        "hq-reads-munich-catalog",
        "glue-wildcard",
        "catalog-copy-outside",
        "table-outside",
        "tagged-catalog-outside",
    }
]


def test_every_hostile_program_is_tried_at_preview() -> None:
    assert len(HOSTILE) == 26


@pytest.mark.parametrize("extra", [case[1] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_residency_verdicts_are_the_same_in_preview_and_up(
    extra: Callable[[Any], None],
) -> None:
    up = check(run_program(extra))
    preview = check(run_program(extra, mode="preview"))
    assert verdicts(up)
    assert verdicts(preview) == verdicts(up)
    assert {n.policy for n in preview.not_evaluated} & RESIDENCY == set()


def _regulated_fargate(resource: CapturedResource) -> bool:
    if resource.name != "hybrid-prod-munich-etl":
        return False
    set_prop(resource, "requiresCompatibilities", ["FARGATE"])
    return True


def test_a_regulated_task_on_fargate_is_caught_in_the_first_preview() -> None:
    """Launch types and placement are written by the program: decided at preview."""
    result = check(edited(run_program(mode="preview"), _regulated_fargate))
    found = {(f.policy, f.site) for f in result.blocking}
    assert ("regulated-tasks-external-only", "munich") in found
    assert not any("cannot verify" in f.message for f in result.blocking)


def test_membership_by_dependency_holds_when_arns_are_unknown() -> None:
    """An untagged copy using munich's roles and secret: at preview those ARNs are unknown, the
    engine's property dependencies still name munich's resources."""
    result = check(run_program(hostile.fargate_copy_of_munich, mode="preview"))
    [message] = [f.message for f in result.blocking if f.policy == "regulated-workloads-on-site"]
    assert "uses munich's DB secret hybrid/prod/munich/db" in message
    assert "uses munich's task definition hybrid-prod-munich-etl" in message


# --- fail closed: what is still unknown at preview ------------------------------------------


def test_a_document_built_from_an_arn_fails_closed_naming_the_principal() -> None:
    """Unknown at preview: isolation and data access say which principal they could not
    verify, as mandatory violations (never an advisory note); at `up` the grant is decided."""
    preview = check(run_program(hq_policy_from_a_secret_arn, mode="preview"))
    assert {n.policy for n in preview.not_evaluated} & RESIDENCY == set()
    for policy in ("regulated-sites-isolated", "regulated-data-access-confined"):
        found = [f for f in preview.blocking if f.policy == policy]
        assert any(
            f.message.startswith("cannot verify")
            and "role hybrid-prod-hq-task" in f.message
            and "role policy hq-from-arn is unknown until apply" in f.message
            and f.enforcement_level == "mandatory"
            for f in found
        ), [f.message for f in found]
    # Security rules may degrade to the engine's note: they run again before the resource exists.
    assert "iam-no-wildcards" in {n.policy for n in preview.not_evaluated}
    up = check(run_program(hq_policy_from_a_secret_arn))
    assert ("regulated-data-access-confined", "munich") in {(f.policy, f.site) for f in up.blocking}
    assert not any("cannot verify" in f.message for f in up.blocking)


def test_an_unknown_manifest_fails_closed() -> None:
    preview = check(run_program(manifest_from_a_secret_arn, mode="preview"))
    [manifest] = [f for f in preview.blocking if f.policy == "manifest-routes-regulated-external"]
    assert manifest.message.startswith("cannot verify the sites manifest manifest-v1")
    assert manifest.enforcement_level == "mandatory"
    # Once known it routes munich as the real manifest does: nothing to report.
    up = check(run_program(manifest_from_a_secret_arn))
    assert [f for f in up.blocking if f.policy == "manifest-routes-regulated-external"] == []


def test_the_fail_closed_programs_really_carry_unknowns() -> None:
    """The two programs above leave exactly their own resource's document unknown."""
    for extra, name, key in (
        (hq_policy_from_a_secret_arn, "hq-from-arn", "policy"),
        (manifest_from_a_secret_arn, "manifest-v1", "content"),
    ):
        captured = run_program(extra, mode="preview")
        resource = next(r for r in captured.resources if r.name == name)
        assert is_unknown(resource.raw_inputs[key])
