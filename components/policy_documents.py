"""IAM policy documents as pure functions of ARNs, so least privilege is testable without AWS.

Every statement names the resources it needs. The only `*` resources are read-only actions that
have no resource-level permissions, and `cloudwatch:PutMetricData`, which is narrowed by namespace.
The components build the ARNs from names (`components/arns.py`), so the documents are known at a
first preview; KMS keys are named by alias (`KeyByAlias`), secrets by `<name>-??????`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from components.arns import KeyByAlias
from components.naming import ATHENA_RESULTS_PREFIX, iam_sid

Document = dict[str, Any]

# What the ETL does to its own Glue database after a successful run (docs/contracts.md, section 3):
# create or widen the extract's table, then add or replace the run's partition.
GLUE_TABLE_ACTIONS = (
    "glue:GetTable",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:CreatePartition",
    "glue:BatchCreatePartition",
    "glue:DeletePartition",
    "glue:BatchDeletePartition",
)
ATHENA_SERVICE = "athena.amazonaws.com"


def document(*statements: dict[str, Any]) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(
    sid: str, actions: Sequence[str], resources: Sequence[str] | str, **extra: Any
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources if isinstance(resources, str) else list(resources),
    }
    statement.update(extra)
    return statement


def use_key(sid: str, actions: Sequence[str], key: KeyByAlias, **extra: Any) -> dict[str, Any]:
    """A statement on one customer managed key, named by its alias (`kms:ResourceAliases`);
    `Condition` blocks in `extra` are added to the alias condition."""
    condition = {**key.condition(), **extra.pop("Condition", {})}
    return allow(sid, actions, [key.keys], Condition=condition, **extra)


def assume_role(service: str) -> Document:
    return document(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    )


@dataclass(frozen=True)
class GlueDatabaseArns:
    """The ARNs Glue authorises a table or partition call on: catalog, database, its tables.

    Glue checks every level, so a grant on the catalog alone reaches no database.
    """

    catalog: str
    database: str
    tables: str

    @classmethod
    def of(cls, *, region: str, account_id: str, database: str) -> GlueDatabaseArns:
        head = f"arn:aws:glue:{region}:{account_id}"
        return cls(
            catalog=f"{head}:catalog",
            database=f"{head}:database/{database}",
            tables=f"{head}:table/{database}/*",
        )


def task_role_policy(
    *,
    site: str,
    secret_arn: str,
    secret_key: KeyByAlias | None,
    lake_bucket_arn: str,
    lake_key: KeyByAlias,
    log_group_arn: str,
    glue: GlueDatabaseArns,
) -> Document:
    """The ETL of one site: its own secret, lake prefix, log group and Glue database.

    `secret_arn` may be the secret's ARN pattern (`arns.secret_pattern`)."""
    statements = [
        allow("ReadOwnDbSecret", ["secretsmanager:GetSecretValue"], [secret_arn]),
        allow(
            "WriteOwnLakePrefix",
            [
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
                "s3:DeleteObject",
            ],
            [f"{lake_bucket_arn}/{site}/*"],
        ),
        allow(
            "ListOwnLakePrefix",
            ["s3:ListBucket"],
            [lake_bucket_arn],
            Condition={"StringLike": {"s3:prefix": [f"{site}/*"]}},
        ),
        use_key("UseLakeKey", ["kms:GenerateDataKey", "kms:Decrypt"], lake_key),
        allow(
            "WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]
        ),
        allow("ReadOwnGlueDatabase", ["glue:GetDatabase"], [glue.catalog, glue.database]),
        allow("WriteOwnGlueTables", GLUE_TABLE_ACTIONS, [glue.catalog, glue.database, glue.tables]),
    ]
    if secret_key is not None:
        statements.insert(1, use_key("DecryptOwnDbSecret", ["kms:Decrypt"], secret_key))
    return document(*statements)


def execution_role_policy(*, repository_arn: str, log_group_arn: str) -> Document:
    """What the ECS agent needs to start the task: pull the ETL image, create its log stream."""
    return document(
        allow("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        allow(
            "PullEtlImage",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [repository_arn],
        ),
        allow(
            "WriteTaskLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]
        ),
    )


def agent_policy(*, cluster_arn: str, container_instances_arn: str) -> Document:
    """The ECS agent on a site's host, scoped to the site's cluster wherever the action allows it.

    Replaces AmazonEC2ContainerServiceforEC2Role, which lets a host join any cluster.
    """
    return document(
        allow("DiscoverEcsEndpoint", ["ecs:DiscoverPollEndpoint"], "*"),
        allow(
            "JoinOwnCluster",
            [
                "ecs:DeregisterContainerInstance",
                "ecs:RegisterContainerInstance",
                "ecs:SubmitAttachmentStateChanges",
                "ecs:SubmitContainerStateChange",
                "ecs:SubmitTaskStateChange",
            ],
            [cluster_arn],
        ),
        allow(
            "RunAsOwnClusterInstance",
            ["ecs:Poll", "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState"],
            [container_instances_arn],
            Condition={"ArnEquals": {"ecs:cluster": cluster_arn}},
        ),
    )


