"""The program's resources, as captured from the real program under mocks (preview=False)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from hybridctl.capture import REDACTED, Capture, CapturedResource
from hybridctl.mocks import ACCOUNT_ID
from tests.program.conftest import DB_PASSWORD, allows, arn_of, of_type, one, policy_of

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
SECRET = "aws:secretsmanager/secret:Secret"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
GLUE_DATABASE = "aws:glue/catalogDatabase:CatalogDatabase"
REGULATED = ("munich", "dublin")


def parent_type(capture: Capture, urn: str) -> str:
    return capture.by_urn()[urn].type


def test_each_component_owns_its_resources(prod: Capture) -> None:
    expected = {
        "aws:ec2/vpc:Vpc": "hybrid:platform:Network",
        "aws:ec2/natGateway:NatGateway": "hybrid:platform:Network",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "hybrid:platform:DataLake",
        "aws:ecr/repository:Repository": "hybrid:platform:ImageRegistry",
        "aws:ecs/cluster:Cluster": "hybrid:platform:EtlCluster",
        TASK_DEF: "hybrid:platform:Site",
        "aws:ssm/activation:Activation": "hybrid:platform:Site",
        "aws:mwaa/environment:Environment": "hybrid:platform:Orchestrator",
    }
    for token, component in expected.items():
        resources = of_type(prod, token)
        assert resources, token
        assert {parent_type(prod, r.parent) for r in resources} == {component}, token


def test_network_has_two_private_subnets_in_two_zones(prod: Capture) -> None:
    private = [r for r in of_type(prod, "aws:ec2/subnet:Subnet") if "private" in r.name]
    assert sorted(r.inputs["availabilityZone"] for r in private) == [
        "eu-central-1a",
        "eu-central-1b",
    ]
    mwaa = one(prod, "aws:mwaa/environment:Environment", None)
    assert sorted(mwaa.inputs["networkConfiguration"]["subnetIds"]) == sorted(r.id for r in private)


def test_regulated_onprem_sites_run_external_pinned_on_their_own_cluster(prod: Capture) -> None:
    for site in REGULATED:
        task = one(prod, TASK_DEF, site)
        assert task.inputs["requiresCompatibilities"] == ["EXTERNAL"]
        assert task.inputs["networkMode"] == "bridge"
        assert task.inputs["placementConstraints"] == [
            {"type": "memberOf", "expression": f"attribute:site == {site}"}
        ]
        cluster = one(prod, "aws:ecs/cluster:Cluster", site)
        assert cluster.inputs["name"] == f"hybrid-prod-{site}"
        assert cluster.inputs["tags"]["residency"] == "regulated"


def test_regulated_secrets_use_a_key_of_their_own(prod: Capture) -> None:
    for site in REGULATED:
        secret = one(prod, SECRET, site)
        assert secret.inputs["kmsKeyId"] == arn_of(prod, "aws:kms/key:Key", site)
    assert "kmsKeyId" not in one(prod, SECRET, "hq").inputs


def test_cloud_site_runs_on_fargate_in_the_private_subnets(prod: Capture) -> None:
    task = one(prod, TASK_DEF, "hq")
    assert task.inputs["requiresCompatibilities"] == ["FARGATE"]
    assert task.inputs["networkMode"] == "awsvpc"
    assert task.inputs["placementConstraints"] == []
    assert of_type(prod, "aws:ssm/activation:Activation", "hq") == []


def test_regional_resources_of_a_site_live_in_its_region(prod: Capture) -> None:
    """Everything but the catalog, which lives beside the data it describes, in the lake."""
    dublin = [
        r
        for r in prod.custom()
        if r.site == "dublin" and not r.type.startswith("aws:iam") and r.type != GLUE_DATABASE
    ]
    assert dublin
    assert {r.inputs.get("region") for r in dublin} == {"eu-west-1"}
    assert one(prod, GLUE_DATABASE, "dublin").inputs["region"] == "eu-central-1"


def test_container_gets_its_config_from_the_contract_and_no_credentials(prod: Capture) -> None:
    """Every value is a name the program writes (known at a first preview); each names what the
    provider creates: the secret by name, the image by the repository's URL."""
    task = one(prod, TASK_DEF, "munich")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    lake = next(r for r in of_type(prod, "aws:s3/bucket:Bucket") if r.name == "lake-bucket")
    assert env == {
        "ETL_SECRET_ID": one(prod, SECRET, "munich").outputs["name"],
        "ETL_BUCKET": lake.outputs["bucket"],
        "ETL_SITE": "munich",
        "ETL_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
        "ETL_FORMAT": "parquet",
        "ETL_GLUE_DATABASE": "hybrid_prod_munich",
        "ETL_GLUE_REGION": "eu-central-1",
    }
    assert env["ETL_SECRET_ID"] == "hybrid/prod/munich/db"
    repository = one(prod, "aws:ecr/repository:Repository", None)
    assert container["image"] == f"{repository.outputs['repositoryUrl']}:0.1.0"
    assert (
        container["image"]
        == f"{ACCOUNT_ID}.dkr.ecr.eu-central-1.amazonaws.com/hybrid-prod-etl:0.1.0"
    )
    assert container["logConfiguration"]["options"] == {
        "awslogs-group": "/hybrid/prod/munich/etl",
        "awslogs-region": "eu-central-1",
        "awslogs-stream-prefix": "etl",
    }


