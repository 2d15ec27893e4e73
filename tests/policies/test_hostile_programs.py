"""Issue 9's classes, each as a hostile reviewer would try them: the real prod program plus a few
resources (or a small edit of what it registers), checked as `hybridctl check` does. Each case
must fail with the right policy naming the right site, and nothing else may fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from hybridctl.capture import Capture, CapturedResource
from tests.policies.conftest import (
    blocking,
    check,
    edited,
    messages,
    prod_config,
    run_program,
    set_prop,
)

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "999988887777"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def image(p: Any) -> pulumi.Output[str]:
    """The platform's image, as the platform names it (known at a first preview)."""
    return p.registry.repository_name.apply(
        lambda name: f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/{name}:0.1.0"
    )


# --- membership by relationship ------------------------------------------------------------


def fargate_copy_of_munich(p: Any) -> None:
    """An untagged FARGATE copy of munich's task definition: same roles, same secret."""
    munich = p.sites["munich"]
    td = munich.task_definition
    aws.ecs.TaskDefinition(
        "copy",
        family="reporting",
        requires_compatibilities=["FARGATE"],
        network_mode="awsvpc",
        cpu="256",
        memory="512",
        container_definitions=pulumi.Output.all(image(p), munich.secret.name).apply(
            lambda a: json.dumps(
                [
                    {
                        "name": "etl",
                        "image": a[0],
                        "environment": [{"name": "ETL_SECRET_ID", "value": a[1]}],
                    }
                ]
            )
        ),
        task_role_arn=td.task_role_arn,
        execution_role_arn=td.execution_role_arn,
        region="eu-central-1",
    )


def fargate_task_set(p: Any) -> None:
    aws.ecs.TaskSet(
        "burst",
        cluster="hybrid-prod-shared",
        service="burst",
        task_definition=p.sites["munich"].task_definition.arn,
        launch_type="FARGATE",
        region="eu-central-1",
    )


def external_service_on_shared_cluster(p: Any) -> None:
    aws.ecs.Service(
        "always-on",
        cluster="hybrid-prod-shared",
        task_definition=p.sites["munich"].task_definition.arn,
        launch_type="EXTERNAL",
        desired_count=1,
        region="eu-central-1",
    )


def ec2_task_by_family_name(p: Any) -> None:
    """No reference but the name: dublin's family, on EC2 in the cloud."""
    aws.ecs.TaskDefinition(
        "dublin-ec2",
        family="hybrid-prod-dublin-etl",
        requires_compatibilities=["EC2"],
        network_mode="bridge",
        container_definitions=image(p).apply(
            lambda i: json.dumps([{"name": "etl", "image": i, "memory": 256}])
        ),
        region="eu-west-1",
    )


def capacity_provider_on_munich_cluster(p: Any) -> None:
    aws.ecs.ClusterCapacityProviders(
        "munich-fargate",
        cluster_name="hybrid-prod-munich",
        capacity_providers=["FARGATE"],
        region="eu-central-1",
    )


def hq_task_with_dublins_role(p: Any) -> None:
    aws.ecs.TaskDefinition(
        "hq-extra",
        family="hybrid-prod-hq-extra",
        requires_compatibilities=["FARGATE"],
        network_mode="awsvpc",
        cpu="256",
        memory="512",
        container_definitions=image(p).apply(lambda i: json.dumps([{"name": "etl", "image": i}])),
        execution_role_arn=p.sites["dublin"].task_definition.execution_role_arn,
        tags={"site": "hq", "residency": "standard"},
        region="eu-central-1",
    )


# --- IAM ---------------------------------------------------------------------------------


