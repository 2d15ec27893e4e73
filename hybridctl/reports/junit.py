"""JUnit XML for CI dashboards: one test case per policy; mandatory violations fail it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hybridctl.findings import CheckResult


def render(result: CheckResult) -> str:
    cases = []
    failures = skipped = 0
    for policy in result.policies:
        case = ET.Element("testcase", classname=f"hybridctl.check.{result.stack}", name=policy.name)
        findings = [f for f in result.findings if f.policy == policy.name]
        open_ = [f for f in findings if f.status != "waived"]
        if policy.enforcement_level == "disabled":
            ET.SubElement(case, "skipped", message="policy disabled by the policy config")
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
    suite.extend(cases)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )
