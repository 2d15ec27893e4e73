"""SARIF 2.1.0 for code scanning: one rule per policy, one result per finding.

Findings point at the site's entry in the stack file (that is where a fix goes) and name the
resource as a logical location. Waived findings carry an accepted external suppression.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from hybridctl.findings import CheckResult, Finding

LEVELS = {"mandatory": "error", "advisory": "warning", "disabled": "none"}
TOOL = "hybrid-airflow-policies"


def _site_lines(stack_file: str) -> dict[str, int]:
    try:
        text = Path(stack_file).read_text(encoding="utf-8")
    except OSError:
        return {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r"\s*-?\s*name:\s*['\"]?([a-z0-9-]+)['\"]?\s*$", line)
        if match:
            lines.setdefault(match.group(1), number)
    return lines


def _result(
    finding: Finding, rule_index: int, uri: str, lines: dict[str, int]
) -> dict[str, object]:
    location: dict[str, object] = {
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": lines.get(finding.site or "", 1)},
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
    result: dict[str, object] = {
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
    if finding.status == "waived" and finding.waiver:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{finding.waiver.reason} (approved by {finding.waiver.approver}, "
                f"expires {finding.waiver.expires})",
            }
        ]
    return result


def render(result: CheckResult) -> str:
    index = {p.name: i for i, p in enumerate(result.policies)}
    uri = Path(result.stack_file).as_posix()
    lines = _site_lines(result.stack_file)
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
                    _result(f, index.get(f.policy, 0), uri, lines) for f in result.findings
                ],
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
