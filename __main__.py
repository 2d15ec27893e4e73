"""hybrid-airflow: a hybrid data platform on AWS, one Pulumi stack per environment."""

from pathlib import Path

import pulumi

from components.config import ConfigError
from components.platform import build_platform
from components.stack_config import load_stack_config

try:
    config = load_stack_config()
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

platform = build_platform(config, dags_dir=Path(__file__).parent / "dags")

pulumi.export("sitesManifest", platform.manifest)
pulumi.export("lakeBucket", platform.lake.bucket_name)
pulumi.export("athenaWorkgroup", platform.lake.workgroup_name)
pulumi.export("dagBucket", platform.orchestrator.dag_bucket_name)
pulumi.export("etlRepositoryUrl", platform.registry.repository_url)
pulumi.export("airflowWebserverUrl", platform.orchestrator.webserver_url)
pulumi.export(
    "sites",
    {
        name: {
            "taskDefinitionFamily": site.task_definition.family,
            "glueDatabase": site.glue_database.name,
            "dbSecret": site.secret_how_to,
            "activationExpires": site.activation_expires,
        }
        for name, site in platform.sites.items()
    },
)
pulumi.export(
    "installCommands",
    {name: site.install_command for name, site in platform.sites.items() if site.install_command},
)
