"""The pack during a first `pulumi preview`: provider-computed outputs (ids, ARNs, generated
names) and every input built from one arrive as the engine's unknown sentinel.

Residency never degrades to pulumi_policy's advisory "can't run during preview": a residency
policy decides from what the program writes, or fails closed with a mandatory violation saying
what it could not verify. With the producer changes the contract asks for (the manifest v2 and
documents built from names the program writes), the verdicts are the same as in `up`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hybridctl.capture import Capture, CapturedResource
from hybridctl.policy_pack import hybrid_policies as hp
from tests.policies import test_hostile_programs as hostile
from tests.policies.conftest import (
    PROD_CONFIG,
    RESIDENCY,
    check,
    edited,
    previewed,
    residency_verdicts,
    run_program,
    set_prop,
)

# What the producer makes known at preview per the contract and the lead's requests: the
# manifest v2 and documents built from names the program writes.
KNOWN_AT_PREVIEW = (
    ("aws:s3/bucketObjectv2:BucketObjectv2", "content"),
    ("aws:iam/rolePolicy:RolePolicy", "policy"),
    ("aws:iam/policy:Policy", "policy"),
    ("aws:ecs/taskDefinition:TaskDefinition", "containerDefinitions"),
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
    ("aws:kms/key:Key", "policy"),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "bucket",
    ),
    ("aws:s3/bucketPolicy:BucketPolicy", "bucket"),
    ("aws:s3/bucketVersioning:BucketVersioning", "bucket"),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "bucket"),
)
# The lake and DAG buckets get explicit names (their `bucket` is then known at preview).
NAMED_AT_PREVIEW = (("aws:s3/bucket:Bucket", "bucket"),)


def config_with_account() -> hp.PolicyConfig:
    """Compliance lists the stack's account, so account checks need no computed ARN."""
    raw = json.loads(Path(PROD_CONFIG).read_text(encoding="utf-8"))
    return hp.parse_config({**raw, "accounts": ["123456789012"]}, "prod+account", hp.POLICY_NAMES)


def verdicts(result: Any) -> set[tuple[str, str | None]]:
    return {(policy, site) for policy, site, _ in residency_verdicts(result)}


def test_no_residency_policy_ever_degrades_to_an_advisory_note(prod_capture: Capture) -> None:
    """The current program leaves IAM documents, container definitions and the v1 manifest
    unknown at a first preview: residency reports what it cannot verify, as mandatory."""
    result = check(previewed(prod_capture))
    assert {n.policy for n in result.not_evaluated} & RESIDENCY == set()
    unverified = [f for f in result.blocking if f.policy in RESIDENCY]
    assert unverified
    assert all("cannot verify" in f.message for f in unverified), [f.message for f in unverified]
    assert {f.policy for f in unverified} >= {
        "regulated-sites-isolated",
        "regulated-data-access-confined",
        "regulated-data-egress",
        "manifest-routes-regulated-external",
    }
    # Security rules may degrade: the engine's advisory note, as documented.
    assert {n.policy for n in result.not_evaluated} >= {"lake-tls-only"}


def test_an_unknown_manifest_fails_closed(prod_capture: Capture) -> None:
    result = check(previewed(prod_capture))
    [manifest] = [f for f in result.blocking if f.policy == "manifest-routes-regulated-external"]
    assert manifest.message.startswith("cannot verify the sites manifest orchestrator-manifest")


def test_prod_passes_preview_once_its_documents_are_known(prod_capture: Capture) -> None:
    preview = check(
        previewed(prod_capture, KNOWN_AT_PREVIEW, NAMED_AT_PREVIEW), config_with_account()
    )
    assert verdicts(preview) == set(), [f.message for f in preview.blocking]


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
    }
]


@pytest.mark.parametrize("extra", [case[1] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_residency_verdicts_are_the_same_in_preview_and_up(
    extra: Callable[[Any], None],
) -> None:
    captured = run_program(extra)
    cfg = config_with_account()
    up = verdicts(check(captured, cfg))
    preview = verdicts(check(previewed(captured, KNOWN_AT_PREVIEW, NAMED_AT_PREVIEW), cfg))
    assert up
    assert preview == up


def _regulated_fargate(resource: CapturedResource) -> bool:
    if resource.name != "hybrid-prod-munich-etl":
        return False
    set_prop(resource, "requiresCompatibilities", ["FARGATE"])
    return True


def test_a_regulated_task_on_fargate_is_caught_in_the_first_preview(prod_capture: Capture) -> None:
    """Launch types and placement are written by the program: decided at preview, whatever else
    is unknown."""
    result = check(previewed(edited(prod_capture, _regulated_fargate)))
    found = {(f.policy, f.site) for f in result.blocking if "cannot verify" not in f.message}
    assert ("regulated-tasks-external-only", "munich") in found


def test_membership_by_dependency_holds_when_arns_are_unknown() -> None:
    """An untagged copy using munich's roles and secret: at preview those ARNs are unknown, the
    engine's property dependencies still name munich's resources."""
    captured = previewed(run_program(hostile.fargate_copy_of_munich))
    result = check(captured, config_with_account())
    [message] = [f.message for f in result.blocking if f.policy == "regulated-workloads-on-site"]
    assert "uses munich's DB secret hybrid/prod/munich/db" in message
    assert "uses munich's task definition hybrid-prod-munich-etl" in message


def test_the_unknown_sentinel_is_what_the_rules_see(prod_capture: Capture) -> None:
    preview = previewed(prod_capture)
    td = next(r for r in preview.resources if r.name == "hybrid-prod-munich-etl")
    raw = td.raw_inputs
    assert raw["containerDefinitions"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert raw["executionRoleArn"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert raw["requiresCompatibilities"] == ["EXTERNAL"]


def test_unknown_iam_documents_fail_closed_naming_the_principal(prod_capture: Capture) -> None:
    """Everything known but the role policies (built from ARNs): isolation and data access say
    which principal they could not verify, as mandatory violations."""
    known = [k for k in KNOWN_AT_PREVIEW if k != ("aws:iam/rolePolicy:RolePolicy", "policy")]
    result = check(previewed(prod_capture, known, NAMED_AT_PREVIEW), config_with_account())
    for policy in ("regulated-sites-isolated", "regulated-data-access-confined"):
        found = [f for f in result.blocking if f.policy == policy]
        assert any(
            f.message.startswith("cannot verify")
            and "role hybrid-prod-mwaa" in f.message
            and "role policy orchestrator-role is unknown until apply" in f.message
            for f in found
        ), [f.message for f in found]
