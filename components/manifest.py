"""What the DAGs need to know of each site: the sites manifest and the sites' network file.

Two documents, split by when their values are known (docs/contracts.md, section 2):

- the sites manifest (docs/sites-manifest.schema.json) holds only values the program writes
  itself, so it is fully known during a first `pulumi preview` and the policy pack can decide
  residency from it before anything exists;
- the network file (docs/sites-network.schema.json) holds the subnet and security-group ids
  that FARGATE tasks need, which the provider only knows once the network is created.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from components.config import Site as SiteConfig
from components.naming import CONTAINER_NAME, LOG_STREAM_PREFIX, Naming, placement_constraints

MANIFEST_VERSION = 2
NETWORK_VERSION = 1


def site_entry(site: SiteConfig, *, naming: Naming, cluster: str) -> dict[str, Any]:
    """One site as the DAGs route it: every value comes from the stack config and naming."""
    launch_type = site.effective_launch_type
    return {
        "name": site.name,
        "kind": site.kind,
        "residency": site.residency,
        "region": site.region,
        "cluster": cluster,
        "launchType": launch_type,
        "taskDefinitionFamily": naming.task_family(site.name),
        "containerName": CONTAINER_NAME,
        "logs": {
            "group": naming.log_group(site.name),
            "region": site.region,
            "streamPrefix": f"{LOG_STREAM_PREFIX}/{CONTAINER_NAME}",
        },
        "secretId": naming.secret(site.name),
        "lakePrefix": site.name,
        "glueDatabase": naming.glue_database(site.name),
        "placementConstraints": placement_constraints(site.name)
        if launch_type == "EXTERNAL"
        else [],
        "extracts": [
            {
                "name": e.name,
                "query": e.query,
                "schedule": e.schedule,
                "keyPrefix": f"{site.name}/{e.name}",
                "incremental": {
                    "column": e.incremental.column,
                    "start": e.incremental.start.isoformat(),
                }
                if e.incremental
                else None,
            }
            for e in site.extracts
        ],
    }


def build_manifest(
    *,
    environment: str,
    region: str,
    cluster: str,
    dags_paused_on_creation: bool,
    sites: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "environment": environment,
        "region": region,
        "cluster": cluster,
        "dags": {"pausedOnCreation": dags_paused_on_creation},
        "sites": list(sites),
    }


def build_network(*, subnets: Sequence[str], security_group: str) -> dict[str, Any]:
    """RunTask's awsvpc configuration for FARGATE sites (never sent for EXTERNAL or EC2)."""
    return {
        "version": NETWORK_VERSION,
        "awsvpcConfiguration": {
            "subnets": list(subnets),
            "securityGroups": [security_group],
            "assignPublicIp": "DISABLED",
        },
    }


def render(document: dict[str, Any]) -> str:
    """Stable text, so the DAG bucket object changes only when the document does."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
