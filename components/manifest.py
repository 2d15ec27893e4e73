"""The sites manifest (docs/sites-manifest.schema.json): what the DAGs need to know of each site."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Packed:
    """A JSON value (a site's manifest entry, its network configuration) that `Output.all`
    passes through whole; a bare dict or list would be unwrapped item by item, at the cost of
    a task per item and per nesting level."""

    value: dict[str, Any]


def build_manifest(
    *,
    environment: str,
    region: str,
    cluster: str,
    lake_bucket: str,
    sites: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "environment": environment,
        "region": region,
        "cluster": cluster,
        "lakeBucket": lake_bucket,
        "sites": list(sites),
    }


def render(manifest: dict[str, Any]) -> str:
    """Stable text, so the DAG bucket object changes only when the manifest does."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"