@dataclass(frozen=True)
class SiteGrant:
    """What the orchestrator may do for one site."""

    site: str
    task_definition_arn: str  # without revision
    cluster_arn: str
    tasks_arn: str  # arn:aws:ecs:<region>:<account>:task/<cluster>/*
    container_instances_arn: str
    task_role_arn: str
    execution_role_arn: str
    log_group_arn: str


def orchestrator_policy(
    *,
    environment_arn: str,
    airflow_log_groups_arn: str,
    celery_queues_arn: str,
    dag_bucket_arn: str,
    mwaa_key: KeyByAlias,
    region: str,
    grants: Iterable[SiteGrant],
) -> Document:
    """The MWAA execution role: run each site's task on its cluster only, and nothing else."""
    grants = list(grants)
    statements: list[dict[str, Any]] = [
        allow("PublishAirflowMetrics", ["airflow:PublishMetrics"], [environment_arn]),
        allow(
            "ReadDagBucket",
            ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
            [dag_bucket_arn, f"{dag_bucket_arn}/*"],
        ),
        allow("CheckPublicAccess", ["s3:GetAccountPublicAccessBlock"], "*"),
        allow(
            "WriteAirflowLogs",
            [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:GetLogEvents",
                "logs:GetLogGroupFields",
                "logs:GetLogRecord",
                "logs:GetQueryResults",
                "logs:PutLogEvents",
            ],
            [airflow_log_groups_arn],
        ),
        allow("DescribeLogGroups", ["logs:DescribeLogGroups"], "*"),
        allow(
            "PutAirflowMetrics",
            ["cloudwatch:PutMetricData"],
            "*",
            Condition={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
        ),
        allow(
            "UseCeleryQueues",
            [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ],
            [celery_queues_arn],
        ),
        use_key(
            "UseMwaaKey",
            ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"],
            mwaa_key,
            Condition={
                "StringLike": {
                    "kms:ViaService": [f"sqs.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]
                }
            },
        ),
    ]
    for grant in grants:
        on_cluster = {"ArnEquals": {"ecs:cluster": grant.cluster_arn}}
        statements.append(
            allow(
                f"RunTask{iam_sid(grant.site)}",
                ["ecs:RunTask"],
                [f"{grant.task_definition_arn}:*"],
                Condition=on_cluster,
            )
        )
    for cluster_arn, tasks_arn, instances_arn in sorted(
        {(g.cluster_arn, g.tasks_arn, g.container_instances_arn) for g in grants}
    ):
        name = cluster_arn.rsplit("/", 1)[-1]
        on_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}
        statements.append(
            allow(
                f"WatchTasks{iam_sid(name)}",
                ["ecs:DescribeTasks", "ecs:StopTask"],
                [tasks_arn],
                Condition=on_cluster,
            )
        )
        statements.append(
            allow(
                f"ReattachTasks{iam_sid(name)}",
                ["ecs:ListTasks"],
                [instances_arn],
                Condition=on_cluster,
            )
        )
    if grants:
        statements.append(
            allow(
                "PassSiteRoles",
                ["iam:PassRole"],
                sorted({g.task_role_arn for g in grants} | {g.execution_role_arn for g in grants}),
                Condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        statements.append(
            allow(
                "ReadSiteTaskLogs",
                ["logs:GetLogEvents"],
                sorted(f"{g.log_group_arn}:log-stream:*" for g in grants),
            )
        )
    return document(*statements)


def tls_only_bucket_policy(bucket_arn: str) -> Document:
    """Deny every request to the bucket that does not use TLS."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def lake_bucket_policy(bucket_arn: str) -> Document:
    """TLS only, and query results under `_athena/` written by Athena only.

    Athena writes a query's results with the caller's own credentials; `aws:CalledVia` names
    Athena on exactly those requests. So no principal (an ETL task role, a person with broad S3
    rights) can drop objects into the results prefix directly, and what is there came from a
    query of the workgroup.
    """
    tls = tls_only_bucket_policy(bucket_arn)
    return document(
        *tls["Statement"],
        {
            "Sid": "AthenaResultsOnlyFromAthena",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{ATHENA_RESULTS_PREFIX}*",
            "Condition": {"ForAllValues:StringNotEquals": {"aws:CalledVia": [ATHENA_SERVICE]}},
        },
    )


def key_policy_for_logs(*, account_id: str, region: str, log_groups_arn: str) -> Document:
    """A CMK the account administers and CloudWatch Logs may use for the named log groups."""
    return document(
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "LogsEncrypt",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups_arn}},
        },
    )
