"""`hybridctl plan`: what `pulumi up` would create for a stack, grouped by site, offline."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from hybridctl.capture import Capture, CapturedResource

SHARED = "shared"


def plan_document(capture: Capture) -> dict[str, Any]:
    """The JSON form: every resource with its inputs, secrets redacted."""
    resources = [
        {
            "type": r.type,
            "name": r.name,
            "urn": r.urn,
            "site": r.site,
            "custom": r.custom,
            "parent": r.parent or None,
            "inputs": r.inputs,
        }
        for r in capture.resources
        if not r.type.startswith("pulumi:")
    ]
    per_site: dict[str, int] = defaultdict(int)
    for r in capture.custom():
        per_site[r.site or SHARED] += 1
    return {
        "stack": capture.stack,
        "region": capture.region,
        "summary": {"resources": len(capture.custom()), "perSite": dict(sorted(per_site.items()))},
        "resources": resources,
    }


def render_text(capture: Capture) -> str:
    manifest = json.loads(capture.manifest_text() or '{"sites": []}')
    sites = {site["name"]: site for site in manifest["sites"]}
    groups: dict[str, list[CapturedResource]] = defaultdict(list)
    for resource in capture.custom():
        groups[resource.site or SHARED].append(resource)
    lines = [
        f"Plan for stack {capture.stack} ({capture.region}): "
        f"{len(capture.custom())} resources, {len(sites)} sites",
        "",
    ]
    for group in [SHARED, *sites]:
        members = groups.get(group, [])
        if group == SHARED:
            lines.append(f"shared platform ({len(members)} resources)")
        else:
            site = sites[group]
            lines.append(
                f"site {group}: {site['residency']} {site['kind']}, {site['launchType']} on "
                f"cluster {site['cluster']} in {site['region']} ({len(members)} resources)"
            )
        width = max((len(r.type) for r in members), default=0)
        for resource in sorted(members, key=lambda r: (r.type, r.name)):
            detail = _detail(resource)
            lines.append(f"  {resource.type:<{width}}  {resource.name}{detail}")
        lines.append("")
    lines.append(
        "Secrets (DB passwords, activation codes, install commands) stay redacted; "
        "`pulumi up` prints the install commands with --show-secrets."
    )
    return "\n".join(lines) + "\n"


def _detail(resource: CapturedResource) -> str:
    inputs = resource.inputs
    if resource.type == "aws:ecs/taskDefinition:TaskDefinition":
        constraints = [c.get("expression") for c in inputs.get("placementConstraints") or []]
        pinned = f", pinned: {'; '.join(constraints)}" if constraints else ""
        return f"  [{'/'.join(inputs.get('requiresCompatibilities', []))}, {inputs.get('networkMode')}{pinned}]"
    if resource.type == "aws:ssm/activation:Activation":
        return (
            f"  [expires {inputs.get('expirationDate')}, limit {inputs.get('registrationLimit')}]"
        )
    if resource.type == "aws:secretsmanager/secret:Secret":
        return "  [customer-managed key]" if inputs.get("kmsKeyId") else "  [AWS managed key]"
    if resource.type == "aws:glue/catalogDatabase:CatalogDatabase":
        return f"  [{inputs.get('name')} in {inputs.get('region')}, {inputs.get('locationUri')}]"
    if resource.type == "aws:athena/workgroup:Workgroup":
        configuration = inputs.get("configuration") or {}
        results = configuration.get("resultConfiguration") or {}
        encryption = (results.get("encryptionConfiguration") or {}).get("encryptionOption")
        cutoff = configuration.get("bytesScannedCutoffPerQuery")
        limit = f"{cutoff / 1e9:g} GB per query" if isinstance(cutoff, int | float) else "no limit"
        return f"  [{inputs.get('name')}: results {results.get('outputLocation')} {encryption}, {limit}]"
    return ""
