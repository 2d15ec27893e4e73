"""Synthetic stacks of any size for the benchmarks: the prod stack file with N sites."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hybridctl.stackfile import STACKS_DIR, StackFile, load


def stack_with_sites(count: int) -> StackFile:
    """prod's platform with `count` sites: a third cloud, a third standard on-prem, a third regulated."""
    base = load(STACKS_DIR / "Pulumi.prod.yaml")
    config = copy.deepcopy(base.config)
    sites: list[dict[str, Any]] = []
    for index in range(count):
        flavour = index % 3
        sites.append(
            {
                "name": f"site-{index:04d}",
                "kind": "cloud" if flavour == 0 else "onprem",
                "residency": "regulated" if flavour == 2 else "standard",
                "region": "eu-west-1" if flavour == 2 and index % 2 else "eu-central-1",
                "activation": {"registrationLimit": 2, "expiresInDays": 14},
                "extracts": [
                    {"name": "customers", "query": "SELECT * FROM customers", "schedule": "@daily"},
                    {"name": "orders", "query": "SELECT * FROM orders", "schedule": "0 * * * *"},
                ],
            }
        )
    config["hybrid-airflow:sites"] = sites
    return StackFile(name=f"bench{count}", path=Path(f"bench-{count}"), config=config)