def key_context(prod: Capture, key: CapturedResource) -> dict[str, list[str]]:
    """What a KMS request on `key` carries: its aliases (`kms:ResourceAliases`)."""
    aliases = [
        a.inputs["name"]
        for a in of_type(prod, "aws:kms/alias:Alias")
        if key.urn in a.property_dependencies.get("targetKeyId", [])
    ]
    assert aliases, key.name
    return {"kms:resourcealiases": aliases}


@pytest.mark.parametrize("site", ["hq", "munich", "dublin"])
def test_task_role_reaches_only_its_own_secret_prefix_and_logs(prod: Capture, site: str) -> None:
    """The documents are written from names (secret `<name>-??????`, keys by alias); judged by
    the policy pack's IAM evaluator against the ARNs the provider assigns (the mocks' ARNs carry
    AWS's random secret suffix and key ids), they reach exactly the site's own resources."""
    policy = policy_of(
        next(r for r in of_type(prod, ROLE_POLICY, site) if r.name.endswith("-task"))
    )
    bucket = next(r for r in of_type(prod, "aws:s3/bucket:Bucket") if r.name == "lake-bucket")
    lake = bucket.outputs["arn"]
    keys = {r.name: r for r in of_type(prod, "aws:kms/key:Key")}
    for other in ("hq", "munich", "dublin"):
        own = other == site
        secret = arn_of(prod, SECRET, other)
        assert re.fullmatch(r"[0-9a-f]{6}", secret.rsplit("-", 1)[1])  # AWS's random suffix
        assert allows(policy, "secretsmanager:GetSecretValue", secret) is own, other
        assert not allows(policy, "secretsmanager:PutSecretValue", secret)
        assert allows(policy, "s3:PutObject", f"{lake}/{other}/t/run=1/part-00000.parquet") is own
        assert not allows(policy, "s3:GetObject", f"{lake}/{other}/t/run=1/part-00000.parquet")
        log_group = arn_of(prod, "aws:cloudwatch/logGroup:LogGroup", other)
        assert allows(policy, "logs:PutLogEvents", f"{log_group}:log-stream:etl/etl/1") is own
        if other in REGULATED:
            key = keys[f"hybrid-prod-{other}-secrets"]
            context = key_context(prod, key)
            assert allows(policy, "kms:Decrypt", key.outputs["arn"], context) is own, other
    lake_key = keys["lake-key"]
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert allows(policy, action, lake_key.outputs["arn"], key_context(prod, lake_key))
    for name, key in keys.items():
        if name != "lake-key" and name != f"hybrid-prod-{site}-secrets":
            assert not allows(policy, "kms:Decrypt", key.outputs["arn"], key_context(prod, key))
    assert not allows(policy, "s3:PutObject", f"{lake}/_athena/x.csv")
    # The exact statements, so a widening shows here first.
    resources = {
        tuple(s["Action"]): (s["Resource"], s.get("Condition")) for s in policy["Statement"]
    }
    head = f"{ACCOUNT_ID}"
    expected_keys = {
        ("kms:Decrypt", "kms:GenerateDataKey"): (
            [f"arn:aws:kms:eu-central-1:{head}:key/*"],
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/hybrid-prod-lake"]}},
        ),
    }
    region = one(prod, SECRET, site).inputs["region"]
    if site in REGULATED:
        expected_keys[("kms:Decrypt",)] = (
            [f"arn:aws:kms:{region}:{head}:key/*"],
            {
                "ForAnyValue:StringEquals": {
                    "kms:ResourceAliases": [f"alias/hybrid-prod-{site}-secrets"]
                }
            },
        )
    assert {k: v for k, v in resources.items() if k[0].startswith("kms:")} == expected_keys
    assert resources[("secretsmanager:GetSecretValue",)] == (
        [f"arn:aws:secretsmanager:{region}:{head}:secret:hybrid/prod/{site}/db-??????"],
        None,
    )
    assert resources[("s3:ListBucket",)] == (
        [lake],
        {"StringLike": {"s3:prefix": [f"{site}/*"]}},
    )


