"""A report a compliance reviewer reads and signs."""

from __future__ import annotations

from hybridctl.findings import CheckResult

STATUS_MARK = {
    "pass": "PASS",
    "fail": "FAIL",
    "warn": "WARN",
    "waived": "WAIVED",
    "disabled": "off",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: CheckResult) -> str:
    summary = result.summary()
    verdict = "**FAILED**" if result.exit_code else "**PASSED**"
    out = [
        f"# Data residency and security review: stack `{result.stack}`",
        "",
        f"- Stack file: `{result.stack_file}`",
        f"- Policy config: `{result.policy_config or 'pack defaults'}`",
        f"- Generated: {result.generated_at} by `hybridctl check` (offline, real program and policies)",
        f"- Result: {verdict}: {summary['mandatoryViolations']} mandatory violation(s), "
        f"{summary['advisoryViolations']} advisory, {summary['waived']} waived, "
        f"{summary['resources']} resources checked",
        "",
        "## Where each site's data is processed",
        "",
        "| Site | Residency | Processed on | Open violations |",
        "|---|---|---|---|",
    ]
    for site in result.sites:
        open_ = sorted({f.policy for f in result.site_findings(site.name) if f.status != "waived"})
        out.append(
            f"| {site.name} | {site.residency} | {_cell(site.processed_at)} | "
            f"{', '.join(open_) or 'none'} |"
        )
    out += [
        "",
        "## Policies",
        "",
        "| Policy | Level | Severity | Status | What it enforces |",
        "|---|---|---|---|---|",
    ]
    for policy in result.policies:
        first_line = (
            policy.description.strip().splitlines()[0] if policy.description.strip() else ""
        )
        out.append(
            f"| `{policy.name}` | {policy.enforcement_level} | {policy.severity} | "
            f"{STATUS_MARK[result.policy_status(policy.name)]} | {_cell(first_line)} |"
        )
    open_findings = [f for f in result.findings if f.status != "waived"]
    out += ["", "## Violations", ""]
    if not open_findings:
        out.append("None.")
    for f in open_findings:
        out.append(
            f"- **{f.policy}** ({f.enforcement_level}) on `{f.resource_name or 'stack'}`"
            f" (site {f.site or 'shared'}): {_cell(f.message)}"
        )
    waived = [f for f in result.findings if f.status == "waived"]
    out += ["", "## Waivers", ""]
    if not waived and not result.unmatched_waivers:
        out.append("None.")
    for f in waived:
        assert f.waiver is not None
        out.append(
            f"- `{f.policy}` for {f.waiver.target}: {_cell(f.waiver.reason)} "
            f"(approved by {f.waiver.approver}, expires {f.waiver.expires}); waived finding: {_cell(f.message)}"
        )
    for w in result.unmatched_waivers:
        out.append(
            f"- `{w.policy}` for {w.target} matches nothing (approved by {w.approver}): remove it"
        )
    out += [
        "",
        "## Sign-off",
        "",
        "| Role | Name | Date | Signature |",
        "|---|---|---|---|",
        "| Compliance reviewer | | | |",
        "| Platform owner | | | |",
        "",
    ]
    return "\n".join(out)
