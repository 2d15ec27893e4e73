"""Machine-readable results: stack, summary, violations (waived ones included) and policies."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from hybridctl.findings import CheckResult, Waiver


def _waiver(waiver: Waiver) -> dict[str, Any]:
    return {**asdict(waiver), "expires": waiver.expires.isoformat()}


def render(result: CheckResult) -> str:
    document = {
        "stack": result.stack,
        "stackFile": result.stack_file,
        "policyConfig": result.policy_config,
        "generatedAt": result.generated_at,
        "passed": result.exit_code == 0,
        "summary": result.summary(),
        "violations": [
            {
                "policy": f.policy,
                "enforcementLevel": f.enforcement_level,
                "status": f.status,
                "site": f.site,
                "resourceType": f.resource_type,
                "resourceName": f.resource_name,
                "urn": f.urn,
                "message": f.message,
                "waiver": _waiver(f.waiver) if f.waiver else None,
            }
            for f in result.findings
        ],
        "policies": [
            {
                **asdict(p),
                "enforcementLevel": p.enforcement_level,
                "status": result.policy_status(p.name),
            }
            for p in result.policies
        ],
        "sites": [
            {
                "name": s.name,
                "residency": s.residency,
                "launchType": s.launch_type,
                "cluster": s.cluster,
                "region": s.region,
                "processedAt": s.processed_at,
            }
            for s in result.sites
        ],
        "unmatchedWaivers": [_waiver(w) for w in result.unmatched_waivers],
        "notEvaluated": [asdict(n) for n in result.not_evaluated],
    }
    return json.dumps(document, indent=2) + "\n"
