"""Machine-readable results: stack, summary, violations (waived ones included) and policies, with
what a reviewer needs to trust them: run metadata, per-control evidence, where each regulated
site's data is stored, the residency map's edges and, with a baseline, what changed.

The shape is `docs/check-report.schema.json`; `--baseline` reads this format back.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from hybridctl.findings import CheckResult, Finding, Waiver, WaiverStatus

REPORT_VERSION = 2


def waiver_document(waiver: Waiver) -> dict[str, Any]:
    return {**asdict(waiver), "expires": waiver.expires.isoformat()}


def waiver_status_document(status: WaiverStatus) -> dict[str, Any]:
    return {
        **waiver_document(status.waiver),
        "status": status.status,
        "daysToExpiry": status.days_left,
        "findings": status.findings,
    }


def violation_document(result: CheckResult, finding: Finding) -> dict[str, Any]:
    location = result.location(finding)
    return {
        "policy": finding.policy,
        "enforcementLevel": finding.enforcement_level,
        "status": finding.status,
        "site": finding.site,
        "resourceType": finding.resource_type,
        "resourceName": finding.resource_name,
        "urn": finding.urn,
        "message": finding.message,
        "waiver": waiver_document(finding.waiver) if finding.waiver else None,
        "location": {"path": location.path, "line": location.line} if location else None,
    }


def metadata_document(result: CheckResult) -> dict[str, Any] | None:
    meta = result.metadata
    if meta is None:
        return None
    return {
        "generatedAt": meta.generated_at,
        "git": {
            "commit": meta.git.commit,
            "dirty": meta.git.dirty,
            "stackFileCommitted": meta.git.stack_file_committed,
            "note": meta.git.note,
        },
        "stackFile": asdict(meta.stack_file),
        "policyConfig": asdict(meta.policy_config),
        "storedState": asdict(meta.stored_state) if meta.stored_state else None,
        "pack": {
            "name": meta.pack_name,
            "version": meta.pack_version,
            "sha256": meta.pack_sha256,
        },
        "tools": dict(meta.tools),
        "mode": meta.mode,
    }


def _evidence(result: CheckResult) -> list[dict[str, Any]] | None:
    if result.evidence is None:
        return None
    return [
        {
            "policy": control.policy,
            "status": result.policy_status(control.policy),
            "nothingToCheck": control.nothing_to_check,
            "fieldsRead": list(control.fields),
            "examined": [
                {
                    "urn": e.urn,
                    "resourceType": e.resource_type,
                    "resourceName": e.resource_name,
                    "site": e.site,
                    "fields": list(e.fields),
                    "result": e.result,
                    "findings": e.findings,
                }
                for e in control.examined
            ],
        }
        for control in result.evidence
    ]


def _access(items: Any) -> list[dict[str, Any]]:
    return [
        {
            "principal": a.principal,
            "site": a.site,
            "actions": list(a.actions),
            "statements": list(a.statements),
            "mayDecrypt": a.decrypt,
        }
        for a in items
    ]


def storage_document(result: CheckResult) -> list[dict[str, Any]] | None:
    if result.storage is None:
        return None
    return [
        {
            "site": s.site,
            "residency": s.residency,
            "allowedRegions": list(s.allowed_regions),
            "notes": list(s.notes),
            "unverifiablePrincipals": list(s.unverifiable),
            "locations": [
                {
                    "kind": loc.kind,
                    "uri": loc.uri,
                    "bucket": loc.bucket,
                    "prefix": loc.prefix,
                    "region": loc.region,
                    "outsideAllowedRegions": loc.outside_allowed,
                    "resourceUrn": loc.resource_urn,
                    "key": {
                        "name": loc.key.name,
                        "arn": loc.key.arn,
                        "region": loc.key.region,
                        "aliases": list(loc.key.aliases),
                        "rotation": loc.key.rotation,
                        "policy": loc.key.policy,
                        "sharedWith": list(loc.key.shared_with),
                    }
                    if loc.key
                    else None,
                    "keyNote": loc.key_note,
                    "writers": _access(loc.writers),
                    "readers": _access(loc.readers),
                    "resourcePolicy": list(loc.resource_policy),
                }
                for loc in s.locations
            ],
        }
        for s in result.storage
    ]


def _map(result: CheckResult) -> dict[str, Any] | None:
    graph = result.residency_map
    if graph is None:
        return None
    return {
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "label": n.label,
                "residency": n.residency,
                "sites": list(n.sites),
                "violating": n.violating,
            }
            for n in graph.nodes.values()
        ],
        "edges": [
            {
                "from": e.source,
                "to": e.target,
                "relation": e.relation,
                "site": e.site,
                "residency": e.residency,
                "evidence": e.evidence,
                "outsideAllowedRegions": e.outside_allowed,
            }
            for e in graph.edges
        ],
    }


def baseline_document(result: CheckResult) -> dict[str, Any] | None:
    comparison = result.comparison
    if comparison is None:
        return None
    base = comparison.baseline
    return {
        "path": base.path,
        "stack": base.stack,
        "generatedAt": base.generated_at,
        "commit": base.commit,
        "counts": comparison.counts,
        "new": list(comparison.new),
        "resolved": list(comparison.resolved),
        "changed": [
            {"before": c.before, "after": c.after, "fields": list(c.fields)}
            for c in comparison.changed
        ],
        "waiverChanges": [
            {"change": w.change, "waiver": w.waiver, "detail": w.detail} for w in comparison.waivers
        ],
        "warnings": list(comparison.warnings),
    }


def document(result: CheckResult) -> dict[str, Any]:
    violations = [violation_document(result, f) for f in result.findings]
    if result.comparison is not None:
        for item, state in zip(violations, result.comparison.states, strict=True):
            item["baselineState"] = state
    document: dict[str, Any] = {
        "reportVersion": REPORT_VERSION,
        "stack": result.stack,
        "stackFile": result.stack_file,
        "policyConfig": result.policy_config,
        "generatedAt": result.generated_at,
        "passed": result.exit_code == 0,
        "summary": result.summary(),
        "metadata": metadata_document(result),
        "violations": violations,
        "policies": [
            {
                **asdict(p),
                "enforcementLevel": p.enforcement_level,
                "status": result.policy_status(p.name),
            }
            for p in result.policies
        ],
        "evidence": _evidence(result),
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
        "storage": storage_document(result),
        "residencyMap": _map(result),
        "waivers": [waiver_status_document(w) for w in result.waivers],
        "unmatchedWaivers": [waiver_document(w) for w in result.unmatched_waivers],
        "notEvaluated": [asdict(n) for n in result.not_evaluated],
        "baseline": baseline_document(result),
    }
    return document


def render(result: CheckResult) -> str:
    return json.dumps(document(result), indent=2) + "\n"
