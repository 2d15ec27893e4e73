"""Stack files a user would write by mistake: prod with one edit each, as YAML on disk.

Shared by the policy end-to-end tests and the engine-protocol harness (tests/engine), which run
every one of them through `hybridctl check` and the pack as the engine drives it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.policies.conftest import site_of

PROD_STACK = Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.prod.yaml"


def _fargate_munich(config: dict[str, Any]) -> None:
    site_of(config, "munich")["launchType"] = "FARGATE"


def _dublin_in_us(config: dict[str, Any]) -> None:
    site_of(config, "dublin")["region"] = "us-east-1"


def _long_activation(config: dict[str, Any]) -> None:
    site_of(config, "dublin")["activation"]["expiresInDays"] = 30


def _public_airflow(config: dict[str, Any]) -> None:
    config["hybrid-airflow:platform"]["orchestrator"]["webserverAccessMode"] = "PUBLIC_ONLY"


def _munich_relabelled(config: dict[str, Any]) -> None:
    site_of(config, "munich")["residency"] = "standard"


def _platform_in_eu_west_1(config: dict[str, Any]) -> None:
    """The platform (and hq, a FARGATE site, with it) moves to eu-west-1: the lake and every
    Glue database move along, so munich's data (allowed in eu-central-1 only) would be stored
    in eu-west-1."""
    config["aws:region"] = "eu-west-1"
    site_of(config, "hq")["region"] = "eu-west-1"


def _new_site(config: dict[str, Any]) -> None:
    config["hybrid-airflow:sites"].append(
        {
            "name": "lyon",
            "kind": "onprem",
            "residency": "regulated",
            "region": "eu-west-1",
            "activation": {"registrationLimit": 1, "expiresInDays": 7},
            "extracts": [{"name": "t", "query": "SELECT 1", "schedule": "@daily"}],
        }
    )


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "regulated-fargate": _fargate_munich,
    "region-outside": _dublin_in_us,
    "long-activation": _long_activation,
    "public-airflow": _public_airflow,
    "munich-relabelled": _munich_relabelled,
    "new-site": _new_site,
    "platform-in-eu-west-1": _platform_in_eu_west_1,
}


def write_violating_stacks(folder: Path) -> dict[str, Path]:
    """Write `Pulumi.<name>.yaml` for every edit of EDITS into `folder`; name -> path."""
    prod = yaml.safe_load(PROD_STACK.read_text(encoding="utf-8"))
    files = {}
    for name, edit in EDITS.items():
        document = json.loads(json.dumps(prod, default=str))  # dates as written
        full = {k if ":" in k else f"hybrid-airflow:{k}": v for k, v in document["config"].items()}
        edit(full)
        path = folder / f"Pulumi.{name}.yaml"
        path.write_text(yaml.safe_dump({"config": full}, sort_keys=False), encoding="utf-8")
        files[name] = path
    return files
