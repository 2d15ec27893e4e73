"""The terminal report: a table per site, then each violation with what to do about it."""

from __future__ import annotations

from hybridctl.findings import CheckResult, Finding


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _where(finding: Finding) -> str:
    site = finding.site or "shared"
    return f"{site}: {finding.resource_type or 'stack'} {finding.resource_name or ''}".rstrip()


def render(result: CheckResult) -> str:
    summary = result.summary()
    lines = [
        f"Compliance check of stack {result.stack} ({result.stack_file})",
        f"policy config: {result.policy_config or 'pack defaults'}; "
        f"{summary['policies']} policies on {summary['resources']} resources",
        "",
    ]
    rows = [["site", "residency", "tasks run on", "result", "failing policies"]]
    for site in result.sites:
        failing = sorted(
            {f.policy for f in result.site_findings(site.name) if f.status != "waived"}
        )
        any_waived = any(f.status == "waived" for f in result.site_findings(site.name))
        verdict = (
            "FAIL"
            if any(f.blocking for f in result.site_findings(site.name))
            else ("warn" if failing else ("pass (waived)" if any_waived else "pass"))
        )
        rows.append(
            [
                site.name,
                site.residency,
                f"{site.launch_type} on {site.cluster} ({site.region})",
                verdict,
                ", ".join(failing) or "-",
            ]
        )
    shared = [f for f in result.findings if f.site is None and f.status != "waived"]
    rows.append(
        [
            "(shared)",
            "-",
            "-",
            "FAIL" if any(f.blocking for f in shared) else ("warn" if shared else "pass"),
            ", ".join(sorted({f.policy for f in shared})) or "-",
        ]
    )
    lines += _table(rows)

    open_findings = [f for f in result.findings if f.status != "waived"]
    if open_findings:
        lines += ["", "Violations:"]
        remediation = {p.name: p.remediation for p in result.policies}
        for f in sorted(open_findings, key=lambda f: (not f.blocking, f.policy, f.site or "")):
            # An expired waiver is named in the message itself, as the engine reports it.
            lines.append(f"  [{f.enforcement_level}] {f.policy}  {_where(f)}")
            lines.append(f"      {f.message}")
            location = result.location(f)
            if location is not None and location.line:
                lines.append(f"      at {location.path}:{location.line}")
            if remediation.get(f.policy):
                lines.append(f"      fix: {remediation[f.policy]}")
    waived = [f for f in result.findings if f.status == "waived"]
    if waived:
        lines += ["", "Waived (not blocking):"]
        for f in waived:
            assert f.waiver is not None
            lines.append(
                f"  {f.policy}  {_where(f)}: {f.message}\n      waived by {f.waiver.approver} "
                f"until {f.waiver.expires}: {f.waiver.reason}"
            )
    if result.unmatched_waivers:
        lines += ["", "Waivers that match nothing (remove them or fix their target):"]
        lines += [
            f"  {w.policy} for {w.target} (approved by {w.approver})"
            for w in result.unmatched_waivers
        ]
    if result.not_evaluated:
        lines += ["", "Not evaluated (unknown values):"]
        lines += [f"  {n.policy} {n.urn or ''}: {n.reason}" for n in result.not_evaluated]
    lines += _storage(result)
    lines += _baseline(result)
    lines += [
        "",
        f"Result: {summary['mandatoryViolations']} mandatory violation(s), "
        f"{summary['advisoryViolations']} advisory, {summary['waived']} waived"
        + (" - FAILED" if result.exit_code else " - passed"),
    ]
    return "\n".join(lines) + "\n"


def _storage(result: CheckResult) -> list[str]:
    """Per regulated site: where its extracts are stored, under which key, who can read them."""
    if not result.storage:
        return []
    lines = ["", "Where regulated data is stored (derived from the IAM and bucket policies):"]
    for view in result.storage:
        for loc in view.locations:
            key = loc.key.name if loc.key else loc.key_note
            readers = ", ".join(a.principal for a in loc.readers) or "no principal of this stack"
            lines.append(
                f"  {view.site} {loc.kind}: {loc.uri} in {loc.region}, key {key}; "
                f"readers: {readers}"
            )
        lines += [f"  note: {note}" for note in view.notes]
    return lines


def _baseline(result: CheckResult) -> list[str]:
    comparison = result.comparison
    if comparison is None:
        return []
    counts = comparison.counts
    lines = [
        "",
        f"Since {comparison.baseline.path} ({comparison.baseline.generated_at or 'undated'}): "
        f"{counts['new']} new, {counts['resolved']} resolved, {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged; {counts['waiverChanges']} waiver change(s)",
    ]
    lines += [f"  warning: {w}" for w in comparison.warnings]
    for mark, items in (("+ new", comparison.new), ("- resolved", comparison.resolved)):
        for f in items:
            lines.append(
                f"  {mark}: {f.get('policy')}  {f.get('site') or 'shared'}: "
                f"{f.get('resourceType') or 'stack'} {f.get('resourceName') or ''}".rstrip()
            )
            lines.append(f"      {f.get('message')}")
    for change in comparison.changed:
        after = change.after
        lines.append(
            f"  ~ changed: {after.get('policy')}  {after.get('site') or 'shared'}: "
            f"{after.get('resourceType') or 'stack'} {after.get('resourceName') or ''}".rstrip()
        )
        lines += [f"      {k}: {change.before.get(k)} -> {after.get(k)}" for k in change.fields]
    lines += [f"  waiver {w.change}: {w.detail}" for w in comparison.waivers]
    return lines
