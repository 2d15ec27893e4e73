"""Site: everything one site needs to run its extracts, and nothing another site can use.

Per site: its DB secret (a CMK of its own when regulated), a log group, an execution role and a
least-privilege task role, the ETL task definition, and for sites with their own hosts the ECS
Anywhere registration (agent role + SSM activation) with the install command for the admin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pulumi_aws as aws

from components import policy_documents as docs
from components.config import Site as SiteConfig
from components.etl_cluster import ClusterRef
from components.naming import (
    CONTAINER_NAME,
    LOG_STREAM_PREFIX,
    Naming,
    placement_constraints,
)

INSTALL_SCRIPT_URL = "https://amazon-ecs-agent.s3.amazonaws.com/ecs-anywhere-install-latest.sh"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@dataclass(frozen=True)
class SharedRefs:
    """What a site uses of the shared platform."""

    account_id: pulumi.Input[str]
    lake_bucket_name: pulumi.Input[str]
    lake_bucket_arn: pulumi.Input[str]
    lake_key_arn: pulumi.Input[str]
    repository_url: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    image_tag: str
    log_retention_days: int


def etl_container_definitions(
    *,
    site: str,
    image: str,
    secret_arn: str,
    bucket: str,
    region: str,
    log_group: str,
) -> list[dict[str, Any]]:
    """The ETL container as docs/contracts.md section 3 defines it: no credential in it."""
    environment = {
        "ETL_SECRET_ID": secret_arn,
        "ETL_BUCKET": bucket,
        "ETL_SITE": site,
        "ETL_REGION": region,
        "AWS_REGION": region,
        "ETL_FORMAT": "csv.gz",
    }
    return [
        {
            "name": CONTAINER_NAME,
            "image": image,
            "essential": True,
            "memory": 512,
            "memoryReservation": 256,
            "environment": [{"name": k, "value": v} for k, v in environment.items()],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": LOG_STREAM_PREFIX,
                },
            },
        }
    ]


def cluster_scoped_arn(cluster_arn: str, kind: str) -> str:
    """The tasks or hosts of one cluster only: arn:aws:ecs:<r>:<acct>:<kind>/<cluster>/*."""
    head, _, cluster_name = cluster_arn.partition(":cluster/")
    return f"{head}:{kind}/{cluster_name}/*"


def install_command(
    *, region: str, cluster: str, site: str, activation_id: str, activation_code: str
) -> str:
    """What an admin runs once on a site host to join it to the site's cluster, pinned by attribute."""
    attributes = json.dumps({"site": site}, separators=(",", ":"))
    return (
        "sudo mkdir -p /etc/ecs && "
        f"echo 'ECS_INSTANCE_ATTRIBUTES={attributes}' | sudo tee -a /etc/ecs/ecs.config && "
        f'curl --proto "=https" -fsSL -o /tmp/ecs-anywhere-install.sh "{INSTALL_SCRIPT_URL}" && '
        f"sudo bash /tmp/ecs-anywhere-install.sh --region {region} --cluster {cluster} "
        f"--activation-id {activation_id} --activation-code {activation_code}"
    )


class Site(pulumi.ComponentResource):
    """One site's resources. The component's name is the site's name."""

    grant: pulumi.Output[docs.SiteGrant]
    task_definition: aws.ecs.TaskDefinition
    secret: aws.secretsmanager.Secret
    install_command: pulumi.Output[str] | None
    activation_expires: pulumi.Output[str] | None

    def __init__(
        self,
        site: SiteConfig,
        *,
        naming: Naming,
        cluster: ClusterRef,
        shared: SharedRefs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("hybrid:platform:Site", site.name, None, opts)
        self._site = site
        self._naming = naming
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = naming.tags(site=site.name, residency=site.residency)
        name = naming.site(site.name)
        launch_type = site.effective_launch_type

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=naming.log_group(site.name),
            retention_in_days=shared.log_retention_days,
            region=site.region,
            tags=self._tags,
            opts=self._child,
        )
        secret_key = self._secret_key(name) if site.residency == "regulated" else None
        self.secret = aws.secretsmanager.Secret(
            f"{name}-db",
            name=naming.secret(site.name),
            description=f"DB connection of site {site.name} (host, port, username, password, database)",
            kms_key_id=secret_key.arn if secret_key else None,
            recovery_window_in_days=7,
            region=site.region,
            tags=self._tags,
            opts=self._child,
        )
        self.secret_how_to = self._secret_value(name)

        execution_role = self._role(f"{name}-exec", "ecs-tasks.amazonaws.com", "etl-execution")
        aws.iam.RolePolicy(
            f"{name}-exec",
            role=execution_role.name,
            policy=pulumi.Output.all(shared.repository_arn, log_group.arn).apply(
                lambda a: json.dumps(
                    docs.execution_role_policy(repository_arn=a[0], log_group_arn=a[1])
                )
            ),
            opts=self._child,
        )
        task_role = self._role(f"{name}-task", "ecs-tasks.amazonaws.com", "etl-task")
        aws.iam.RolePolicy(
            f"{name}-task",
            role=task_role.name,
            policy=pulumi.Output.all(
                self.secret.arn,
                secret_key.arn if secret_key else None,
                shared.lake_bucket_arn,
                shared.lake_key_arn,
                log_group.arn,
            ).apply(
                lambda a: json.dumps(
                    docs.task_role_policy(
                        site=site.name,
                        secret_arn=a[0],
                        secret_key_arn=a[1],
                        lake_bucket_arn=a[2],
                        lake_key_arn=a[3],
                        log_group_arn=a[4],
                    )
                )
            ),
            opts=self._child,
        )

        on_own_hosts = launch_type in ("EXTERNAL", "EC2")
        constraints = placement_constraints(site.name) if launch_type == "EXTERNAL" else []
        container_definitions = pulumi.Output.all(
            shared.repository_url, self.secret.arn, shared.lake_bucket_name
        ).apply(
            lambda a: json.dumps(
                etl_container_definitions(
                    site=site.name,
                    image=f"{a[0]}:{shared.image_tag}",
                    secret_arn=a[1],
                    bucket=a[2],
                    region=site.region,
                    log_group=naming.log_group(site.name),
                )
            )
        )
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-etl",
            family=naming.task_family(site.name),
            requires_compatibilities=[launch_type],
            # ECS Anywhere supports bridge, host or none networking only; FARGATE needs awsvpc.
            network_mode="bridge" if on_own_hosts else "awsvpc",
            cpu=None if on_own_hosts else "256",
            memory=None if on_own_hosts else "512",
            runtime_platform=None
            if on_own_hosts
            else {"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            placement_constraints=[
                aws.ecs.TaskDefinitionPlacementConstraintArgs(**c) for c in constraints
            ],
            container_definitions=container_definitions,
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            region=site.region,
            tags=self._tags,
            opts=self._child,
        )

        self.install_command = None
        self.activation_expires = None
        if site.registers_hosts:
            self._registration(name, cluster, shared)

        self.grant = pulumi.Output.all(
            self.task_definition.arn_without_revision,
            cluster.arn,
            task_role.arn,
            execution_role.arn,
            log_group.arn,
        ).apply(
            lambda a: docs.SiteGrant(
                site=site.name,
                task_definition_arn=a[0],
                cluster_arn=a[1],
                tasks_arn=cluster_scoped_arn(a[1], "task"),
                container_instances_arn=cluster_scoped_arn(a[1], "container-instance"),
                task_role_arn=a[2],
                execution_role_arn=a[3],
                log_group_arn=a[4],
            )
        )
        self.register_outputs(
            {
                "taskDefinitionArn": self.task_definition.arn,
                "secretArn": self.secret.arn,
                "installCommand": self.install_command,
                "activationExpires": self.activation_expires,
            }
        )

    def _role(self, resource_name: str, service: str, purpose: str) -> aws.iam.Role:
        return aws.iam.Role(
            resource_name,
            name=resource_name,
            assume_role_policy=json.dumps(docs.assume_role(service)),
            tags={**self._tags, "purpose": purpose},
            opts=self._child,
        )

    def _secret_key(self, name: str) -> aws.kms.Key:
        """Regulated sites encrypt their DB secret with a key of their own, in their own region."""
        key = aws.kms.Key(
            f"{name}-secrets",
            description=f"DB secret of regulated site {self._site.name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            region=self._site.region,
            tags=self._tags,
            opts=self._child,
        )
        aws.kms.Alias(
            f"{name}-secrets",
            name=f"alias/{name}-secrets",
            target_key_id=key.key_id,
            region=self._site.region,
            opts=self._child,
        )
        return key

    def _secret_value(self, name: str) -> pulumi.Output[str]:
        """Store the DB connection when configured; otherwise say how to set it, with no value."""
        site, db = self._site, self._site.database
        if db is None:
            return self.secret.arn.apply(
                lambda arn: (
                    "No database configured: set it with "
                    f"aws secretsmanager put-secret-value --region {site.region} --secret-id {arn} "
                    "--secret-string file://db.json (keys: host, port, username, password, "
                    "database, tls), or add `database` to the site in the stack config."
                )
            )
        value = pulumi.Output.secret(db.password).apply(
            lambda password: json.dumps(
                {
                    "host": db.host,
                    "port": db.port,
                    "username": db.username,
                    "password": password,
                    "database": db.name,
                    "tls": db.tls,
                }
            )
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-db",
            secret_id=self.secret.id,
            secret_string=value,  # secret: derived from the secret password
            region=site.region,
            opts=self._child,
        )
        return pulumi.Output.from_input("Set from the stack config (database).")

    def _registration(self, name: str, cluster: ClusterRef, shared: SharedRefs) -> None:
        """ECS Anywhere: a role the site's hosts assume through SSM, and an activation for them."""
        site = self._site
        agent_role = self._role(f"{name}-agent", "ssm.amazonaws.com", "ecs-anywhere-agent")
        core = aws.iam.RolePolicyAttachment(
            f"{name}-agent-ssm", role=agent_role.name, policy_arn=SSM_CORE_POLICY, opts=self._child
        )
        agent_ecs = aws.iam.RolePolicy(
            f"{name}-agent-ecs",
            role=agent_role.name,
            policy=cluster.arn.apply(
                lambda arn: json.dumps(
                    docs.agent_policy(
                        cluster_arn=arn,
                        container_instances_arn=cluster_scoped_arn(arn, "container-instance"),
                    )
                )
            ),
            opts=self._child,
        )
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(
            days=site.activation.expires_in_days
        )
        activation = aws.ssm.Activation(
            f"{name}-activation",
            name=f"{name}-hosts",
            description=f"ECS Anywhere hosts of site {site.name}",
            iam_role=agent_role.name,
            registration_limit=site.activation.registration_limit,
            expiration_date=expires.isoformat().replace("+00:00", "Z"),
            region=site.region,
            tags=self._tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[core, agent_ecs],
                # The expiry is fixed at creation; rotate with `pulumi up --replace <urn>`.
                ignore_changes=["expirationDate"],
                additional_secret_outputs=["activationCode"],
            ),
        )
        self.activation_expires = activation.expiration_date.apply(
            lambda when: (
                f"{when} (rotate: pulumi up --replace "
                f"'urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::"
                f"hybrid:platform:Site$aws:ssm/activation:Activation::{name}-activation')"
            )
        )
        command: pulumi.Output[str] = pulumi.Output.all(
            activation.id, activation.activation_code
        ).apply(
            lambda a: install_command(
                region=site.region,
                cluster=cluster.name,
                site=site.name,
                activation_id=a[0],
                activation_code=a[1],
            )
        )
        self.install_command = pulumi.Output.secret(command)
