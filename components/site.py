"""Site: everything one site needs to run its extracts, and nothing another site can use.

Per site: its DB secret (a CMK of its own when regulated), a log group, a Glue database (in the
lake's region, beside the data it catalogs), an execution role and a least-privilege task role,
the ETL task definition, and for sites with their own hosts the ECS Anywhere registration (agent
role + SSM activation) with the install command for the admin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pulumi_aws as aws

from components import arns
from components import policy_documents as docs
from components.config import Site as SiteConfig
from components.etl_cluster import ClusterRef
from components.naming import (
    CONTAINER_NAME,
    LOG_STREAM_PREFIX,
    PROJECT,
    SITE_COMPONENT,
    Naming,
    placement_constraints,
    site_child_urn,
)
from components.protection import GLUE_DATABASE, KMS_KEY, LOG_GROUP, SECRET, keep

INSTALL_SCRIPT_URL = "https://amazon-ecs-agent.s3.amazonaws.com/ecs-anywhere-install-latest.sh"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
# The activation's expiry is fixed at creation; it is rotated with `pulumi up --replace`.
ACTIVATION_IGNORE_CHANGES = ("expirationDate",)


@dataclass(frozen=True)
class SharedRefs:
    """What a site uses of the shared platform: names (each the output of the resource it names,
    so known at a first preview and a dependency) and the account, from which the site builds
    every ARN its documents and container need (components/arns.py)."""

    account_id: pulumi.Output[str]  # get_caller_identity: an invoke, known at preview
    lake_bucket_name: pulumi.Output[str]
    lake_key_alias: pulumi.Output[str]
    lake_region: str  # the platform region: the lake, its key, and every site's Glue database
    repository_name: pulumi.Output[str]
    registry_region: str  # the platform region
    image_tag: str
    log_retention_days: int


def etl_container_definitions(
    *,
    site: str,
    image: str,
    secret_id: str,
    bucket: str,
    region: str,
    log_group: str,
    glue_database: str,
    glue_region: str,
) -> list[dict[str, Any]]:
    """The ETL container as docs/contracts.md section 3 defines it: no credential in it.

    `secret_id` is the secret's name: Secrets Manager resolves a name in the task's region
    (`ETL_REGION`), and unlike the ARN it is known before the secret exists."""
    environment = {
        "ETL_SECRET_ID": secret_id,
        "ETL_BUCKET": bucket,
        "ETL_SITE": site,
        "ETL_REGION": region,
        "AWS_REGION": region,
        "ETL_FORMAT": "parquet",
        "ETL_GLUE_DATABASE": glue_database,
        "ETL_GLUE_REGION": glue_region,
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


@dataclass(frozen=True)
class SiteArgs:
    """What one site is built from: its config, the naming, its cluster and the shared parts."""

    config: SiteConfig
    index: int  # its position in hybrid-airflow:sites, for `pulumi config set --path` hints
    naming: Naming
    cluster: ClusterRef
    shared: SharedRefs


class Site(pulumi.ComponentResource):
    """One site's resources. The component's name is the site's name."""

    grant: pulumi.Output[docs.SiteGrant]
    task_definition: aws.ecs.TaskDefinition
    glue_database: aws.glue.CatalogDatabase
    secret: aws.secretsmanager.Secret
    secret_how_to: pulumi.Output[str]
    install_command: pulumi.Output[str] | None
    activation_expires: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if name != args.config.name:
            raise ValueError(f"a Site component is named after its site: {args.config.name!r}")
        super().__init__(SITE_COMPONENT, name, None, opts)
        self._site = args.config
        self._index = args.index
        self._naming = args.naming
        self._shared = args.shared
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = args.naming.tags(site=name, residency=args.config.residency)

        log_group = self._log_group()
        secret_key = self._secret_key() if self._site.residency == "regulated" else None
        self.secret = self._db_secret(secret_key[0] if secret_key else None)
        self.secret_how_to = self._secret_value()
        self.glue_database = self._glue_database()
        execution_role = self._execution_role(log_group)
        task_role = self._task_role(log_group, secret_key[1] if secret_key else None)
        self.task_definition = self._task_definition(execution_role, task_role)
        self.install_command = None
        self.activation_expires = None
        if self._site.registers_hosts:
            self._registration(args.cluster)
        self.grant = self._grant(args.cluster, task_role, execution_role, log_group)
        self.register_outputs(
            {
                "taskDefinitionArn": self.task_definition.arn,
                "secretArn": self.secret.arn,
                "glueDatabase": self.glue_database.name,
                "installCommand": self.install_command,
                "activationExpires": self.activation_expires,
            }
        )

    def _named(self, what: str) -> str:
        return self._naming.site(self._site.name, what)

    def _kept(self, resource_type: str) -> pulumi.ResourceOptions:
        """Parent, plus protection for the resources that must outlive a mistake."""
        return pulumi.ResourceOptions.merge(self._child, keep(resource_type, self._site.residency))

    # --- what the site's data and audit trail live in ------------------------------------

    def _log_group(self) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            self._named("logs"),
            name=self._naming.log_group(self._site.name),
            retention_in_days=self._shared.log_retention_days,
            region=self._site.region,
            tags=self._tags,
            opts=self._kept(LOG_GROUP),
        )

    def _secret_key(self) -> tuple[aws.kms.Key, aws.kms.Alias]:
        """Regulated sites encrypt their DB secret with a key of their own, in their own region.
        Its alias is how the task role names it (the key's id is random)."""
        key = aws.kms.Key(
            self._named("secrets"),
            description=f"DB secret of regulated site {self._site.name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            region=self._site.region,
            tags=self._tags,
            opts=self._kept(KMS_KEY),
        )
        alias = aws.kms.Alias(
            self._named("secrets"),
            name=self._naming.site_key_alias(self._site.name),
            target_key_id=key.key_id,
            region=self._site.region,
            opts=self._child,
        )
        return key, alias

    def _db_secret(self, key: aws.kms.Key | None) -> aws.secretsmanager.Secret:
        site = self._site
        return aws.secretsmanager.Secret(
            self._named("db"),
            name=self._naming.secret(site.name),
            description=f"DB connection of site {site.name} (host, port, username, password, database)",
            kms_key_id=key.arn if key else None,
            recovery_window_in_days=7,
            region=site.region,
            tags=self._tags,
            opts=self._kept(SECRET),
        )

    def _glue_database(self) -> aws.glue.CatalogDatabase:
        """The catalog of the site's lake prefix: the ETL adds a table per extract and a
        partition per run. It lives where the data does, in the lake's region."""
        site, shared = self._site, self._shared
        return aws.glue.CatalogDatabase(
            self._named("catalog"),
            name=self._naming.glue_database(site.name),
            description=f"Extracts of site {site.name} ({site.residency}): one table per "
            "extract, one partition per run",
            location_uri=pulumi.Output.concat("s3://", shared.lake_bucket_name, f"/{site.name}/"),
            region=shared.lake_region,
            tags=self._tags,
            opts=self._kept(GLUE_DATABASE),
        )

    def _secret_value(self) -> pulumi.Output[str]:
        """Store the DB connection when configured; otherwise say how to set it, with no value."""
        site, db = self._site, self._site.database
        if db is None or db.password is None:
            index = self._index
            return self.secret.name.apply(lambda name: _how_to_set_secret(site, index, name))
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
            self._named("db"),
            secret_id=self.secret.id,
            secret_string=value,  # secret: derived from the secret password
            region=site.region,
            opts=self._child,
        )
        return pulumi.Output.from_input("Set from the stack config (database).")

    # --- who the ETL task runs as ----------------------------------------------------------

    def _role(self, what: str, service: str, purpose: str) -> aws.iam.Role:
        return aws.iam.Role(
            self._named(what),
            name=self._named(what),
            assume_role_policy=json.dumps(docs.assume_role(service)),
            tags={**self._tags, "purpose": purpose},
            opts=self._child,
        )

    def _execution_role(self, log_group: aws.cloudwatch.LogGroup) -> aws.iam.Role:
        """What the ECS agent uses to start the task: pull the image, write the log stream."""
        role = self._role("exec", "ecs-tasks.amazonaws.com", "etl-execution")
        site, shared = self._site, self._shared
        aws.iam.RolePolicy(
            self._named("exec"),
            role=role.name,
            policy=pulumi.Output.all(
                shared.account_id, shared.repository_name, log_group.name
            ).apply(
                lambda a: json.dumps(
                    docs.execution_role_policy(
                        repository_arn=arns.ecr_repository(
                            region=shared.registry_region, account_id=a[0], name=a[1]
                        ),
                        log_group_arn=arns.log_group(
                            region=site.region, account_id=a[0], name=a[2]
                        ),
                    )
                )
            ),
            opts=self._child,
        )
        return role

    def _task_role(
        self, log_group: aws.cloudwatch.LogGroup, secret_key_alias: aws.kms.Alias | None
    ) -> aws.iam.Role:
        """What the ETL itself may do: its own secret, lake prefix, log group and Glue database.

        Built from names and the account, so the document is known at a first preview: the
        secret as `<name>-??????`, the keys by alias (components/arns.py says what that allows).
        """
        role = self._role("task", "ecs-tasks.amazonaws.com", "etl-task")
        site, shared = self._site, self._shared
        policy = pulumi.Output.all(
            shared.account_id,
            self.secret.name,
            secret_key_alias.name if secret_key_alias else None,
            shared.lake_bucket_name,
            shared.lake_key_alias,
            log_group.name,
            self.glue_database.name,
        ).apply(
            lambda a: json.dumps(
                docs.task_role_policy(
                    site=site.name,
                    secret_arn=arns.secret_pattern(region=site.region, account_id=a[0], name=a[1]),
                    secret_key=arns.KeyByAlias(site.region, a[0], a[2]) if a[2] else None,
                    lake_bucket_arn=arns.bucket(a[3]),
                    lake_key=arns.KeyByAlias(shared.lake_region, a[0], a[4]),
                    log_group_arn=arns.log_group(region=site.region, account_id=a[0], name=a[5]),
                    glue=docs.GlueDatabaseArns.of(
                        region=shared.lake_region, account_id=a[0], database=a[6]
                    ),
                )
            )
        )
        aws.iam.RolePolicy(self._named("task"), role=role.name, policy=policy, opts=self._child)
        return role

    # --- what runs -------------------------------------------------------------------------

    def _task_definition(
        self, execution_role: aws.iam.Role, task_role: aws.iam.Role
    ) -> aws.ecs.TaskDefinition:
        site, naming, shared = self._site, self._naming, self._shared
        launch_type = site.effective_launch_type
        on_own_hosts = launch_type in ("EXTERNAL", "EC2")
        constraints = placement_constraints(site.name) if launch_type == "EXTERNAL" else []
        container_definitions = pulumi.Output.all(
            shared.account_id,
            shared.repository_name,
            self.secret.name,
            shared.lake_bucket_name,
            self.glue_database.name,  # and the task waits for the database to exist
        ).apply(
            lambda a: json.dumps(
                etl_container_definitions(
                    site=site.name,
                    image=arns.ecr_image(
                        region=shared.registry_region,
                        account_id=a[0],
                        repository=a[1],
                        tag=shared.image_tag,
                    ),
                    secret_id=a[2],
                    bucket=a[3],
                    region=site.region,
                    log_group=naming.log_group(site.name),
                    glue_database=a[4],
                    glue_region=shared.lake_region,
                )
            )
        )
        return aws.ecs.TaskDefinition(
            self._named("etl"),
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

    def _registration(self, cluster: ClusterRef) -> None:
        """ECS Anywhere: a role the site's hosts assume through SSM, and an activation for them."""
        site = self._site
        agent_role = self._role("agent", "ssm.amazonaws.com", "ecs-anywhere-agent")
        core = aws.iam.RolePolicyAttachment(
            self._named("agent-ssm"),
            role=agent_role.name,
            policy_arn=SSM_CORE_POLICY,
            opts=self._child,
        )
        agent_ecs = aws.iam.RolePolicy(
            self._named("agent-ecs"),
            role=agent_role.name,
            policy=cluster.arn_of(self._shared.account_id).apply(
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
            self._named("activation"),
            name=self._named("hosts"),
            description=f"ECS Anywhere hosts of site {site.name}",
            iam_role=agent_role.name,
            registration_limit=site.activation.registration_limit,
            expiration_date=expires.isoformat().replace("+00:00", "Z"),
            region=site.region,
            tags=self._tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[core, agent_ecs],
                ignore_changes=list(ACTIVATION_IGNORE_CHANGES),
                additional_secret_outputs=["activationCode"],
            ),
        )
        urn = site_child_urn(
            pulumi.get_stack(), "aws:ssm/activation:Activation", self._named("activation")
        )
        self.activation_expires = activation.expiration_date.apply(
            lambda when: f"{when} (rotate: pulumi up --replace '{urn}')"
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

    def _grant(
        self,
        cluster: ClusterRef,
        task_role: aws.iam.Role,
        execution_role: aws.iam.Role,
        log_group: aws.cloudwatch.LogGroup,
    ) -> pulumi.Output[docs.SiteGrant]:
        """What the orchestrator may do for this site (its statements in the MWAA role), as ARNs
        built from the names of the site's resources: known at a first preview."""
        site, account_id = self._site, self._shared.account_id
        return pulumi.Output.all(
            account_id,
            self.task_definition.family,
            cluster.arn_of(account_id),
            task_role.name,
            execution_role.name,
            log_group.name,
        ).apply(
            lambda a: docs.SiteGrant(
                site=site.name,
                task_definition_arn=arns.task_definition_family(
                    region=site.region, account_id=a[0], family=a[1]
                ),
                cluster_arn=a[2],
                tasks_arn=cluster_scoped_arn(a[2], "task"),
                container_instances_arn=cluster_scoped_arn(a[2], "container-instance"),
                task_role_arn=arns.role(account_id=a[0], name=a[3]),
                execution_role_arn=arns.role(account_id=a[0], name=a[4]),
                log_group_arn=arns.log_group(region=site.region, account_id=a[0], name=a[5]),
            )
        )


def _how_to_set_secret(site: SiteConfig, index: int, secret: str) -> str:
    if site.database is not None:
        return (
            "Database configured without a password: set it with pulumi config set --secret "
            f"--path '{PROJECT}:sites[{index}].database.password', then pulumi up."
        )
    return (
        "No database configured: set it with "
        f"aws secretsmanager put-secret-value --region {site.region} --secret-id {secret} "
        "--secret-string file://db.json (keys: host, port, username, password, "
        "database, tls), or add `database` to the site in the stack config."
    )
