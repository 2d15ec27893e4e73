"""Stack policies on StackValidationArgs fixtures: a minimal compliant stack, then one defect
at a time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import PolicyResource

from tests.policies.conftest import stack_args, stack_resource, violations

ACCOUNT = "123456789012"
REGION = "eu-central-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"


def cluster_arn(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}"


def td_arn(family: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}"


def run_task(site: str, cluster: str | None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": f"RunEtl{site}",
        "Effect": "Allow",
        "Action": "ecs:RunTask",
        "Resource": f"{td_arn(f'hybrid-prod-{site}-etl')}:*",
    }
    if cluster:
        statement["Condition"] = {"ArnEquals": {"ecs:cluster": cluster_arn(cluster)}}
    return statement


def manifest_entry(site: str, **overrides: Any) -> dict[str, Any]:
    regulated = site != "hq"
    entry = {
        "name": site,
        "region": REGION,
        "residency": "regulated" if regulated else "standard",
        "launchType": "EXTERNAL" if regulated else "FARGATE",
        "cluster": f"hybrid-prod-{site}" if regulated else "hybrid-prod-shared",
        "networkConfiguration": None if regulated else {"awsvpcConfiguration": {}},
        "placementConstraints": (
            [{"type": "memberOf", "expression": f"attribute:site == {site}"}] if regulated else []
        ),
    }
    return {**entry, **overrides}


def build_stack(
    *,
    statements: list[dict[str, Any]] | None = None,
    manifest_sites: list[dict[str, Any]] | None = None,
    munich: dict[str, Any] | None = None,
    extra: list[PolicyResource] | None = None,
    drop: tuple[str, ...] = (),
) -> list[PolicyResource]:
    """hq (standard, shared cluster) and munich (regulated, own cluster); edits via arguments."""
    munich = munich or {}
    tags = {"site": "munich", "residency": "regulated"}
    site = stack_resource("hybrid:platform:Site", {}, "munich")
    resources = {
        "site": site,
        "shared": stack_resource(
            "aws:ecs/cluster:Cluster",
            {"name": "hybrid-prod-shared", "arn": cluster_arn("hybrid-prod-shared")},
            "shared",
        ),
        "cluster": stack_resource(
            "aws:ecs/cluster:Cluster",
            {"name": "hybrid-prod-munich", "arn": cluster_arn("hybrid-prod-munich"), "tags": tags},
            "munich-cluster",
            parent=site,
        ),
        "td": stack_resource(
            "aws:ecs/taskDefinition:TaskDefinition",
            {
                "family": "hybrid-prod-munich-etl",
                "arn": f"{td_arn('hybrid-prod-munich-etl')}:1",
                "arnWithoutRevision": td_arn("hybrid-prod-munich-etl"),
                "requiresCompatibilities": munich.get("compat", ["EXTERNAL"]),
                "placementConstraints": [
                    {"type": "memberOf", "expression": "attribute:site == munich"}
                ],
                "tags": tags,
            },
            "munich-td",
            parent=site,
        ),
        "hq-td": stack_resource(
            "aws:ecs/taskDefinition:TaskDefinition",
            {
                "family": "hybrid-prod-hq-etl",
                "arn": f"{td_arn('hybrid-prod-hq-etl')}:1",
                "arnWithoutRevision": td_arn("hybrid-prod-hq-etl"),
                "requiresCompatibilities": ["FARGATE"],
                "tags": {"site": "hq", "residency": "standard"},
            },
            "hq-td",
        ),
        "activation": stack_resource(
            "aws:ssm/activation:Activation", {"tags": tags}, "munich-activation", parent=site
        ),
        "secret": stack_resource(
            "aws:secretsmanager/secret:Secret",
            {
                "kmsKeyId": KEY_ARN,
                "arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:munich-db-a1b2c3",
                "tags": tags,
            },
            "munich-db",
            parent=site,
        ),
        "key": stack_resource(
            "aws:kms/key:Key",
            {"arn": KEY_ARN, "enableKeyRotation": True, "tags": tags},
            "munich-key",
            parent=site,
        ),
        "mwaa-role": stack_resource(
            "aws:iam/role:Role",
            {"name": "hybrid-prod-mwaa", "arn": f"arn:aws:iam::{ACCOUNT}:role/hybrid-prod-mwaa"},
            "mwaa-role",
        ),
        "orchestrator": stack_resource(
            "aws:iam/rolePolicy:RolePolicy",
            {
                "role": "hybrid-prod-mwaa",
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": statements
                        if statements is not None
                        else [
                            run_task("munich", "hybrid-prod-munich"),
                            run_task("hq", "hybrid-prod-shared"),
                        ],
                    }
                ),
            },
            "orchestrator-policy",
        ),
        "manifest": stack_resource(
            "aws:s3/bucketObjectv2:BucketObjectv2",
            {
                "key": "dags/sites-manifest.json",
                "content": json.dumps(
                    {
                        "version": 1,
                        "cluster": "hybrid-prod-shared",
                        "sites": manifest_sites
                        if manifest_sites is not None
                        else [manifest_entry("hq"), manifest_entry("munich")],
                    }
                ),
            },
            "manifest",
        ),
    }
    return [r for key, r in resources.items() if key not in drop] + (extra or [])


STACK_POLICIES = (
    "sites-known-to-compliance",
    "regulated-sites-isolated",
    "regulated-data-access-confined",
    "regulated-data-egress",
    "regulated-workloads-on-site",
    "regulated-sites-complete",
    "manifest-routes-regulated-external",
)


@pytest.mark.parametrize("policy", STACK_POLICIES)
def test_the_compliant_stack_passes(policy: str) -> None:
    assert violations(policy, stack_args(build_stack())) == []


def test_orchestrator_without_cluster_condition_is_not_isolated() -> None:
    stack = build_stack(statements=[run_task("munich", None)])
    found = violations("regulated-sites-isolated", stack_args(stack))
    assert len(found) == 1
    assert "on any cluster" in found[0]
    assert "munich" in found[0]


def test_orchestrator_running_a_regulated_task_on_the_shared_cluster() -> None:
    stack = build_stack(statements=[run_task("munich", "hybrid-prod-shared")])
    found = violations("regulated-sites-isolated", stack_args(stack))
    assert len(found) == 1
    assert "hybrid-prod-shared" in found[0]


def test_another_sites_tasks_on_a_regulated_cluster() -> None:
    stack = build_stack(
        statements=[run_task("munich", "hybrid-prod-munich"), run_task("hq", "hybrid-prod-munich")]
    )
    found = violations("regulated-sites-isolated", stack_args(stack))
    assert found == [
        "role hybrid-prod-mwaa may run task definition hq-td on regulated site munich's cluster "
        "(role policy orchestrator-policy statement RunEtlhq)"
    ]


def test_a_wildcard_run_task_grant_covers_regulated_tasks() -> None:
    statement = {"Sid": "All", "Effect": "Allow", "Action": "ecs:*", "Resource": "*"}
    found = violations("regulated-sites-isolated", stack_args(build_stack(statements=[statement])))
    assert any("on any cluster" in f for f in found)


def test_a_regulated_site_without_its_own_cluster() -> None:
    stack = build_stack(drop=("cluster",))
    assert (
        "no ECS cluster of its own" in violations("regulated-sites-isolated", stack_args(stack))[0]
    )
    complete = violations("regulated-sites-complete", stack_args(stack))
    assert complete == ["regulated site munich lacks a cluster of its own"]


@pytest.mark.parametrize(
    ("drop", "munich", "missing"),
    [
        (("activation",), {}, "an ECS Anywhere activation"),
        (("secret",), {}, "a DB secret encrypted with a customer-managed key of this stack"),
        (("key",), {}, "a DB secret encrypted with a customer-managed key of this stack"),
        ((), {"compat": ["FARGATE"]}, "a task definition requiring EXTERNAL pinned to site=munich"),
    ],
)
def test_regulated_sites_complete(drop, munich, missing) -> None:
    found = violations(
        "regulated-sites-complete", stack_args(build_stack(drop=drop, munich=munich))
    )
    assert found == [f"regulated site munich lacks {missing}"]


def service(**props: Any) -> PolicyResource:
    return stack_resource("aws:ecs/service:Service", props, "svc")


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (
            {
                "cluster": cluster_arn("hybrid-prod-munich"),
                "launchType": "EXTERNAL",
                "tags": {"site": "munich", "residency": "regulated"},
            },
            0,
        ),
        # Right cluster and launch type, but an untagged member is a violation of its own.
        ({"cluster": cluster_arn("hybrid-prod-munich"), "launchType": "EXTERNAL"}, 1),
        ({"cluster": cluster_arn("hybrid-prod-munich"), "launchType": "FARGATE"}, 1),
        (
            {
                "cluster": cluster_arn("hybrid-prod-shared"),
                "taskDefinition": f"{td_arn('hybrid-prod-munich-etl')}:3",
            },
            1,
        ),
        (
            {
                "tags": {"site": "munich", "residency": "regulated"},
                "capacityProviderStrategies": [{"capacityProvider": "FARGATE", "weight": 1}],
            },
            1,
        ),
        ({"cluster": cluster_arn("hybrid-prod-shared"), "launchType": "FARGATE"}, 0),
    ],
)
def test_regulated_services_external_only(props, expected) -> None:
    stack = build_stack(extra=[service(**props)])
    assert len(violations("regulated-workloads-on-site", stack_args(stack))) == expected


def test_capacity_providers_on_a_regulated_cluster() -> None:
    providers = stack_resource(
        "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
        {"clusterName": "hybrid-prod-munich", "capacityProviders": ["FARGATE"]},
        "cp",
    )
    [found] = violations("regulated-workloads-on-site", stack_args(build_stack(extra=[providers])))
    assert found.startswith(
        "cluster capacity providers cp belongs to regulated site munich (names munich's cluster "
        "hybrid-prod-munich (clusterName)) but adds capacity providers ['FARGATE'] to its cluster"
    )


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (manifest_entry("munich", launchType="FARGATE"), "routes it to FARGATE"),
        (manifest_entry("munich", residency="standard"), "calls it 'standard'"),
        (manifest_entry("munich", cluster="hybrid-prod-shared"), "not its own"),
        (manifest_entry("munich", placementConstraints=[]), "does not pin it"),
        (
            manifest_entry("munich", networkConfiguration={"awsvpcConfiguration": {}}),
            "awsvpc network configuration",
        ),
    ],
)
def test_manifest_routes_regulated_external(entry, problem) -> None:
    stack = build_stack(manifest_sites=[manifest_entry("hq"), entry])
    found = violations("manifest-routes-regulated-external", stack_args(stack))
    assert len(found) == 1
    assert problem in found[0]


def test_a_manifest_missing_a_regulated_site() -> None:
    stack = build_stack(manifest_sites=[manifest_entry("hq")])
    assert violations("manifest-routes-regulated-external", stack_args(stack)) == [
        "no sites manifest has an entry for regulated site munich"
    ]


def test_no_manifest_at_all() -> None:
    stack = build_stack(drop=("manifest",))
    assert violations("manifest-routes-regulated-external", stack_args(stack)) == [
        "the stack publishes no sites manifest (sites-manifest.json)"
    ]


# --- buckets ---------------------------------------------------------------------------------


def bucket_stack(**settings: dict[str, Any] | None) -> list[PolicyResource]:
    bucket = stack_resource(
        "aws:s3/bucket:Bucket",
        {"bucket": "lake", "arn": "arn:aws:s3:::lake", "tags": {"purpose": "data-lake"}},
        "lake",
    )
    defaults: dict[str, tuple[str, dict[str, Any]]] = {
        "sse": (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            {
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": "arn:aws:kms:eu-central-1:1:key/k",
                        }
                    }
                ]
            },
        ),
        "pab": (
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            {
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        "versioning": (
            "aws:s3/bucketVersioning:BucketVersioning",
            {"versioningConfiguration": {"status": "Enabled"}},
        ),
        "policy": (
            "aws:s3/bucketPolicy:BucketPolicy",
            {
                "role": "hybrid-prod-mwaa",
                "policy": json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": ["arn:aws:s3:::lake", "arn:aws:s3:::lake/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    }
                ),
            },
        ),
    }
    key_resource = stack_resource(
        "aws:kms/key:Key", {"arn": "arn:aws:kms:eu-central-1:1:key/k"}, "lake-key"
    )
    resources = [bucket, key_resource]
    for key, (token, props) in defaults.items():
        if key in settings and settings[key] is None:
            continue
        merged = {"bucket": "other-name", **props, **(settings.get(key) or {})}
        resources.append(
            stack_resource(token, merged, f"lake-{key}", property_dependencies={"bucket": [bucket]})
        )
    return resources


BUCKET_POLICIES = (
    "lake-encrypted-kms",
    "lake-public-access-blocked",
    "lake-tls-only",
    "lake-versioned",
)


@pytest.mark.parametrize("policy", BUCKET_POLICIES)
def test_a_guarded_bucket_passes(policy: str) -> None:
    assert violations(policy, stack_args(bucket_stack())) == []


@pytest.mark.parametrize(
    ("policy", "missing"),
    [
        ("lake-encrypted-kms", "sse"),
        ("lake-public-access-blocked", "pab"),
        ("lake-tls-only", "policy"),
        ("lake-versioned", "versioning"),
    ],
)
def test_a_bucket_without_its_setting_fails(policy: str, missing: str) -> None:
    found = violations(policy, stack_args(bucket_stack(**{missing: None})))
    assert len(found) == 1
    assert found[0].startswith("bucket lake ")


@pytest.mark.parametrize(
    ("policy", "setting", "change"),
    [
        (
            "lake-encrypted-kms",
            "sse",
            {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        ),
        ("lake-public-access-blocked", "pab", {"restrictPublicBuckets": False}),
        ("lake-versioned", "versioning", {"versioningConfiguration": {"status": "Suspended"}}),
        ("lake-tls-only", "policy", {"policy": json.dumps({"Statement": []})}),
    ],
)
def test_a_weakened_setting_fails(policy: str, setting: str, change: dict[str, Any]) -> None:
    assert len(violations(policy, stack_args(bucket_stack(**{setting: change})))) == 1


def test_a_wildcard_cluster_condition_is_any_cluster() -> None:
    statement = run_task("munich", None)
    statement["Condition"] = {
        "ArnEquals": {"ecs:cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/*"}
    }
    found = violations("regulated-sites-isolated", stack_args(build_stack(statements=[statement])))
    assert any("on any cluster" in f for f in found)


def test_an_unknown_key_arn_is_decided_through_the_dependency() -> None:
    """At preview the engine marks only the key's ARN unknown inside the rules."""
    resources = bucket_stack(
        sse={
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
                    }
                }
            ]
        }
    )
    key = next(r for r in resources if r.name == "lake-key")
    sse = next(r for r in resources if r.name == "lake-sse")
    sse.property_dependencies["rules"] = [key]
    assert violations("lake-encrypted-kms", stack_args(resources)) == []
    sse.property_dependencies["rules"] = []
    from pulumi_policy.proxy import UnknownValueError

    with pytest.raises(UnknownValueError):  # a security rule: the engine's advisory note
        violations("lake-encrypted-kms", stack_args(resources))
