"""Orchestrator: Amazon MWAA, its DAG bucket and an execution role scoped to the sites' tasks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import arns
from components import policy_documents as docs
from components.buckets import guard_bucket
from components.config import Orchestrator as OrchestratorConfig
from components.naming import MANIFEST_KEY, NETWORK_KEY, Naming

# Files of dags/ that are for people and tests, not for MWAA's DAG folder.
NOT_DEPLOYED = {"README.md", "requirements.txt"}


def dag_files(dags_dir: Path) -> list[Path]:
    """The files of dags/ that MWAA should see, in a stable order."""
    return sorted(
        path
        for path in dags_dir.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.name not in NOT_DEPLOYED
        and path.name not in (MANIFEST_KEY, NETWORK_KEY)
    )


@dataclass(frozen=True)
class OrchestratorArgs:
    naming: Naming
    config: OrchestratorConfig
    region: str
    account_id: pulumi.Input[str]
    dag_bucket_name: pulumi.Input[str]  # explicit (naming.dag_bucket or the stack's override)
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    grants: Sequence[pulumi.Output[docs.SiteGrant]]  # what MWAA may run, per site
    manifest: str  # the sites manifest, known at preview
    network_file: pulumi.Input[str]  # the FARGATE network, known once the network exists
    dags_dir: Path


class Orchestrator(pulumi.ComponentResource):
    webserver_url: pulumi.Output[str]
    dag_bucket_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: OrchestratorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hybrid:platform:Orchestrator", name, None, opts)
        naming, config, region, account_id = args.naming, args.config, args.region, args.account_id
        grants, dags_dir = args.grants, args.dags_dir
        child = pulumi.ResourceOptions(parent=self)
        tags = naming.tags(purpose="orchestrator")
        env_name = naming.prefix
        log_groups_arn = pulumi.Output.concat(
            "arn:aws:logs:", region, ":", account_id, ":log-group:airflow-", env_name, "-*"
        )

        key = aws.kms.Key(
            f"{name}-key",
            description=f"{env_name} MWAA environment and DAG bucket",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(account_id, log_groups_arn).apply(
                lambda a: json.dumps(
                    docs.key_policy_for_logs(account_id=a[0], region=region, log_groups_arn=a[1])
                )
            ),
            tags=tags,
            opts=child,
        )
        # The execution role names the key by this alias (its id is random: unknown at preview).
        key_alias = aws.kms.Alias(
            f"{name}-key",
            name=naming.key_alias("mwaa"),
            target_key_id=key.key_id,
            opts=child,
        )
        bucket = aws.s3.Bucket(
            f"{name}-dags",
            # MWAA only accepts source buckets whose name starts with "airflow-" (config checks
            # an override); explicit, so the documents built from it are known at preview.
            bucket=args.dag_bucket_name,
            tags=naming.tags(purpose="dags"),
            opts=child,
        )
        guards = guard_bucket(f"{name}-dags", bucket, key.arn, child)
        after_guards = pulumi.ResourceOptions(parent=self, depends_on=guards)

        uploads: list[pulumi.Resource] = []
        for path in dag_files(dags_dir):
            key_name = f"dags/{path.relative_to(dags_dir).as_posix()}"
            uploads.append(
                aws.s3.BucketObjectv2(
                    f"{name}-{key_name}",
                    bucket=bucket.bucket,
                    key=key_name,
                    source=pulumi.FileAsset(str(path)),
                    opts=after_guards,
                )
            )
        uploads.append(
            aws.s3.BucketObjectv2(
                f"{name}-manifest",
                bucket=bucket.bucket,
                key=f"dags/{MANIFEST_KEY}",
                content=args.manifest,
                content_type="application/json",
                opts=after_guards,
            )
        )
        uploads.append(
            aws.s3.BucketObjectv2(
                f"{name}-network",
                bucket=bucket.bucket,
                key=f"dags/{NETWORK_KEY}",
                content=args.network_file,
                content_type="application/json",
                opts=after_guards,
            )
        )
        requirements = aws.s3.BucketObjectv2(
            f"{name}-requirements",
            bucket=bucket.bucket,
            key="requirements.txt",
            source=pulumi.FileAsset(str(dags_dir / "requirements.txt")),
            opts=after_guards,
        )

        role = aws.iam.Role(
            f"{name}-role",
            name=naming.shared("mwaa"),
            assume_role_policy=json.dumps(
                docs.document(
                    {
                        "Effect": "Allow",
                        "Principal": {
                            "Service": ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
                        },
                        "Action": "sts:AssumeRole",
                    }
                )
            ),
            tags={**tags, "purpose": "orchestrator"},
            opts=child,
        )
        environment_arn = pulumi.Output.concat(
            "arn:aws:airflow:", region, ":", account_id, ":environment/", env_name
        )
        celery_arn = pulumi.Output.concat("arn:aws:sqs:", region, ":*:airflow-celery-*")
        policy = aws.iam.RolePolicy(
            f"{name}-role",
            role=role.name,
            policy=pulumi.Output.all(
                environment_arn,
                log_groups_arn,
                celery_arn,
                bucket.bucket,
                account_id,
                key_alias.name,
                *grants,
            ).apply(
                lambda a: json.dumps(
                    docs.orchestrator_policy(
                        environment_arn=a[0],
                        airflow_log_groups_arn=a[1],
                        celery_queues_arn=a[2],
                        dag_bucket_arn=arns.bucket(a[3]),
                        mwaa_key=arns.KeyByAlias(region, a[4], a[5]),
                        region=region,
                        grants=a[6:],
                    )
                )
            ),
            opts=child,
        )

        mwaa = aws.mwaa
        environment = aws.mwaa.Environment(
            f"{name}-airflow",
            name=env_name,
            airflow_version=config.airflow_version,
            environment_class=config.environment_class,
            min_workers=config.min_workers,
            max_workers=config.max_workers,
            webserver_access_mode=config.webserver_access_mode,
            execution_role_arn=role.arn,
            kms_key=key.arn,
            source_bucket_arn=bucket.arn,
            dag_s3_path="dags",
            requirements_s3_path="requirements.txt",
            requirements_s3_object_version=requirements.version_id,
            network_configuration=mwaa.EnvironmentNetworkConfigurationArgs(
                security_group_ids=[args.security_group_id], subnet_ids=list(args.subnet_ids)
            ),
            logging_configuration=mwaa.EnvironmentLoggingConfigurationArgs(
                dag_processing_logs=mwaa.EnvironmentLoggingConfigurationDagProcessingLogsArgs(
                    enabled=True, log_level="INFO"
                ),
                scheduler_logs=mwaa.EnvironmentLoggingConfigurationSchedulerLogsArgs(
                    enabled=True, log_level="INFO"
                ),
                task_logs=mwaa.EnvironmentLoggingConfigurationTaskLogsArgs(
                    enabled=True, log_level="INFO"
                ),
                webserver_logs=mwaa.EnvironmentLoggingConfigurationWebserverLogsArgs(
                    enabled=True, log_level="INFO"
                ),
                worker_logs=mwaa.EnvironmentLoggingConfigurationWorkerLogsArgs(
                    enabled=True, log_level="INFO"
                ),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *uploads]),
        )
        self.webserver_url = environment.webserver_url
        self.dag_bucket_name = bucket.bucket
        self.register_outputs(
            {"webserverUrl": environment.webserver_url, "dagBucket": bucket.bucket}
        )