def test_task_role_is_assumed_by_ecs_tasks_only(prod: Capture) -> None:
    role = next(r for r in of_type(prod, "aws:iam/role:Role", "munich") if r.name.endswith("-task"))
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert role.inputs["tags"]["purpose"] == "etl-task"


def test_orchestrator_runs_each_site_task_only_on_its_cluster(prod: Capture) -> None:
    policy = policy_of(one(prod, ROLE_POLICY, None))
    run_task = [s for s in policy["Statement"] if s["Action"] == ["ecs:RunTask"]]
    granted = {s["Resource"][0]: s["Condition"]["ArnEquals"]["ecs:cluster"] for s in run_task}
    shared_cluster = next(r for r in of_type(prod, "aws:ecs/cluster:Cluster") if r.site is None)
    expected = {}
    for site in ("hq", *REGULATED):
        task = one(prod, TASK_DEF, site)
        cluster = shared_cluster if site == "hq" else one(prod, "aws:ecs/cluster:Cluster", site)
        expected[task.outputs["arnWithoutRevision"] + ":*"] = cluster.outputs["arn"]
    assert granted == expected

    (pass_role,) = [s for s in policy["Statement"] if s["Action"] == ["iam:PassRole"]]
    site_roles = sorted(
        r.outputs["arn"]
        for r in of_type(prod, "aws:iam/role:Role")
        if r.site and r.inputs["tags"]["purpose"] in ("etl-task", "etl-execution")
    )
    assert pass_role["Resource"] == site_roles
    (logs,) = [s for s in policy["Statement"] if s["Action"] == ["logs:GetLogEvents"]]
    assert logs["Resource"] == sorted(
        arn_of(prod, "aws:cloudwatch/logGroup:LogGroup", s) + ":log-stream:*"
        for s in ("hq", *REGULATED)
    )


def test_no_role_policy_grants_a_wildcard_write(prod: Capture) -> None:
    for resource in of_type(prod, ROLE_POLICY):
        for statement in policy_of(resource)["Statement"]:
            assert "*" not in statement["Action"], resource.name
            if statement["Resource"] == "*":
                assert statement["Action"] in (
                    ["ecr:GetAuthorizationToken"],
                    ["ecs:DiscoverPollEndpoint"],
                    ["s3:GetAccountPublicAccessBlock"],
                    ["logs:DescribeLogGroups"],
                    ["cloudwatch:PutMetricData"],
                ), (resource.name, statement)
                if statement["Action"] == ["cloudwatch:PutMetricData"]:
                    assert statement["Condition"]


def test_activation_expires_within_its_config_and_limits_registrations(prod: Capture) -> None:
    activation = one(prod, "aws:ssm/activation:Activation", "munich")
    expires = datetime.fromisoformat(activation.inputs["expirationDate"].replace("Z", "+00:00"))
    assert timedelta(days=13) < expires - datetime.now(UTC) <= timedelta(days=14)
    assert activation.inputs["registrationLimit"] == 2
    agent_role = next(
        r for r in of_type(prod, "aws:iam/role:Role", "munich") if r.name.endswith("-agent")
    )
    assert activation.inputs["iamRole"] == agent_role.outputs["name"]
    agent_policy = next(
        r for r in of_type(prod, ROLE_POLICY, "munich") if r.name.endswith("-agent-ecs")
    )
    join = next(s for s in policy_of(agent_policy)["Statement"] if s["Sid"] == "JoinOwnCluster")
    assert join["Resource"] == [arn_of(prod, "aws:ecs/cluster:Cluster", "munich")]


