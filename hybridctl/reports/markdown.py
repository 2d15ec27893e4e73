"""A report a compliance reviewer reads and signs (a pull-request comment, a wiki page).

Paths are repository-relative and findings point at the stack file line of the site they are
about; the HTML report adds the residency map and the full per-control evidence.
"""

from __future__ import annotations

from hybridctl.findings import CheckResult, Finding
from hybridctl.storage_view import Access

STATUS_MARK = {
    "pass": "PASS",
    "fail": "FAIL",
    "warn": "WARN",
    "waived": "WAIVED",
    "disabled": "off",
    "nothing-to-check": "NOTHING TO CHECK",
}


def _cell(text: object) -> str:
    """Text safe in a table cell and inline: no pipes, line breaks or raw HTML."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\n", " ")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("`", "'")
    )


def _at(result: CheckResult, finding: Finding) -> str:
    location = result.location(finding)
    if location is None:
        return ""
    return f" at `{_cell(location.path)}:{location.line}`" if location.line else ""


def _who(items: tuple[Access, ...], none: str) -> str:
    if not items:
        return none
    return "; ".join(
        f"{a.principal} ({', '.join(a.actions)}"
        + ("" if a.decrypt is None else ", may decrypt" if a.decrypt else ", may not decrypt")
        + ")"
        for a in items
    )


def _metadata(result: CheckResult) -> list[str]:
    meta = result.metadata
    if meta is None:
        return []
    commit = meta.git.commit or f"unknown ({meta.git.note})"
    if meta.git.dirty:
        commit += " (uncommitted changes in the work tree)"
    return [
        "## What was checked",
        "",
        f"- Git commit: `{commit}`",
        f"- Stack file: `{_cell(meta.stack_file.path)}` sha256 `{meta.stack_file.sha256}`"
        + (" (differs from the commit)" if meta.git.stack_file_committed is False else ""),
        f"- Policy config: `{_cell(meta.policy_config.path)}` sha256 `{meta.policy_config.sha256}`",
        f"- Policy pack: {meta.pack_name} {meta.pack_version}, sources sha256 `{meta.pack_sha256}`",
        "- Tools: " + ", ".join(f"{k} {v}" for k, v in meta.tools.items()),
        "",
    ]


def _storage(result: CheckResult) -> list[str]:
    if result.storage is None:
        return []
    out = [
        "## Where regulated data is stored, and who can read it",
        "",
        "Derived from the captured IAM and bucket policies with the policy pack's IAM evaluator.",
        "",
        "| Site | Data | Location | Region | Key | Readers | Writers |",
        "|---|---|---|---|---|---|---|",
    ]
    for view in result.storage:
        for loc in view.locations:
            key = f"{loc.key.name} ({loc.key.region})" if loc.key else loc.key_note
            region = f"{loc.region}" + (
                " **outside allowed regions**" if loc.outside_allowed else ""
            )
            out.append(
                f"| {_cell(view.site)} | {loc.kind} | `{_cell(loc.uri)}` | {_cell(region)} | "
                f"{_cell(key)} | {_cell(_who(loc.readers, 'no principal of this stack'))} | "
                f"{_cell(_who(loc.writers, '-'))} |"
            )
    notes = [note for view in result.storage for note in view.notes]
    out += ["", *(f"- **Note:** {_cell(n)}" for n in notes), ""] if notes else [""]
    return out


def _baseline(result: CheckResult) -> list[str]:
    comparison = result.comparison
    if comparison is None:
        return []
    base = comparison.baseline
    counts = comparison.counts
    out = [
        "## Since the baseline",
        "",
        f"Baseline `{_cell(base.path)}` (stack {_cell(base.stack or '?')}, generated "
        f"{_cell(base.generated_at or '?')}, commit `{_cell(base.commit or 'unknown')}`): "
        f"{counts['new']} new, {counts['resolved']} resolved, {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged finding(s); {counts['waiverChanges']} waiver change(s).",
        "",
    ]
    out += [f"- **Warning:** {_cell(w)}" for w in comparison.warnings]
    rows = [
        (state, f)
        for state, items in (("new", comparison.new), ("resolved", comparison.resolved))
        for f in items
    ]
    if rows or comparison.changed:
        out += ["| Change | Policy | Site | Resource | Finding |", "|---|---|---|---|---|"]
        for state, f in rows:
            out.append(
                f"| {state} | `{_cell(f.get('policy'))}` | {_cell(f.get('site') or 'shared')} | "
                f"{_cell(f.get('resourceName') or 'stack')} | {_cell(f.get('message'))} |"
            )
        for c in comparison.changed:
            what = "; ".join(f"{k}: {c.before.get(k)} -> {c.after.get(k)}" for k in c.fields)
            out.append(
                f"| changed | `{_cell(c.after.get('policy'))}` | "
                f"{_cell(c.after.get('site') or 'shared')} | "
                f"{_cell(c.after.get('resourceName') or 'stack')} | {_cell(what)} |"
            )
        out.append("")
    out += [f"- Waiver {w.change}: {_cell(w.detail)}" for w in comparison.waivers]
    return [*out, ""]


def render(result: CheckResult) -> str:
    summary = result.summary()
    verdict = "**FAILED**" if result.exit_code else "**PASSED**"
    out = [
        f"# Data residency and security review: stack `{_cell(result.stack)}`",
        "",
        f"- Stack file: `{_cell(result.stack_file)}`",
        f"- Policy config: `{_cell(result.policy_config or 'pack defaults')}`",
        f"- Generated: {result.generated_at} by `hybridctl check` (offline, real program and policies)",
        f"- Result: {verdict}: {summary['mandatoryViolations']} mandatory violation(s), "
        f"{summary['advisoryViolations']} advisory, {summary['waived']} waived, "
        f"{summary['resources']} resources checked",
        "",
        *_metadata(result),
        "## Where each site's data is processed",
        "",
        "| Site | Residency | Processed on | Open violations |",
        "|---|---|---|---|",
    ]
    for site in result.sites:
        open_ = sorted({f.policy for f in result.site_findings(site.name) if f.status != "waived"})
        out.append(
            f"| {_cell(site.name)} | {site.residency} | {_cell(site.processed_at)} | "
            f"{', '.join(open_) or 'none'} |"
        )
    out += ["", *_storage(result)]
    out += [
        "## Policies",
        "",
        "| Policy | Level | Severity | Status | Examined | What it enforces |",
        "|---|---|---|---|---|---|",
    ]
    for policy in result.policies:
        first_line = (
            policy.description.strip().splitlines()[0] if policy.description.strip() else ""
        )
        control = result.control(policy.name)
        examined = "-" if control is None else str(len(control.examined))
        out.append(
            f"| `{policy.name}` | {policy.enforcement_level} | {policy.severity} | "
            f"{STATUS_MARK[result.policy_status(policy.name)]} | {examined} | {_cell(first_line)} |"
        )
    open_findings = [f for f in result.findings if f.status != "waived"]
    out += ["", "## Violations", ""]
    if not open_findings:
        out.append("None.")
    for f in open_findings:
        out.append(
            f"- **{f.policy}** ({f.enforcement_level}) on `{_cell(f.resource_name or 'stack')}`"
            f" (site {_cell(f.site or 'shared')}){_at(result, f)}: {_cell(f.message)}"
        )
    waived = [f for f in result.findings if f.status == "waived"]
    out += ["", "## Waivers", ""]
    if not result.waivers and not waived:
        out.append("None.")
    for f in waived:
        assert f.waiver is not None
        out.append(
            f"- `{f.policy}` for {_cell(f.waiver.target)}: {_cell(f.waiver.reason)} "
            f"(approved by {_cell(f.waiver.approver)}, expires {f.waiver.expires}); waived "
            f"finding: {_cell(f.message)}"
        )
    for status in result.waivers:
        w = status.waiver
        days = (
            f"expired {-status.days_left} day(s) ago"
            if status.status == "expired"
            else f"{status.days_left} day(s) to expiry"
        )
        if status.status == "unmatched":
            out.append(
                f"- `{w.policy}` for {_cell(w.target)} matches nothing (approved by "
                f"{_cell(w.approver)}, {days}): remove it"
            )
        else:
            out.append(f"- `{w.policy}` for {_cell(w.target)}: {status.status}, {days}")
    out += ["", *_baseline(result)]
    out += [
        "## Sign-off",
        "",
        "| Role | Name | Date | Signature |",
        "|---|---|---|---|",
        "| Compliance reviewer | | | |",
        "| Platform owner | | | |",
        "",
    ]
    return "\n".join(out)
