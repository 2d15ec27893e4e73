"""EtlCluster: the ECS clusters extracts run on.

Standard sites share one cluster per region. Each regulated site gets a cluster of its own, so its
hosts and tasks never share one with anyone else's: IAM cannot condition RunTask on the launch
type, but it can on `ecs:cluster`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import arns
from components.config import Site
from components.naming import Naming


@dataclass(frozen=True)
class ClusterRef:
    name: str
    region: str
    arn: pulumi.Output[str]  # as the provider reports it (unknown until the cluster exists)
    # The cluster's `name` output: the same string as `name`, known at preview, and a
    # dependency on the cluster for whatever is built from it.
    name_output: pulumi.Output[str]

    def arn_of(self, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
        """The cluster's ARN from its name and the account: known at a first preview."""
        return pulumi.Output.all(self.name_output, account_id).apply(
            lambda a: arns.ecs_cluster(region=self.region, account_id=a[1], name=a[0])
        )


@dataclass(frozen=True)
class EtlClusterArgs:
    naming: Naming
    platform_region: str
    sites: Sequence[Site]


class EtlCluster(pulumi.ComponentResource):
    shared: ClusterRef
    by_site: dict[str, ClusterRef]

    def __init__(
        self, name: str, args: EtlClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hybrid:platform:EtlCluster", name, None, opts)
        naming, platform_region, sites = args.naming, args.platform_region, args.sites
        child = pulumi.ResourceOptions(parent=self)

        def cluster(
            resource_name: str, cluster_name: str, region: str, tags: dict[str, str]
        ) -> ClusterRef:
            resource = aws.ecs.Cluster(
                resource_name,
                name=cluster_name,
                region=region,
                settings=[{"name": "containerInsights", "value": "enabled"}],
                tags=tags,
                opts=child,
            )
            return ClusterRef(cluster_name, region, resource.arn, resource.name)

        shared_regions = {platform_region} | {s.region for s in sites if not s.has_own_cluster}
        shared = {
            region: cluster(
                f"{name}-{naming.shared_cluster(region, platform_region)}",
                naming.shared_cluster(region, platform_region),
                region,
                naming.tags(purpose="shared-cluster"),
            )
            for region in sorted(shared_regions)
        }
        self.shared = shared[platform_region]
        self.by_site = {}
        for site in sites:
            if site.has_own_cluster:
                self.by_site[site.name] = cluster(
                    f"{name}-{naming.site(site.name)}",
                    naming.site(site.name),
                    site.region,
                    naming.tags(site=site.name, residency=site.residency, purpose="site-cluster"),
                )
            else:
                self.by_site[site.name] = shared[site.region]
        self.register_outputs({"sharedClusterArn": self.shared.arn})
