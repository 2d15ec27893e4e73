"""JUnit XML for CI dashboards: one test case per policy; mandatory violations fail it.

A policy with nothing to check is skipped (not a pass). With a baseline, the suite's properties
count new, resolved and changed findings, and each policy's output lists its own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hybridctl.findings import CheckResult


def _changes(result: CheckResult, policy: str) -> list[str]:
    comparison = result.comparison
    if comparison is None:
        return []
    notes = [
        f"{state} since the baseline: {f.get('site') or 'shared'}: {f.get('message')}"
        for state, items in (("new", comparison.new), ("resolved", comparison.resolved))
        for f in items
        if f.get("policy") == policy
    ]
    notes += [
        f"changed since the baseline: {c.after.get('site') or 'shared'}: "
        + "; ".join(f"{k}: {c.before.get(k)} -> {c.after.get(k)}" for k in c.fields)
        for c in comparison.changed
        if c.after.get("policy") == policy
    ]
    return notes


def render(result: CheckResult) -> str:
    cases = []
    failures = skipped = 0
    for policy in result.policies:
        case = ET.Element("testcase", classname=f"hybridctl.check.{result.stack}", name=policy.name)
        findings = [f for f in result.findings if f.policy == policy.name]
        open_ = [f for f in findings if f.status != "waived"]
        status = result.policy_status(policy.name)
        if policy.enforcement_level == "disabled":
            ET.SubElement(case, "skipped", message="policy disabled by the policy config")
            skipped += 1
        elif status == "nothing-to-check":
            ET.SubElement(case, "skipped", message="nothing to check: no resource in its scope")
            skipped += 1
        elif open_ and policy.enforcement_level == "mandatory":
            failure = ET.SubElement(
                case, "failure", type="mandatory", message=f"{len(open_)} mandatory violation(s)"
            )
            failure.text = "\n".join(
                f"{f.site or 'shared'}: {f.resource_type} {f.resource_name}: {f.message}"
                for f in open_
            )
            failures += 1
        notes = [
            f"advisory: {f.site or 'shared'}: {f.message}"
            for f in open_
            if policy.enforcement_level == "advisory"
        ]
        notes += [
            f"waived: {f.site or 'shared'}: {f.message} (by {f.waiver.approver} until {f.waiver.expires})"
            for f in findings
            if f.status == "waived" and f.waiver
        ]
        notes += _changes(result, policy.name)
        if notes:
            ET.SubElement(case, "system-out").text = "\n".join(notes)
        cases.append(case)
    suites = ET.Element("testsuites", name="hybridctl check")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"policies on stack {result.stack}",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        timestamp=result.generated_at,
    )
    if result.comparison is not None:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(
            properties, "property", name="baseline", value=result.comparison.baseline.path
        )
        for key, count in result.comparison.counts.items():
            ET.SubElement(properties, "property", name=f"baseline.{key}", value=str(count))
    suite.extend(cases)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
