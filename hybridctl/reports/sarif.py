"""SARIF 2.1.0 for code scanning: one rule per policy, one result per finding.

Findings point at the stack file by its repository-relative path, at the line of the site's
setting the finding is about (its entry when none is closer; that is where a fix goes), and
name the resource as a logical location. Waived findings carry an accepted external
suppression. With a baseline, each result has its `baselineState` (new, unchanged, updated);
resolved findings are listed in the run's properties, not as results (code scanning would
open an alert for them).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hybridctl.findings import CheckResult, Finding
from hybridctl.reports.json_report import baseline_document, metadata_document

LEVELS = {"mandatory": "error", "advisory": "warning", "disabled": "none"}
TOOL = "hybrid-airflow-policies"


def _result(
    report: CheckResult, finding: Finding, rule_index: int, state: str | None
) -> dict[str, object]:
    where = report.location(finding)
    location: dict[str, object] = {
        "physicalLocation": {
            "artifactLocation": {"uri": where.path if where else report.stack_file},
            "region": {"startLine": (where.line if where else None) or 1},
        }
    }
    if finding.urn:
        location["logicalLocations"] = [
            {
                "name": finding.resource_name or "",
                "fullyQualifiedName": finding.urn,
                "kind": "resource",
            }
        ]
    entry: dict[str, object] = {
        "ruleId": finding.policy,
        "ruleIndex": rule_index,
        "level": LEVELS.get(finding.enforcement_level, "warning"),
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {
            "hybridctl/v1": hashlib.sha256(
                f"{finding.policy}|{finding.urn}|{finding.message}".encode()
            ).hexdigest()
        },
        "properties": {"site": finding.site, "status": finding.status},
    }
    if state is not None:
        entry["baselineState"] = state
    if finding.status == "waived" and finding.waiver:
        entry["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{finding.waiver.reason} (approved by {finding.waiver.approver}, "
                f"expires {finding.waiver.expires})",
            }
        ]
    return entry


def render(result: CheckResult) -> str:
    index = {p.name: i for i, p in enumerate(result.policies)}
    states = result.comparison.states if result.comparison else [None] * len(result.findings)
    properties: dict[str, Any] = {"stackFile": result.stack_file}
    if result.metadata is not None:
        properties["hybridctl"] = metadata_document(result)
    if result.comparison is not None:
        properties["baseline"] = baseline_document(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "version": "0.1.0",
                        "informationUri": "https://github.com/hybrid-airflow/hybrid-airflow",
                        "rules": [
                            {
                                "id": p.name,
                                "name": p.name,
                                "shortDescription": {"text": p.description.strip().splitlines()[0]},
                                "fullDescription": {"text": p.description.strip()},
                                "help": {"text": p.remediation or p.description},
                                "defaultConfiguration": {
                                    "level": LEVELS.get(p.enforcement_level, "warning")
                                },
                                "properties": {"severity": p.severity, "kind": p.kind},
                            }
                            for p in result.policies
                        ],
                    }
                },
                "automationDetails": {"id": f"hybridctl-check/{result.stack}/"},
                "results": [
                    _result(result, f, index.get(f.policy, 0), state)
                    for f, state in zip(result.findings, states, strict=True)
                ],
                "properties": properties,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