def hq_reads_munich_secret(p: Any) -> None:
    aws.iam.RolePolicy(
        "hq-extra",
        role="hybrid-prod-hq-task",
        policy=document(
            allow(
                "SecretsManager:getsecretvalue",
                f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:hybrid/prod/munich/*",
            )
        ),
    )


def admin_role(p: Any) -> None:
    role = aws.iam.Role("ops", name="ops", assume_role_policy=TRUST)
    aws.iam.RolePolicyAttachment(
        "ops-admin", role=role.name, policy_arn="arn:aws:iam::aws:policy/AdministratorAccess"
    )


def analysts_group_with_s3_full_access(p: Any) -> None:
    user = aws.iam.User("analyst", name="analyst")
    group = aws.iam.Group("analysts", name="analysts")
    aws.iam.GroupPolicyAttachment(
        "analysts-s3", group=group.name, policy_arn="arn:aws:iam::aws:policy/AmazonS3FullAccess"
    )
    aws.iam.UserGroupMembership("analyst-groups", user=user.name, groups=[group.name])


def hq_not_action(p: Any) -> None:
    aws.iam.RolePolicy(
        "hq-everything-but-iam",
        role="hybrid-prod-hq-task",
        policy=document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
    )


def orchestrator_runs_a_revision_anywhere(p: Any) -> None:
    aws.iam.RolePolicy(
        "orchestrator-extra",
        role="hybrid-prod-mwaa",
        policy=p.sites["munich"].task_definition.family.apply(
            lambda family: document(
                allow(
                    "ECS:RUNTASK", f"arn:aws:ecs:eu-central-1:{ACCOUNT}:task-definition/{family}:3"
                )
            )
        ),
    )


def managed_policy_decrypts_every_key(p: Any) -> None:
    policy = aws.iam.Policy(
        "decrypt-all", policy=document(allow("kms:Decrypt", f"arn:aws:kms:*:{ACCOUNT}:key/*"))
    )
    aws.iam.PolicyAttachment("decrypt-all", roles=["hybrid-prod-hq-task"], policy_arn=policy.arn)


def ecs_full_access(p: Any) -> None:
    role = aws.iam.Role("scheduler", name="scheduler", assume_role_policy=TRUST)
    aws.iam.RolePolicyAttachment(
        "scheduler-ecs", role=role.name, policy_arn="arn:aws:iam::aws:policy/AmazonECS_FullAccess"
    )


# --- egress ------------------------------------------------------------------------------


def lake_replicated_out(p: Any) -> None:
    role = aws.iam.Role("replication", name="replication", assume_role_policy=TRUST)
    aws.s3.BucketReplicationConfig(
        "lake-replication",
        bucket=p.lake.bucket_name,
        role=role.arn,
        rules=[
            aws.s3.BucketReplicationConfigRuleArgs(
                id="all",
                status="Enabled",
                filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix="munich/"),
                destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                    bucket="arn:aws:s3:::partner-replica", account=OTHER_ACCOUNT
                ),
                delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                    status="Disabled"
                ),
            )
        ],
        region="eu-central-1",
    )


def lake_policy_grants_another_account(p: Any) -> None:
    aws.s3.BucketPolicy(
        "lake-share",
        bucket=p.lake.bucket_name,
        policy=p.lake.bucket_name.apply(
            lambda name: document(
                allow(
                    "s3:GetObject",
                    f"arn:aws:s3:::{name}/*",
                    Principal={"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                )
            )
        ),
    )


def munich_logs_to_us(p: Any) -> None:
    aws.cloudwatch.LogSubscriptionFilter(
        "munich-logs-out",
        log_group="/hybrid/prod/munich/etl",
        filter_pattern="",
        destination_arn=f"arn:aws:logs:us-east-1:{ACCOUNT}:destination:collector",
        region="eu-central-1",
    )


def munich_task_role_writes_elsewhere(p: Any) -> None:
    aws.iam.RolePolicy(
        "munich-export",
        role="hybrid-prod-munich-task",
        policy=document(allow(["s3:PutObject"], "arn:aws:s3:::partner-dropbox/*")),
    )


def munich_key_shared_with_another_account(p: Any) -> None:
    aws.kms.KeyPolicy(
        "munich-key-shared",
        key_id="alias/hybrid-prod-munich-secrets",
        policy=document(
            allow("kms:Decrypt", "*", Principal={"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"})
        ),
        region="eu-central-1",
    )


# --- the queryable lake (issue 13): catalogs and where they live ----------------------------


def hq_reads_one_munich_extract(p: Any) -> None:
    """A grant on one extract below munich's prefix (not the whole prefix, not a wildcard)."""
    aws.iam.RolePolicy(
        "hq-reads-munich-patients",
        role="hybrid-prod-hq-task",
        policy=p.lake.bucket_name.apply(
            lambda name: document(allow("s3:GetObject", f"arn:aws:s3:::{name}/munich/patients/*"))
        ),
    )


def hq_reads_munich_catalog(p: Any) -> None:
    """hq's task role may read munich's tables (schemas, partitions pointing at its data)."""
    aws.iam.RolePolicy(
        "hq-reads-munich-catalog",
        role="hybrid-prod-hq-task",
        policy=document(
            allow(
                ["glue:GetTable", "glue:GetPartitions"],
                [
                    f"arn:aws:glue:eu-central-1:{ACCOUNT}:catalog",
                    f"arn:aws:glue:eu-central-1:{ACCOUNT}:database/hybrid_prod_munich",
                    f"arn:aws:glue:eu-central-1:{ACCOUNT}:table/hybrid_prod_munich/*",
                ],
            )
        ),
    )


def analysts_read_every_catalog(p: Any) -> None:
    """A Glue wildcard on a role of no site reaches every regulated catalog."""
    role = aws.iam.Role("analytics", name="analytics", assume_role_policy=TRUST)
    aws.iam.RolePolicy(
        "analytics-glue",
        role=role.name,
        policy=document(allow("glue:Get*", f"arn:aws:glue:eu-central-1:{ACCOUNT}:*")),
    )


def munich_catalog_copy_in_dublin(p: Any) -> None:
    """An untagged Glue database over munich's lake prefix, in a region munich may not use."""
    aws.glue.CatalogDatabase(
        "munich-catalog-replica",
        name="hybrid_prod_munich",
        location_uri=p.lake.bucket_name.apply(lambda name: f"s3://{name}/munich/"),
        region="eu-west-1",
    )


def dublin_table_in_us(p: Any) -> None:
    """A table of dublin's database (by dependency), created in us-east-1."""
    aws.glue.CatalogTable(
        "dublin-payroll-us",
        name="payroll",
        database_name=p.sites["dublin"].glue_database.name,
        table_type="EXTERNAL_TABLE",
        region="us-east-1",
    )


def tagged_munich_catalog_in_dublin(p: Any) -> None:
    """Declared for munich (tagged), in eu-west-1: the resource rule sees it before creation."""
    aws.glue.CatalogDatabase(
        "munich-archive",
        name="hybrid_prod_munich_archive",
        region="eu-west-1",
        tags={"environment": "prod", "site": "munich", "residency": "regulated"},
    )


# --- the manifest ------------------------------------------------------------------------


def decoy_manifest(p: Any) -> None:
    """A second object named like the manifest, routing munich to FARGATE."""
    entry = {
        "name": "munich",
        "residency": "regulated",
        "region": "eu-central-1",
        "cluster": "hybrid-prod-shared",
        "launchType": "FARGATE",
        "placementConstraints": [],
    }
    aws.s3.BucketObjectv2(
        "decoy",
        bucket="hybrid-prod-shared-dags",
        key="dags/tmp/sites-manifest.json",
        content=json.dumps({"version": 2, "sites": [entry]}),
    )


def network_file_naming_munich(p: Any) -> None:
    aws.s3.BucketObjectv2(
        "network",
        bucket="hybrid-prod-shared-dags",
        key="dags/sites-network.json",
        content=json.dumps(
            {
                "version": 1,
                "sites": {"munich": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}},
            }
        ),
    )


PROGRAMS: list[tuple[str, Callable[[Any], None], set[tuple[str, str | None]], str]] = [
    (
        "fargate-copy",
        fargate_copy_of_munich,
        {("regulated-workloads-on-site", "munich")},
        "uses munich's DB secret",
    ),
    ("fargate-task-set", fargate_task_set, {("regulated-workloads-on-site", "munich")}, "FARGATE"),
    (
        "service-on-shared-cluster",
        external_service_on_shared_cluster,
        {("regulated-workloads-on-site", "munich")},
        "not munich's own",
    ),
    (
        "family-name",
        ec2_task_by_family_name,
        {("regulated-workloads-on-site", "dublin")},
        "names dublin's task definition",
    ),
    (
        "capacity-provider",
        capacity_provider_on_munich_cluster,
        {("regulated-workloads-on-site", "munich")},
        "capacity providers ['FARGATE']",
    ),
    (
        "hq-task-with-dublin-role",
        hq_task_with_dublins_role,
        {("regulated-workloads-on-site", "dublin")},
        "task definition hq-extra belongs to regulated site dublin",
    ),
    (
        "iam-case",
        hq_reads_munich_secret,
        {("regulated-data-access-confined", "munich")},
        "role hybrid-prod-hq-task (site hq) may secretsmanager:GetSecretValue",
    ),
    (
        "aws-managed-admin",
        admin_role,
        {
            ("regulated-data-access-confined", "munich"),
            ("regulated-data-access-confined", "dublin"),
            ("regulated-sites-isolated", "munich"),
            ("regulated-sites-isolated", "dublin"),
        },
        "AWS managed policy AdministratorAccess",
    ),
    (
        "group-membership",
        analysts_group_with_s3_full_access,
        {
            ("regulated-data-access-confined", "munich"),
            ("regulated-data-access-confined", "dublin"),
        },
        "user analyst may s3:GetObject on regulated site munich's lake prefix munich/",
    ),
    (
        "not-action",
        hq_not_action,
        {
            ("iam-no-wildcards", None),
            ("regulated-data-access-confined", "munich"),
            ("regulated-data-access-confined", "dublin"),
            ("regulated-sites-isolated", "munich"),
            ("regulated-sites-isolated", "dublin"),
        },
        "hq-everything-but-iam",
    ),
    (
        "revision-without-cluster",
        orchestrator_runs_a_revision_anywhere,
        # munich's task anywhere, so also on dublin's cluster
        {("regulated-sites-isolated", "munich"), ("regulated-sites-isolated", "dublin")},
        "on any cluster",
    ),
    (
        "managed-policy-attachment",
        managed_policy_decrypts_every_key,
        {
            ("regulated-data-access-confined", "munich"),
            ("regulated-data-access-confined", "dublin"),
        },
        "kms:Decrypt on regulated site munich's key",
    ),
    (
        "ecs-full-access",
        ecs_full_access,
        {("regulated-sites-isolated", "munich"), ("regulated-sites-isolated", "dublin")},
        "AmazonECS_FullAccess",
    ),
    (
        "replication",
        lake_replicated_out,
        {("regulated-data-egress", "munich")},
        "copies data of regulated site(s) munich to bucket arn:aws:s3:::partner-replica",
    ),
    (
        "bucket-policy-account",
        lake_policy_grants_another_account,
        {("regulated-data-egress", None)},
        f"grants account {OTHER_ACCOUNT} access",
    ),
    (
        "log-subscription",
        munich_logs_to_us,
        {("regulated-data-egress", "munich")},
        "sends site munich's logs to us-east-1",
    ),
    (
        "task-role-writes-elsewhere",
        munich_task_role_writes_elsewhere,
        {("regulated-data-egress", "munich")},
        "arn:aws:s3:::partner-dropbox/*",
    ),
    (
        "key-policy-account",
        munich_key_shared_with_another_account,
        {("regulated-data-egress", None)},
        f"grants account {OTHER_ACCOUNT} access",
    ),
    (
        "prefix-subpath",
        hq_reads_one_munich_extract,
        {("regulated-data-access-confined", "munich")},
        "may s3:GetObject on regulated site munich's lake prefix munich/",
    ),
    (
        "hq-reads-munich-catalog",
        hq_reads_munich_catalog,
        {("regulated-data-access-confined", "munich")},
        "role hybrid-prod-hq-task (site hq) may glue:GetTable on regulated site munich's Glue "
        "database hybrid_prod_munich tables",
    ),
    (
        "glue-wildcard",
        analysts_read_every_catalog,
        {
            ("regulated-data-access-confined", "munich"),
            ("regulated-data-access-confined", "dublin"),
        },
        "role analytics may glue:GetDatabase on regulated site dublin's Glue database",
    ),
    (
        "catalog-copy-outside",
        munich_catalog_copy_in_dublin,
        {("regulated-data-in-site-regions", "munich")},
        "CatalogDatabase munich-catalog-replica is named like munich's Glue database",
    ),
    (
        "table-outside",
        dublin_table_in_us,
        # us-east-1 is outside every allowed region too: the resource rule says so before creation
        {("regulated-data-in-site-regions", "dublin"), ("resources-in-allowed-regions", None)},
        "CatalogTable dublin-payroll-us is a table of dublin's Glue database",
    ),
    (
        "tagged-catalog-outside",
        tagged_munich_catalog_in_dublin,
        {("resources-in-allowed-regions", "munich")},
        "munich-archive (site munich) is in eu-west-1, outside site munich's allowedRegions",
    ),
    (
        "decoy-manifest",
        decoy_manifest,
        {("manifest-routes-regulated-external", "munich")},
        "sites manifest decoy: the entry for regulated site munich routes it to FARGATE",
    ),
    (
        "network-file",
        network_file_naming_munich,
        {("manifest-routes-regulated-external", "munich")},
        "names regulated site(s) munich",
    ),
]


@pytest.mark.parametrize(
    ("extra", "expected", "needle"),
    [case[1:] for case in PROGRAMS],
    ids=[case[0] for case in PROGRAMS],
)
def test_a_hostile_program_fails_with_the_right_policy_and_site(
    extra: Callable[[Any], None], expected: set[tuple[str, str | None]], needle: str
) -> None:
    result = check(run_program(extra))
    assert blocking(result) == expected, [f.message for f in result.blocking]
    policies = {policy for policy, _ in expected}
    assert any(needle in f.message for f in result.blocking if f.policy in policies), [
        f.message for f in result.blocking
    ]


# --- small edits of what the real program registers ----------------------------------------


def _named(name: str) -> Callable[[CapturedResource], bool]:
    return lambda r: r.name == name


def _edit(captured: Capture, name: str, **props: Any) -> Capture:
    def apply(resource: CapturedResource) -> bool:
        if resource.name != name:
            return False
        for key, value in props.items():
            set_prop(resource, key, value)
        return True

    return edited(captured, apply)


def _containers(captured: Capture, name: str, change: Callable[[dict[str, Any]], None]) -> Capture:
    def apply(resource: CapturedResource) -> bool:
        if resource.name != name:
            return False
        containers = json.loads(resource.raw_inputs["containerDefinitions"])
        change(containers[0])
        set_prop(resource, "containerDefinitions", json.dumps(containers))
        return True

    return edited(captured, apply)


def _env(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(container: dict[str, Any]) -> None:
        env = [v for v in container["environment"] if v["name"] != name]
        container["environment"] = [*env, {"name": name, "value": value}]

    return change


def test_an_untagged_regulated_task_is_still_its_sites(prod_capture: Capture) -> None:
    """Tags and parent gone: munich's roles, secret and family still make it munich's."""

    def strip(resource: CapturedResource) -> bool:
        if resource.name != "hybrid-prod-munich-etl":
            return False
        set_prop(resource, "tags", {})
        set_prop(resource, "requiresCompatibilities", ["FARGATE"])
        resource.parent = ""
        return True

    result = check(edited(prod_capture, strip))
    assert ("regulated-workloads-on-site", "munich") in blocking(result)
    [message] = messages(result, "regulated-workloads-on-site")
    assert "uses munich's DB secret hybrid/prod/munich/db" in message
    assert "is not tagged site=munich" in message


def test_a_relabelled_resource_disagrees_with_compliance(prod_capture: Capture) -> None:
    captured = _edit(
        prod_capture,
        "hybrid-prod-dublin-db",
        tags={"site": "dublin", "residency": "standard", "environment": "prod"},
    )
    result = check(captured)
    assert blocking(result) == {("sites-known-to-compliance", "dublin")}


def test_compliance_must_list_every_site(prod_capture: Capture) -> None:
    raw = json.loads(Path(prod_config().source).read_text(encoding="utf-8"))
    raw["sites"] = [s for s in raw["sites"] if s["name"] != "dublin"]
    from hybridctl.policy_pack import hybrid_policies as hp

    result = check(prod_capture, hp.parse_config(raw, "no-dublin", hp.POLICY_NAMES))
    assert ("sites-known-to-compliance", "dublin") in blocking(result)


@pytest.mark.parametrize(
    ("region", "allowed"),
    [("eu-central-1", True), ("us-east-1", False)],  # dublin may use both EU regions
)
def test_a_manifest_region_that_is_not_the_sites(
    prod_capture: Capture, region: str, allowed: bool
) -> None:
    def move(resource: CapturedResource) -> bool:
        if not resource.raw_inputs.get("key", "").endswith("sites-manifest.json"):
            return False
        manifest = json.loads(resource.raw_inputs["content"])
        for entry in manifest["sites"]:
            if entry["name"] == "dublin":
                entry["region"] = region
        set_prop(resource, "content", json.dumps(manifest))
        return True

    result = check(edited(prod_capture, move))
    assert blocking(result) == {("manifest-routes-regulated-external", "dublin")}
    [message] = messages(result, "manifest-routes-regulated-external")
    outside = "outside its allowedRegions ['eu-west-1', 'eu-central-1']"
    assert (outside in message) is not allowed
    assert f"puts it in {region}, but its resources are in eu-west-1" in message


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (_env("ETL_BUCKET", "partner-dropbox"), "writes to bucket partner-dropbox"),
        (lambda c: c.update(image="docker.io/someone/etl:latest"), "runs image docker.io"),
    ],
)
def test_regulated_containers_write_to_the_lake_and_run_the_platform_image(
    prod_capture: Capture, change: Callable[[dict[str, Any]], None], needle: str
) -> None:
    result = check(_containers(prod_capture, "hybrid-prod-munich-etl", change))
    assert blocking(result) == {("regulated-data-egress", "munich")}
    assert any(needle in m for m in messages(result, "regulated-data-egress"))


@pytest.mark.parametrize(
    ("name", "props", "expected"),
    [
        (
            "hybrid-prod-munich-db",
            {"kmsKeyId": f"arn:aws:kms:eu-central-1:{ACCOUNT}:alias/aws/secretsmanager"},
            {("regulated-secrets-cmk", "munich"), ("regulated-sites-complete", "munich")},
        ),
        (
            "hybrid-prod-dublin-secrets",
            {"enableKeyRotation": False},
            {("kms-keys-rotated", "dublin")},
        ),
        (
            "lake-encryption",
            {
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": "alias/aws/s3",
                        }
                    }
                ]
            },
            {("lake-encrypted-kms", None)},
        ),
    ],
)
def test_aws_managed_keys_and_rotation(
    prod_capture: Capture, name: str, props: dict[str, Any], expected: set[tuple[str, str | None]]
) -> None:
    result = check(_edit(prod_capture, name, **props))
    assert blocking(result) == expected, [f.message for f in result.blocking]


@pytest.mark.parametrize(
    "change",
    [
        _env("MYSQL_PWD", "hunter2"),
        _env("DB_PASSWORD_NAME", "hunter2"),
        lambda c: c.update(command=["sh", "-c", "mysql -uetl -phunter2 sales"]),
    ],
)
def test_credentials_in_a_task_definition(
    prod_capture: Capture, change: Callable[[dict[str, Any]], None]
) -> None:
    result = check(_containers(prod_capture, "hybrid-prod-hq-etl", change))
    assert blocking(result) == {("no-plaintext-credentials", "hq")}
    assert all("hunter2" not in f.message for f in result.findings)


def test_airflow_fernet_key_in_the_options(prod_capture: Capture) -> None:
    captured = _edit(
        prod_capture,
        "orchestrator-airflow",
        airflowConfigurationOptions={"core.fernet_key": "k" * 44},
    )
    assert blocking(check(captured)) == {("no-plaintext-credentials", None)}
