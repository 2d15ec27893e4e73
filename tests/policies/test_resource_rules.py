"""Each resource policy on ResourceValidationArgs fixtures: what passes, what fails, and why."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.policies.conftest import NOW, SITE_URN, UNKNOWN, config, resource_args, violations

TD = "aws:ecs/taskDefinition:TaskDefinition"
REGULATED = {"site": "munich", "residency": "regulated"}
PINNED = [{"type": "memberOf", "expression": "attribute:site == munich"}]


def task_definition(**props: Any) -> dict[str, Any]:
    base = {
        "family": "hybrid-prod-munich-etl",
        "requiresCompatibilities": ["EXTERNAL"],
        "networkMode": "bridge",
        "placementConstraints": PINNED,
        "containerDefinitions": json.dumps(
            [{"name": "etl", "environment": [{"name": "ETL_SECRET_ID", "value": "arn:aws:x"}]}]
        ),
        "tags": REGULATED,
    }
    return {**base, **props}


@pytest.mark.parametrize(
    ("compatibilities", "tags", "expected"),
    [
        (["EXTERNAL"], REGULATED, 0),
        (["FARGATE"], REGULATED, 1),
        (["EXTERNAL", "EC2"], REGULATED, 1),
        ([], REGULATED, 1),
        (["FARGATE"], {"site": "hq", "residency": "standard"}, 0),
    ],
)
def test_regulated_tasks_external_only(compatibilities, tags, expected) -> None:
    args = resource_args(TD, task_definition(requiresCompatibilities=compatibilities, tags=tags))
    found = violations("regulated-tasks-external-only", args)
    assert len(found) == expected
    if expected:
        assert "munich" in found[0]
        assert "EXTERNAL" in found[0]


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        (PINNED, 0),
        ([{"type": "memberOf", "expression": "attribute:site==munich"}], 0),
        ([], 1),
        ([{"type": "memberOf", "expression": "attribute:site == dublin"}], 1),
        ([{"type": "distinctInstance"}], 1),
        ([*PINNED, {"type": "memberOf", "expression": "attribute:site == dublin"}], 1),
    ],
)
def test_regulated_tasks_pinned_to_site(constraints, expected) -> None:
    args = resource_args(TD, task_definition(placementConstraints=constraints))
    assert len(violations("regulated-tasks-pinned-to-site", args)) == expected


def test_regulated_task_without_a_site_tag_is_not_pinned() -> None:
    args = resource_args(TD, task_definition(tags={"residency": "regulated"}))
    assert violations("regulated-tasks-pinned-to-site", args) == [
        "task definition r is regulated but carries no site tag"
    ]


def test_site_comes_from_the_parent_site_component_when_untagged() -> None:
    args = resource_args(
        TD,
        task_definition(tags={"residency": "regulated"}, placementConstraints=PINNED),
        parent=SITE_URN,
    )
    assert violations("regulated-tasks-pinned-to-site", args) == []


@pytest.mark.parametrize(
    ("props", "provider_region", "expected"),
    [
        ({}, "eu-central-1", 0),
        ({"region": "eu-west-1"}, "us-east-1", 0),  # the per-resource region wins
        ({"region": "us-east-1"}, "eu-central-1", 1),
        ({}, "us-west-2", 1),
    ],
)
def test_resources_in_allowed_regions(props, provider_region, expected) -> None:
    args = resource_args("aws:ecs/cluster:Cluster", props, region=provider_region)
    found = violations("resources-in-allowed-regions", args)
    assert len(found) == expected
    if expected:
        assert "outside allowedRegions ['eu-central-1', 'eu-west-1']" in found[0]


def test_global_resources_have_no_region() -> None:
    args = resource_args("aws:iam/role:Role", {"name": "x"}, region="us-east-1")
    assert violations("resources-in-allowed-regions", args) == []


def test_secret_replicas_must_stay_in_allowed_regions() -> None:
    args = resource_args(
        "aws:secretsmanager/secret:Secret",
        {"replicas": [{"region": "eu-west-1"}, {"region": "us-east-1"}]},
    )
    found = violations("resources-in-allowed-regions", args)
    assert len(found) == 1
    assert "replicated to us-east-1" in found[0]


@pytest.mark.parametrize(
    ("kms_key", "expected"),
    [("arn:aws:kms:eu-central-1:1:key/abc", 0), (None, 1), ("alias/aws/secretsmanager", 1)],
)
def test_regulated_secrets_cmk(kms_key, expected) -> None:
    props = {"tags": REGULATED, **({"kmsKeyId": kms_key} if kms_key else {})}
    args = resource_args("aws:secretsmanager/secret:Secret", props)
    assert len(violations("regulated-secrets-cmk", args)) == expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ETL_SECRET_ID", "arn:aws:secretsmanager:eu-central-1:1:secret:db", 0),
        ("ETL_BUCKET", "lake", 0),
        ("DB_PASSWORD", "hunter2", 1),
        ("API_TOKEN", "abc", 1),
        ("DATABASE_URL", "mysql://etl:hunter2@db:3306/x", 1),
        ("ETL_SECRET_ID", "the password is hunter2", 1),
    ],
)
def test_no_plaintext_credentials(name, value, expected) -> None:
    definitions = json.dumps([{"name": "etl", "environment": [{"name": name, "value": value}]}])
    args = resource_args(TD, task_definition(containerDefinitions=definitions))
    found = violations("no-plaintext-credentials", args)
    assert len(found) == expected
    if expected:
        assert value not in found[0]  # the message names the variable, never its value


def role_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"role": "r", "policy": json.dumps({"Version": "2012-10-17", "Statement": statements})}


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}, None),
        ({"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}, None),
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"}, "every action (*)"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}, "every action"),
        ({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}, "write action"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, None),
        (
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/*"},
            "passes roles",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
            },
            None,
        ),
        ({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}, "write"),
    ],
)
def test_iam_no_wildcards(statement, problem) -> None:
    args = resource_args("aws:iam/rolePolicy:RolePolicy", role_policy(statement))
    found = violations("iam-no-wildcards", args)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1
        assert problem in found[0]


def activation(days: float | None, limit: int | None = 1) -> dict[str, Any]:
    props: dict[str, Any] = {"tags": REGULATED, "iamRole": "agent"}
    if days is not None:
        props["expirationDate"] = (NOW + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if limit is not None:
        props["registrationLimit"] = limit
    return props


@pytest.mark.parametrize(
    ("days", "limit", "max_days", "problem"),
    [
        (14, 1, 14, None),
        (None, 2, 14, None),  # AWS's default expiry is 24 hours
        (15, 1, 14, "expires in 15 days, beyond maxActivationDays 14"),
        (90, 1, 30, "expires in 90 days, beyond maxActivationDays 30"),
        (10, None, 14, "no registrationLimit"),
    ],
)
def test_activation_expiry(days, limit, max_days, problem) -> None:
    args = resource_args("aws:ssm/activation:Activation", activation(days, limit))
    found = violations("activation-expiry", args, config(maxActivationDays=max_days))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1
        assert problem in found[0]


@pytest.mark.parametrize(
    ("policy", "props", "expected"),
    [
        ("ecr-scan-on-push", {"imageScanningConfiguration": {"scanOnPush": True}}, 0),
        ("ecr-scan-on-push", {}, 1),
        ("ecr-immutable-tags", {"imageTagMutability": "IMMUTABLE"}, 0),
        ("ecr-immutable-tags", {"imageTagMutability": "MUTABLE"}, 1),
    ],
)
def test_registry_policies(policy, props, expected) -> None:
    args = resource_args("aws:ecr/repository:Repository", props)
    assert len(violations(policy, args)) == expected


@pytest.mark.parametrize(("retention", "expected"), [(30, 0), (None, 1)])
def test_log_retention(retention, expected) -> None:
    props = {"retentionInDays": retention} if retention else {}
    args = resource_args("aws:cloudwatch/logGroup:LogGroup", props)
    assert len(violations("log-retention", args)) == expected


@pytest.mark.parametrize(("mode", "expected"), [("PRIVATE_ONLY", 0), ("PUBLIC_ONLY", 1)])
def test_mwaa_private_webserver(mode, expected) -> None:
    args = resource_args("aws:mwaa/environment:Environment", {"webserverAccessMode": mode})
    assert len(violations("mwaa-private-webserver", args)) == expected


def test_residency_rules_fail_closed_on_unknown_values() -> None:
    """During preview the engine would turn UnknownValueError into an advisory note; a residency
    rule reports a mandatory violation saying what it could not verify instead."""
    args = resource_args(TD, task_definition(requiresCompatibilities=UNKNOWN))
    [found] = violations("regulated-tasks-external-only", args)
    assert found.startswith("cannot verify aws:ecs/taskDefinition:TaskDefinition r before")
    assert ".requiresCompatibilities can't be known during preview" in found
    args = resource_args("aws:ecs/cluster:Cluster", {"region": UNKNOWN})
    [found] = violations("resources-in-allowed-regions", args)
    assert "cannot verify" in found
    assert ".region" in found


def test_security_rules_degrade_as_the_engine_expects() -> None:
    args = resource_args(TD, task_definition(containerDefinitions=UNKNOWN))
    with pytest.raises(UnknownValueError):
        violations("no-plaintext-credentials", args)


def test_an_unknown_kms_key_on_a_regulated_secret_is_left_to_the_stack_rule() -> None:
    """Unknown at preview means created by the stack; regulated-sites-complete checks it is one
    of the stack's own keys through the engine's dependency."""
    args = resource_args(
        "aws:secretsmanager/secret:Secret", {"tags": REGULATED, "kmsKeyId": UNKNOWN}
    )
    assert violations("regulated-secrets-cmk", args) == []


def test_rules_only_read_what_they_need() -> None:
    """An unknown field a rule does not read never stops it."""
    args = resource_args(
        TD, task_definition(taskRoleArn=UNKNOWN, requiresCompatibilities=["FARGATE"])
    )
    assert len(violations("regulated-tasks-external-only", args)) == 1


@pytest.mark.parametrize(
    ("kms_key", "expected"),
    [
        ("arn:aws:kms:eu-central-1:1:key/abc", 0),
        ("alias/aws/secretsmanager", 1),
        ("arn:aws:kms:eu-central-1:123456789012:alias/aws/secretsmanager", 1),
        ("ARN:AWS:KMS:eu-central-1:123456789012:ALIAS/AWS/secretsmanager", 1),
        ("", 1),
    ],
)
def test_aws_managed_keys_in_every_form(kms_key: str, expected: int) -> None:
    args = resource_args(
        "aws:secretsmanager/secret:Secret", {"tags": REGULATED, "kmsKeyId": kms_key}
    )
    assert len(violations("regulated-secrets-cmk", args)) == expected


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"enableKeyRotation": True}, 0),
        ({}, 1),
        ({"enableKeyRotation": False}, 1),
        ({"customerMasterKeySpec": "RSA_2048"}, 0),  # AWS does not rotate asymmetric keys
    ],
)
def test_kms_keys_rotated(props: dict[str, Any], expected: int) -> None:
    args = resource_args("aws:kms/key:Key", props)
    assert len(violations("kms-keys-rotated", args)) == expected


def containers(**container: Any) -> str:
    return json.dumps([{"name": "etl", "image": "x", **container}])


@pytest.mark.parametrize(
    "container",
    [
        {"environment": [{"name": "MYSQL_PWD", "value": "hunter2"}]},
        {"environment": [{"name": "DB_PASSWORD_NAME", "value": "hunter2"}]},
        {"environment": [{"name": "DB_SECRET_ID", "value": "hunter2"}]},
        {"environment": [{"name": "API_TOKEN_ID", "value": "tok"}]},
        {"command": ["mysql", "-h", "db", "-u", "etl", "-phunter2"]},
        {"command": ["python", "-m", "etl", "--password=hunter2"]},
        {"entryPoint": ["sh", "-c", "etl --password hunter2"]},
        {"command": ["etl", "--dsn", "mysql://etl:hunter2@db/sales"]},
        {"entryPoint": ["env", "DB_PASS=hunter2", "etl"]},
    ],
)
def test_plaintext_credentials_in_every_form(container: dict[str, Any]) -> None:
    args = resource_args(TD, task_definition(containerDefinitions=containers(**container)))
    found = violations("no-plaintext-credentials", args)
    assert len(found) >= 1
    assert all("hunter2" not in f for f in found)


@pytest.mark.parametrize(
    "container",
    [
        {
            "environment": [
                {"name": "ETL_SECRET_ID", "value": "arn:aws:secretsmanager:eu-west-1:1:secret:a"}
            ]
        },
        {"environment": [{"name": "DB_SECRET_NAME", "value": "hybrid/prod/munich/db"}]},
        {"command": ["python", "-m", "etl", "--extract", "invoices"]},
    ],
)
def test_references_to_secrets_are_not_credentials(container: dict[str, Any]) -> None:
    args = resource_args(TD, task_definition(containerDefinitions=containers(**container)))
    assert violations("no-plaintext-credentials", args) == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"core.fernet_key": "x" * 44}, 1),
        ({"webserver.secret_key": "s3cr3t"}, 1),
        ({"database.sql_alchemy_conn": "postgresql://a:b@h/db"}, 1),
        (
            {
                "secrets.backend": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
            },
            0,
        ),
        ({"secrets.backend_kwargs": json.dumps({"connections_prefix": "airflow/connections"})}, 0),
        ({"secrets.backend_kwargs": json.dumps({"aws_secret_access_key": "AKIA"})}, 1),
        ({"core.dag_concurrency": "16"}, 0),
    ],
)
def test_airflow_options(options: dict[str, str], expected: int) -> None:
    args = resource_args(
        "aws:mwaa/environment:Environment", {"airflowConfigurationOptions": options}
    )
    assert len(violations("no-plaintext-credentials", args)) == expected


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ({"Effect": "Allow", "Action": "S3:*", "Resource": "arn:aws:s3:::b"}, "every action"),
        ({"Effect": "Allow", "Action": "s3:putobject", "Resource": "*"}, "write action"),
        (
            {"Effect": "Allow", "Action": "IAM:passrole", "Resource": "arn:aws:iam::1:role/*"},
            "passes roles",
        ),
        ({"Effect": "Allow", "Action": "s3:Put*", "Resource": "*"}, "write action"),
        (
            {"Effect": "Allow", "NotResource": "arn:aws:s3:::b", "Action": "s3:GetObject"},
            "NotResource",
        ),
        ({"Effect": "Allow", "Action": "ecs:DiscoverPollEndpoint", "Resource": "*"}, None),
        ({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}, None),
    ],
)
def test_iam_no_wildcards_reads_actions_as_aws_does(statement, problem) -> None:
    args = resource_args("aws:iam/rolePolicy:RolePolicy", role_policy(statement))
    found = violations("iam-no-wildcards", args)
    if problem is None:
        assert found == []
    else:
        assert found
        assert problem in found[0]


def test_iam_documents_of_users_groups_and_role_inline_policies() -> None:
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    for resource_type in ("aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"):
        args = resource_args(resource_type, role_policy(statement))
        assert violations("iam-no-wildcards", args)
    inline = {"inlinePolicies": [{"name": "ops", "policy": role_policy(statement)["policy"]}]}
    assert violations("iam-no-wildcards", resource_args("aws:iam/role:Role", inline))


def test_providers_go_through_the_region_rule() -> None:
    """The engine sends the default provider through resource policies."""
    outside = resource_args("pulumi:providers:aws", {"region": "us-east-1"})
    assert len(violations("resources-in-allowed-regions", outside)) == 1
    inside = resource_args("pulumi:providers:aws", {"region": "eu-west-1"})
    assert violations("resources-in-allowed-regions", inside) == []


def test_a_sites_resources_stay_in_its_own_regions() -> None:
    """munich may use eu-central-1 only, although the platform may use eu-west-1 too."""
    args = resource_args("aws:ecs/cluster:Cluster", {"region": "eu-west-1", "tags": REGULATED})
    [found] = violations("resources-in-allowed-regions", args)
    assert "outside site munich's allowedRegions ['eu-central-1']" in found
