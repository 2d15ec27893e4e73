"""What a first `pulumi preview` knows: every document the policy pack decides residency on.

The program is captured as the engine previews a new stack (`hybridctl.capture`, mode
`preview`: provider-computed outputs unknown, and every input built from one). IAM documents,
bucket policies, container definitions, bucket names and the sites manifest must be known, and
exactly what `pulumi up` will send; the inputs left unknown are the provider-computed ids the
pack reads through the engine's dependencies instead. Explicit bucket names come from the
account (an invoke, known at preview) or the stack's override.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError, parse_config
from hybridctl.capture import Capture, capture
from hybridctl.mocks import ACCOUNT_ID
from hybridctl.stackfile import STACKS_DIR, load
from hybridctl.wire import UNKNOWN_BY_TYPE
from tests.program.conftest import of_type, stack_with

UNKNOWN = frozenset(UNKNOWN_BY_TYPE.values())
# (type, input) the residency rules read: known at preview, and equal to what `up` sends.
DECIDED_AT_PREVIEW = {
    "aws:iam/rolePolicy:RolePolicy": ("policy", "role"),
    "aws:iam/role:Role": ("name", "assumeRolePolicy"),
    "aws:kms/key:Key": ("policy",),
    "aws:kms/alias:Alias": ("name",),
    "aws:ecs/taskDefinition:TaskDefinition": (
        "containerDefinitions",
        "family",
        "requiresCompatibilities",
        "placementConstraints",
    ),
    "aws:s3/bucket:Bucket": ("bucket",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy", "bucket"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("bucket",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("bucket",),
    "aws:glue/catalogDatabase:CatalogDatabase": ("name", "locationUri", "region"),
    "aws:secretsmanager/secret:Secret": ("name", "region"),
}
# Inputs a first preview cannot know, and why the pack does not need them.
UNKNOWN_AT_PREVIEW = {
    # key ids and ARNs: the pack follows the property dependency to the stack's own key
    ("aws:kms/alias:Alias", "targetKeyId"),
    ("aws:secretsmanager/secret:Secret", "kmsKeyId"),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "rules",
    ),
    ("aws:athena/workgroup:Workgroup", "configuration"),
    # roles by dependency (membership and task-role writes read `taskRoleArn`'s dependency)
    ("aws:ecs/taskDefinition:TaskDefinition", "taskRoleArn"),
    ("aws:ecs/taskDefinition:TaskDefinition", "executionRoleArn"),
    # network ids: sites-network.json is unknown by design (docs/contracts.md, section 2)
    ("aws:s3/bucketObjectv2:BucketObjectv2", "content"),
    ("aws:mwaa/environment:Environment", "networkConfiguration"),
    ("aws:mwaa/environment:Environment", "executionRoleArn"),
    ("aws:mwaa/environment:Environment", "kmsKey"),
    ("aws:mwaa/environment:Environment", "sourceBucketArn"),
    ("aws:mwaa/environment:Environment", "requirementsS3ObjectVersion"),
}


def unknown_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path] if value in UNKNOWN else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in unknown_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in unknown_paths(v, f"{path}[{i}]")]
    return []


@pytest.fixture(scope="module", params=["prod", "dev"])
def both(request: pytest.FixtureRequest) -> tuple[Capture, Capture]:
    stack = load(STACKS_DIR / f"Pulumi.{request.param}.yaml")
    return capture(stack, mode="preview"), capture(stack, mode="up")


def test_residency_inputs_are_known_at_preview_and_what_up_sends(
    both: tuple[Capture, Capture],
) -> None:
    preview, up = both
    sent_at_up = {r.urn: r.raw_inputs for r in up.resources}
    checked = 0
    for resource in preview.resources:
        for key in DECIDED_AT_PREVIEW.get(resource.type, ()):
            value = resource.raw_inputs.get(key)
            if value is None:
                continue
            assert unknown_paths(value) == [], (resource.name, key)
            assert value == sent_at_up[resource.urn][key], (resource.name, key)
            checked += 1
    assert checked > 50
    manifest = preview.manifest_text()
    assert manifest is not None
    assert manifest == up.manifest_text()


def test_only_provider_computed_ids_stay_unknown(both: tuple[Capture, Capture]) -> None:
    preview, _ = both
    unknown = {
        (r.type, path.split(".")[1].split("[")[0])
        for r in preview.resources
        for path in unknown_paths(r.raw_inputs)
        if not r.type.startswith("aws:ec2/")  # the network is all provider ids
    }
    assert unknown <= UNKNOWN_AT_PREVIEW, sorted(unknown - UNKNOWN_AT_PREVIEW)


def test_the_buckets_are_named_from_the_account_and_region(both: tuple[Capture, Capture]) -> None:
    preview, _ = both
    names = {r.name: r.raw_inputs["bucket"] for r in of_type(preview, "aws:s3/bucket:Bucket")}
    env, region = preview.stack, preview.region
    assert names == {
        "lake-bucket": f"hybrid-{env}-lake-{ACCOUNT_ID}-{region}",
        "orchestrator-dags": f"airflow-hybrid-{env}-dags-{ACCOUNT_ID}-{region}",
    }
    assert all(len(name) <= 63 for name in names.values())
    for resource in of_type(preview, "aws:s3/bucket:Bucket"):
        assert "bucketPrefix" not in resource.raw_inputs


def test_an_existing_stack_keeps_its_buckets_by_name() -> None:
    """A bucket cannot be renamed: a stack deployed with generated names sets them in config."""

    def keep(config: dict[str, Any]) -> None:
        platform = config["hybrid-airflow:platform"]
        platform["dataLake"]["bucketName"] = "hybrid-prod-lake-1e4f6c0"
        platform["orchestrator"]["dagBucketName"] = "airflow-hybrid-prod-9d492ac"

    captured = capture(stack_with(keep), mode="preview")
    buckets = {r.name: r.raw_inputs["bucket"] for r in of_type(captured, "aws:s3/bucket:Bucket")}
    assert buckets == {
        "lake-bucket": "hybrid-prod-lake-1e4f6c0",
        "orchestrator-dags": "airflow-hybrid-prod-9d492ac",
    }
    documents = " ".join(
        json.dumps(r.raw_inputs)
        for r in captured.resources
        if r.type
        in (
            "aws:iam/rolePolicy:RolePolicy",
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:ecs/taskDefinition:TaskDefinition",
            "aws:glue/catalogDatabase:CatalogDatabase",
        )
    )
    assert "arn:aws:s3:::hybrid-prod-lake-1e4f6c0/munich/*" in documents
    assert "arn:aws:s3:::airflow-hybrid-prod-9d492ac/*" in documents
    assert "s3://hybrid-prod-lake-1e4f6c0/munich/" in documents
    assert f"lake-{ACCOUNT_ID}" not in documents
    assert f"dags-{ACCOUNT_ID}" not in documents


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (
            {"dataLake": {"bucketName": "Hybrid_Lake"}},
            "platform.dataLake.bucketName: must be an S3 bucket name: 3-63 lowercase letters, "
            "digits and '-', starting and ending with a letter or digit (no dots: they break TLS "
            "for virtual-hosted access)",
        ),
        (
            {"dataLake": {"bucketName": "lake.example.com"}},
            "platform.dataLake.bucketName: must be an S3 bucket name",
        ),
        (
            {"dataLake": {"bucketName": "x" * 64}},
            "platform.dataLake.bucketName: must be an S3 bucket name",
        ),
        (
            {"dataLake": {"bucketName": "xn--lake"}},
            "platform.dataLake.bucketName: uses a prefix or suffix S3 reserves",
        ),
        (
            {"dataLake": {"bucketName": "my-lake-s3alias"}},
            "platform.dataLake.bucketName: uses a prefix or suffix S3 reserves",
        ),
        (
            {"orchestrator": {"dagBucketName": "hybrid-prod-dags"}},
            "platform.orchestrator.dagBucketName: must start with 'airflow-': MWAA accepts no "
            "other source bucket",
        ),
        (
            {
                "dataLake": {"bucketName": "airflow-both"},
                "orchestrator": {"dagBucketName": "airflow-both"},
            },
            "platform: dataLake.bucketName and orchestrator.dagBucketName are both "
            "'airflow-both': the lake and the DAG bucket are two buckets",
        ),
    ],
)
def test_bucket_name_overrides_are_checked(platform: dict[str, Any], expected: str) -> None:
    site = {
        "name": "hq",
        "kind": "cloud",
        "residency": "standard",
        "region": "eu-central-1",
        "extracts": [{"name": "t", "query": "SELECT 1"}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config("eu-central-1", {"environment": "prod", **platform}, [site])
    [problem] = caught.value.problems
    assert problem.startswith(expected), problem