def test_every_taggable_resource_is_tagged(prod: Capture) -> None:
    taggable = [r for r in prod.custom() if "tags" in r.inputs]
    assert len(taggable) > 30
    for resource in taggable:
        tags = resource.inputs["tags"]
        assert tags["environment"] == "prod", resource.name
        if resource.site:
            assert tags["site"] == resource.site, resource.name
            assert tags["residency"] in ("standard", "regulated"), resource.name


def test_buckets_are_encrypted_versioned_private_and_tls_only(prod: Capture) -> None:
    buckets = of_type(prod, "aws:s3/bucket:Bucket")
    assert {b.inputs["tags"]["purpose"] for b in buckets} == {"data-lake", "dags"}
    for bucket in buckets:

        def attached(token: str, bucket: CapturedResource = bucket) -> dict:
            (setting,) = [
                r
                for r in of_type(prod, token)
                if r.property_dependencies.get("bucket") == [bucket.urn]
            ]
            return setting.inputs

        sse = attached(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        assert attached("aws:s3/bucketVersioning:BucketVersioning")["versioningConfiguration"] == {
            "status": "Enabled"
        }
        block = attached("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert all(
            block[k]
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )
        deny = json.loads(attached("aws:s3/bucketPolicy:BucketPolicy")["policy"])["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_lake_key_rotates_and_each_site_has_a_retention_rule(prod: Capture) -> None:
    key = next(r for r in of_type(prod, "aws:kms/key:Key") if r.name == "lake-key")
    assert key.inputs["enableKeyRotation"] is True
    rules = one(
        prod, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", None
    ).inputs["rules"]
    prefixes = {r["filter"]["prefix"]: r.get("expiration", {}).get("days") for r in rules}
    assert prefixes == {"": None, "hq/": 365, "munich/": 365, "dublin/": 365, "_athena/": 7}


def test_ecr_scans_on_push_with_immutable_tags(prod: Capture) -> None:
    repo = one(prod, "aws:ecr/repository:Repository", None)
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS"}]


def test_mwaa_is_private_logged_and_encrypted(prod: Capture) -> None:
    mwaa = one(prod, "aws:mwaa/environment:Environment", None)
    assert mwaa.inputs["webserverAccessMode"] == "PRIVATE_ONLY"
    assert mwaa.inputs["airflowVersion"] == "3.3.1"
    assert set(mwaa.inputs["loggingConfiguration"]) == {
        "dagProcessingLogs",
        "schedulerLogs",
        "taskLogs",
        "webserverLogs",
        "workerLogs",
    }
    assert all(v["enabled"] for v in mwaa.inputs["loggingConfiguration"].values())
    assert (
        mwaa.inputs["kmsKey"]
        == next(
            r for r in of_type(prod, "aws:kms/key:Key") if r.name == "orchestrator-key"
        ).outputs["arn"]
    )
    assert mwaa.inputs["sourceBucketArn"].startswith("arn:aws:s3:::airflow-hybrid-prod-")


def test_db_password_is_stored_only_as_a_secret(prod_with_database: Capture) -> None:
    version = one(prod_with_database, "aws:secretsmanager/secretVersion:SecretVersion", "munich")
    assert version.inputs["secretString"] == REDACTED
    raw = version.raw_inputs["secretString"]
    secret_value = json.loads(raw["value"])
    assert secret_value == {
        "host": "db.munich.example",
        "port": 3306,
        "username": "etl",
        "password": DB_PASSWORD,
        "database": "clinic",
        "tls": False,
    }
    for resource in prod_with_database.resources:
        assert DB_PASSWORD not in json.dumps(resource.inputs), resource.name


def test_sites_without_a_database_get_an_empty_secret(prod: Capture) -> None:
    assert of_type(prod, "aws:secretsmanager/secretVersion:SecretVersion") == []
    assert len(of_type(prod, SECRET)) == 3


def test_dev_standard_onprem_site_shares_the_cluster_but_is_pinned(dev: Capture) -> None:
    task = one(dev, TASK_DEF, "plant-ohio")
    assert task.inputs["requiresCompatibilities"] == ["EXTERNAL"]
    assert task.inputs["placementConstraints"] == [
        {"type": "memberOf", "expression": "attribute:site == plant-ohio"}
    ]
    clusters = of_type(dev, "aws:ecs/cluster:Cluster")
    assert [c.inputs["name"] for c in clusters] == ["hybrid-dev-shared"]
    assert one(dev, "aws:ssm/activation:Activation", "plant-ohio").inputs["registrationLimit"] == 2
