"""The whole platform of one environment, assembled from the components."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.config import StackConfig
from components.data_lake import DataLake, DataLakeArgs
from components.etl_cluster import EtlCluster, EtlClusterArgs
from components.image_registry import ImageRegistry, ImageRegistryArgs
from components.manifest import build_manifest, build_network, render, site_entry
from components.naming import Naming
from components.network import Network, NetworkArgs
from components.orchestrator import Orchestrator, OrchestratorArgs
from components.site import SharedRefs, Site, SiteArgs


@dataclass(frozen=True)
class Platform:
    sites: dict[str, Site]
    manifest: str
    lake: DataLake
    registry: ImageRegistry
    orchestrator: Orchestrator


def build_platform(config: StackConfig, dags_dir: Path) -> Platform:
    naming = Naming(config.platform.environment)
    # An invoke: known during a first preview, so every ARN built from it is too.
    account_id = aws.get_caller_identity_output().account_id
    lake_bucket = config.platform.data_lake.bucket_name or account_id.apply(
        lambda account: naming.lake_bucket(account, config.region)
    )
    dag_bucket = config.platform.orchestrator.dag_bucket_name or account_id.apply(
        lambda account: naming.dag_bucket(account, config.region)
    )

    network = Network("network", NetworkArgs(naming=naming, cidr=config.platform.network.cidr))
    lake = DataLake(
        "lake",
        DataLakeArgs(
            naming=naming,
            site_prefixes=[site.name for site in config.sites],
            retention_days=config.platform.data_lake.retention_days,
            retired_prefixes=config.retired_sites,
            bytes_scanned_cutoff=config.platform.athena.bytes_scanned_cutoff,
            account_id=account_id,
            bucket_name=lake_bucket,
        ),
    )
    registry = ImageRegistry("registry", ImageRegistryArgs(naming=naming))
    clusters = EtlCluster(
        "clusters",
        EtlClusterArgs(naming=naming, platform_region=config.region, sites=config.sites),
    )
    shared = SharedRefs(
        account_id=account_id,
        lake_bucket_name=lake.bucket_name,
        lake_key_alias=lake.key_alias,
        lake_region=config.region,
        repository_name=registry.repository_name,
        registry_region=config.region,
        image_tag=config.platform.etl_image_tag,
        log_retention_days=config.platform.log_retention_days,
    )
    sites = {
        site.name: Site(
            site.name,
            SiteArgs(
                config=site,
                index=index,
                naming=naming,
                cluster=clusters.by_site[site.name],
                shared=shared,
            ),
        )
        for index, site in enumerate(config.sites)
    }
    # Known before anything is created, so the policy pack can check it during a first preview.
    manifest = render(
        build_manifest(
            environment=config.platform.environment,
            region=config.region,
            cluster=clusters.shared.name,
            dags_paused_on_creation=config.platform.orchestrator.dags_paused_on_creation,
            sites=[
                site_entry(site, naming=naming, cluster=clusters.by_site[site.name].name)
                for site in config.sites
            ],
        )
    )
    network_file = pulumi.Output.all(
        network.etl_security_group_id, *network.private_subnet_ids
    ).apply(lambda a: render(build_network(subnets=a[1:], security_group=a[0])))
    orchestrator = Orchestrator(
        "orchestrator",
        OrchestratorArgs(
            naming=naming,
            config=config.platform.orchestrator,
            region=config.region,
            account_id=account_id,
            dag_bucket_name=dag_bucket,
            subnet_ids=network.private_subnet_ids,
            security_group_id=network.mwaa_security_group_id,
            grants=[site.grant for site in sites.values()],
            manifest=manifest,
            network_file=network_file,
            dags_dir=dags_dir,
        ),
    )
    return Platform(
        sites=sites, manifest=manifest, lake=lake, registry=registry, orchestrator=orchestrator
    )
