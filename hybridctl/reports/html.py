"""One self-contained HTML file a compliance reviewer reads, prints and signs.

It fetches nothing (inline CSS, the map as inline SVG, no scripts; a Content-Security-Policy
says so to the browser too) and escapes everything that comes from files (`html_markup`).
Sections: the verdict, what was checked, a summary per site, the residency map, where
regulated data is stored and who can read it, per-control evidence, findings, waivers with
days to expiry, changes since the baseline, and a sign-off block.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable

from hybridctl.evidence import RESULT_ORDER, ControlEvidence, ExaminedResource
from hybridctl.findings import CheckResult, Finding
from hybridctl.reports.html_markup import Safe, el, escape, lines, table, void
from hybridctl.reports.html_style import CSS
from hybridctl.residency_map import COLOURS, OUTSIDE, ResidencyMap, to_svg
from hybridctl.storage_view import Access, DataLocation, SiteStorage

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STATUS_TEXT = {
    "pass": "PASS",
    "fail": "FAIL",
    "warn": "WARN",
    "waived": "WAIVED",
    "disabled": "OFF",
    "nothing-to-check": "NOTHING TO CHECK",
}
EXPIRING_DAYS = 14


def badge(text: str, kind: str) -> Safe:
    return el("span", text, class_=f"badge {kind}")


def _where(finding: Finding) -> str:
    return f"{finding.resource_type or 'stack'} {finding.resource_name or ''}".strip()


def _location(result: CheckResult, finding: Finding) -> Safe:
    location = result.location(finding)
    if location is None:
        return Safe("")
    shown = f"{location.path}:{location.line}" if location.line else location.path
    return el("code", shown)


# --- sections --------------------------------------------------------------------------------


def _header(result: CheckResult) -> Safe:
    summary = result.summary()
    failed = bool(result.exit_code)
    verdict = (
        f"FAILED: {summary['mandatoryViolations']} mandatory violation(s)"
        if failed
        else "PASSED: no mandatory violation"
    )
    return el(
        "header",
        el("h1", f"Data residency and security review: stack {result.stack}"),
        el(
            "p",
            f"Generated {result.generated_at} by hybridctl check: the real program under "
            "mocks and the real policy pack, offline, no credentials.",
            class_="muted",
        ),
        el("div", verdict, class_=f"verdict {'failed' if failed else 'passed'}", id="verdict"),
        el(
            "p",
            f"{summary['policies']} policies on {summary['resources']} resources: "
            f"{summary['mandatoryViolations']} mandatory, {summary['advisoryViolations']} "
            f"advisory, {summary['waived']} waived, {summary['expiredWaivers']} under an expired "
            f"waiver, {summary['notEvaluated']} not evaluated.",
        ),
        el(
            "nav",
            [
                el("a", label, href=f"#{anchor}")
                for anchor, label in (
                    ("metadata", "What was checked"),
                    ("sites", "Sites"),
                    ("map", "Residency map"),
                    ("storage", "Where data is stored"),
                    ("controls", "Controls and evidence"),
                    ("findings", "Findings"),
                    ("waivers", "Waivers"),
                    ("baseline", "Since the baseline"),
                    ("signoff", "Sign-off"),
                )
            ],
            class_="contents",
        ),
    )


def _metadata(result: CheckResult) -> Safe:
    meta = result.metadata
    rows: list[tuple[str, object]] = [
        ("Stack", result.stack),
        ("Stack file", result.stack_file),
        ("Policy config", result.policy_config or "pack defaults"),
        ("Generated", result.generated_at),
    ]
    if meta is not None:
        git = meta.git
        commit = git.commit or f"unknown ({git.note})"
        if git.dirty:
            commit += " (work tree has uncommitted changes)"
        rows = [
            ("Stack", result.stack),
            ("Git commit", commit),
            (
                "Stack file",
                f"{meta.stack_file.path}"
                + (
                    ""
                    if git.stack_file_committed is None
                    else " (as committed)"
                    if git.stack_file_committed
                    else " (differs from the commit)"
                ),
            ),
            ("Stack file sha256", meta.stack_file.sha256 or "cannot be read"),
            ("Policy config", meta.policy_config.path),
            ("Policy config sha256", meta.policy_config.sha256 or "-"),
            ("Policy pack", f"{meta.pack_name} {meta.pack_version}"),
            ("Policy pack sources sha256", meta.pack_sha256),
            ("Judged as", "after `pulumi up`" if meta.mode == "up" else "a first `pulumi preview`"),
            (
                "Stored state",
                f"{meta.stored_state.path} (sha256 {meta.stored_state.sha256})"
                if meta.stored_state
                else "none (values the engine keeps from a deployed stack judged as computed)",
            ),
            ("Tools", ", ".join(f"{k} {v}" for k, v in meta.tools.items())),
            ("Generated", meta.generated_at),
        ]
    return el(
        "section",
        el("h2", "What was checked"),
        el(
            "table",
            el("tbody", [el("tr", el("th", k), el("td", str(v), class_="mono")) for k, v in rows]),
            class_="meta",
        ),
        id="metadata",
    )


def _site_rows(result: CheckResult) -> Iterable[Safe]:
    graph = result.residency_map
    summaries = {s.name: s for s in result.sites}
    storage = {s.site: s for s in result.storage or []}
    names = sorted(
        {s.name for s in result.sites}
        | ({n.sites[0] for n in graph.nodes.values() if n.kind == "site"} if graph else set())
    )
    for name in names:
        findings = result.site_findings(name)
        open_ = sorted({f.policy for f in findings if f.status != "waived"})
        blocking = any(f.blocking for f in findings)
        waived = sum(1 for f in findings if f.status == "waived")
        summary = summaries.get(name)
        residency = summary.residency if summary else "not in the manifest"
        processing, stored = _derived(graph, name)
        if name in storage:
            stored = [
                f"{loc.uri} ({loc.region}, key {loc.key.name if loc.key else loc.key_note})"
                for loc in storage[name].locations
                if loc.kind == "extracts"
            ] or stored
        extracts = (
            [
                el("div", el("b", e.name), f" ({e.schedule}): ", el("code", e.query))
                for e in summary.extracts
            ]
            if summary
            else []
        )
        verdict = (
            badge("FAIL", "fail")
            if blocking
            else badge("WARN", "warn")
            if open_
            else badge("PASS (waived)", "waived")
            if waived
            else badge("PASS", "pass")
        )
        yield el(
            "tr",
            el("td", name, class_="site-name"),
            el("td", badge(residency, residency if residency in COLOURS else "unknown")),
            el("td", verdict),
            el("td", lines(processing) if processing else "-"),
            el("td", lines(stored) if stored else "-"),
            el("td", extracts or "-"),
            el("td", lines(open_) if open_ else "none"),
            class_="violating" if blocking else None,
            data_site=name,
            data_status="fail" if blocking else "warn" if open_ else "pass",
        )
    shared = [f for f in result.findings if f.site is None and f.status != "waived"]
    if shared:
        yield el(
            "tr",
            el("td", "(shared platform)", class_="site-name"),
            el("td", "-"),
            el(
                "td",
                badge("FAIL", "fail") if any(f.blocking for f in shared) else badge("WARN", "warn"),
            ),
            el("td", "-"),
            el("td", "-"),
            el("td", "-"),
            el("td", lines(sorted({f.policy for f in shared}))),
            class_="violating" if any(f.blocking for f in shared) else None,
            data_site="(shared)",
        )


def _derived(graph: ResidencyMap | None, site: str) -> tuple[list[str], list[str]]:
    """Where the site's data is processed and stored, as the map derived it."""
    if graph is None:
        return [], []
    first = {n.id: n.label.split("\n")[0] for n in graph.nodes.values()}
    regions = {n.id: n.label.split("\n")[0] for n in graph.nodes.values() if n.kind == "region"}
    processing, stored = [], []
    for edge in graph.edges_of(site):
        if edge.relation == "runs on":
            region = next(
                (
                    regions[e.target]
                    for e in graph.edges_of(site)
                    if e.source == edge.target and e.relation == "in"
                ),
                "?",
            )
            processing.append(f"{first[edge.target]} ({region})")
        elif edge.relation == "hosts":
            processing.append(first[edge.target])
        elif edge.relation == "writes":
            stored.append(graph.node(edge.target).label.split("\n")[-1])
    return sorted(set(processing)), sorted(set(stored))


def _sites(result: CheckResult) -> Safe:
    return el(
        "section",
        el("h2", "Sites"),
        el(
            "p",
            "Residency is compliance's (the policy config); processing and storage are derived "
            "from the captured resources and their IAM policies; extracts are what the sites "
            "manifest hands Airflow.",
            class_="muted small",
        ),
        table(
            (
                "Site",
                "Residency",
                "Result",
                "Processed on",
                "Extracts stored in",
                "Extracts",
                "Open findings",
            ),
            _site_rows(result),
            class_="sites",
        ),
        id="sites",
    )


def _legend() -> Safe:
    items = []
    for name, (fill, border) in COLOURS.items():
        items.append(
            el(
                "span",
                el("span", "", class_="swatch", style=f"background:{fill};border-color:{border}"),
                name,
            )
        )
    items.append(
        el(
            "span",
            el("span", "", class_="swatch", style=f"background:#fff;border-color:{OUTSIDE}"),
            "violating site / edge outside the site's allowed regions (dashed)",
        )
    )
    return el("p", items, class_="legend small")


def _map(result: CheckResult) -> Safe:
    graph = result.residency_map
    if graph is None:
        return el("section", el("h2", "Residency map"), el("p", "Not derived."), id="map")
    try:
        drawing: Safe = Safe(to_svg(graph))  # Graphviz escapes every label it writes
    except Exception as error:  # ExecutableNotFound, CalledProcessError: no map, say so
        print(f"warning: the residency map cannot be drawn: {error}", file=sys.stderr)
        drawing = el(
            "p",
            f"The map could not be drawn ({type(error).__name__}: Graphviz's dot is needed: "
            "make system-deps). Its edges and their evidence are listed below.",
            class_="notice bad",
        )
    names = {n.id: n.label.replace("\n", " ") for n in graph.nodes.values()}
    rows = [
        el(
            "tr",
            el("td", edge.site),
            el("td", names[edge.source]),
            el(
                "td", edge.relation + (" (outside allowed regions)" if edge.outside_allowed else "")
            ),
            el("td", names[edge.target]),
            el("td", edge.evidence, class_="small"),
            class_="violating" if edge.outside_allowed else None,
        )
        for edge in graph.edges
    ]
    return el(
        "section",
        el("h2", "Residency map"),
        el(
            "p",
            "Sites, the clusters and hosts that process their data, regions, and the lake "
            "prefixes and keys that store it. Every edge is derived from the captured resources "
            "(IAM grants evaluated with the pack's evaluator, task definitions, activations, "
            "buckets and their encryption); none comes from the manifest or the stack config.",
            class_="muted small",
        ),
        _legend(),
        el(
            "figure",
            drawing,
            el("figcaption", "Residency map of stack ", result.stack),
            class_="map",
        ),
        el("h3", "Edges and where each comes from"),
        table(("Site", "From", "Relation", "To", "Derived from"), rows, class_="edges"),
        id="map",
    )


def _access_cell(items: Iterable[Access], none: str) -> Safe:
    shown = []
    for a in items:
        decrypt = (
            "" if a.decrypt is None else " (may decrypt)" if a.decrypt else " (may not decrypt)"
        )
        shown.append(
            el(
                "div",
                el("b", a.principal),
                f" [{a.site or 'shared'}]: {', '.join(a.actions)}{decrypt}",
                el("div", "; ".join(a.statements), class_="small muted"),
            )
        )
    return Safe("".join(shown)) if shown else escape(none)


def _location_row(location: DataLocation, account_note: str) -> Safe:
    key = location.key
    key_cell: list[object] = (
        [
            el("b", key.name),
            f" ({key.region or '?'}), rotation {'on' if key.rotation else 'off or unknown'}",
            el("div", key.arn or "", class_="small mono"),
            el("div", key.policy, class_="small muted"),
            el("div", f"also encrypts the data of: {', '.join(key.shared_with)}", class_="small")
            if key.shared_with
            else "",
        ]
        if key
        else [location.key_note]
    )
    return el(
        "tr",
        el("td", location.kind),
        el("td", el("code", location.uri)),
        el(
            "td",
            location.region or "unknown",
            el("div", badge("outside allowed regions", "fail")) if location.outside_allowed else "",
        ),
        el("td", key_cell),  # type: ignore[arg-type]
        el("td", _access_cell(location.readers, f"no principal of this stack; {account_note}")),
        el("td", _access_cell(location.writers, "-")),
        el(
            "td",
            lines(location.resource_policy) if location.resource_policy else "-",
            class_="small",
        ),
        class_="violating" if location.outside_allowed else None,
        data_kind=location.kind,
    )


def _storage(result: CheckResult) -> Safe:
    views: list[SiteStorage] = result.storage or []
    account = "outside it, the account's IAM decides (see the key's policy)" if views else ""
    cards = [
        el(
            "article",
            el("h3", f"{view.site} ", badge(view.residency, "regulated")),
            el(
                "p",
                f"Allowed regions (compliance): {', '.join(view.allowed_regions)}",
                class_="small",
            ),
            [el("p", note, class_="notice bad") for note in view.notes],
            el(
                "p",
                "Cannot verify the access of: " + ", ".join(view.unverifiable),
                class_="notice",
            )
            if view.unverifiable
            else "",
            table(
                (
                    "Data",
                    "Location",
                    "Region",
                    "Key",
                    "Who can read it",
                    "Who writes it",
                    "Resource policy",
                ),
                [_location_row(loc, account) for loc in view.locations],
                class_="storage",
            ),
            class_="site-storage",
            data_site=view.site,
        )
        for view in views
    ]
    return el(
        "section",
        el("h2", "Where regulated data is stored, and who can read it"),
        el(
            "p",
            "Derived from the captured IAM and bucket policies with the policy pack's IAM "
            "evaluator: readers may s3:GetObject below the prefix (or GetSecretValue), writers "
            "may s3:PutObject there; 'may decrypt' is kms:Decrypt under the item's key.",
            class_="muted small",
        ),
        cards or el("p", "This stack has no regulated site."),
        id="storage",
    )


def _evidence_rows(control: ControlEvidence) -> Iterable[Safe]:
    """One row per (result, fields read): what decided, then what was only scanned."""
    groups: dict[tuple[str, tuple[str, ...]], list[ExaminedResource]] = defaultdict(list)
    for item in control.examined:
        groups[(item.result, item.fields)].append(item)
    order = sorted(groups, key=lambda k: (RESULT_ORDER.index(k[0]), -len(k[1]), k[1]))
    for result, fields in order:
        items = groups[(result, fields)]
        types: dict[str, int] = defaultdict(int)
        for item in items:
            types[item.resource_type] += 1
        names = [f"{i.resource_name} ({i.site})" if i.site else i.resource_name for i in items]
        yield el(
            "tr",
            el("td", badge(result.upper().replace("-", " "), result)),
            el(
                "td",
                lines(f"{t} x{n}" if n > 1 else t for t, n in sorted(types.items())),
                class_="mono small",
            ),
            el("td", f"{len(items)}: ", ", ".join(names), class_="small"),
            el("td", ", ".join(fields) or "(named by a finding)", class_="mono"),
            data_result=result,
        )


def _controls(result: CheckResult) -> Safe:
    articles = []
    for policy in result.policies:
        status = result.policy_status(policy.name)
        control = result.control(policy.name)
        first_line = policy.description.strip().splitlines()[0] if policy.description else ""
        if control is None:
            body: Safe = el("p", "Evidence was not collected.", class_="muted")
        elif control.nothing_to_check:
            scanned = (
                f" It read only the tags of {len(control.examined)} resource(s) to find what is "
                "in its scope: " + ", ".join(e.resource_name for e in control.examined) + "."
                if control.examined
                else ""
            )
            body = el(
                "p",
                "Nothing to check: no resource of this stack is in this control's scope, so its "
                "pass proves nothing about this stack." + scanned,
                class_="notice",
            )
        else:
            failing = sum(1 for e in control.examined if e.findings)
            body = Safe(
                el(
                    "p",
                    f"Examined {len(control.examined)} resource(s), {failing} with findings; "
                    f"fields read: {', '.join(control.fields) or '-'}.",
                    class_="small",
                )
                + table(
                    ("Result", "Resource type", "Resources (site)", "Fields read"),
                    _evidence_rows(control),
                    class_="evidence",
                )
            )
        articles.append(
            el(
                "article",
                el(
                    "h3",
                    el("code", policy.name),
                    " ",
                    badge(STATUS_TEXT.get(status, status.upper()), status),
                    " ",
                    el(
                        "span",
                        f"{policy.enforcement_level}, {policy.severity}",
                        class_="small muted",
                    ),
                ),
                el("p", first_line, class_="small"),
                body,
                class_=f"control {status}",
                data_policy=policy.name,
                data_status=status,
            )
        )
    return el(
        "section",
        el("h2", "Controls and evidence"),
        el(
            "p",
            "Per policy: every resource it examined, the fields it read to decide, and the "
            "result on each. A control that examined nothing says so instead of passing.",
            class_="muted small",
        ),
        articles,
        id="controls",
    )


def _findings(result: CheckResult) -> Safe:
    states = result.comparison.states if result.comparison else None
    open_rows, waived_rows = [], []
    for i, f in enumerate(result.findings):
        state = el("td", badge(states[i], states[i])) if states else Safe("")
        if f.status == "waived" and f.waiver is not None:
            waived_rows.append(
                el(
                    "tr",
                    el("td", el("code", f.policy)),
                    el("td", f.site or "shared"),
                    el("td", _where(f)),
                    el("td", f.message),
                    el(
                        "td",
                        f"{f.waiver.reason} (approved by {f.waiver.approver}, expires "
                        f"{f.waiver.expires.isoformat()})",
                    ),
                    state,
                )
            )
            continue
        remediation = next((p.remediation for p in result.policies if p.name == f.policy), "")
        open_rows.append(
            el(
                "tr",
                el("td", badge(f.enforcement_level, "fail" if f.blocking else "warn")),
                el("td", el("code", f.policy)),
                el("td", f.site or "shared", class_="nowrap"),
                el("td", _where(f)),
                el("td", f.message, el("div", f"Fix: {remediation}", class_="small muted")),
                el("td", _location(result, f)),
                state,
                class_="violating" if f.blocking else None,
                data_site=f.site or "(shared)",
            )
        )
    since = ("Since baseline",) if states else ()
    not_run = [
        el("tr", el("td", el("code", n.policy)), el("td", n.urn or "stack"), el("td", n.reason))
        for n in result.not_evaluated
    ]
    return el(
        "section",
        el("h2", "Findings"),
        table(
            ("Level", "Policy", "Site", "Resource", "Finding", "Stack file", *since),
            open_rows,
            class_="findings",
        )
        if open_rows
        else el("p", "No open violation."),
        el("h3", "Waived findings (not blocking)"),
        table(("Policy", "Site", "Resource", "Finding", "Waiver", *since), waived_rows)
        if waived_rows
        else el("p", "None."),
        el("h3", "Not evaluated (values unknown)"),
        table(("Policy", "Resource", "Why"), not_run) if not_run else el("p", "None."),
        id="findings",
    )


def _waivers(result: CheckResult) -> Safe:
    rows = []
    for status in sorted(result.waivers, key=lambda w: w.days_left):
        w = status.waiver
        kind = (
            "expired"
            if status.status == "expired"
            else "expiring"
            if status.days_left <= EXPIRING_DAYS
            else status.status
        )
        days = (
            f"expired {-status.days_left} day(s) ago"
            if status.status == "expired"
            else f"{status.days_left} day(s)"
        )
        rows.append(
            el(
                "tr",
                el("td", el("code", w.policy)),
                el("td", w.target),
                el("td", w.approver),
                el("td", w.reason),
                el("td", w.expires.isoformat()),
                el("td", badge(days, kind)),
                el("td", badge(status.status, status.status), f" {status.findings} finding(s)"),
                data_days=str(status.days_left),
            )
        )
    return el(
        "section",
        el("h2", "Waivers"),
        el(
            "p",
            "Every waiver of the policy config, soonest expiry first. A waiver is valid through "
            "its expiry date; one that matches nothing should be removed.",
            class_="muted small",
        ),
        table(
            ("Policy", "For", "Approver", "Reason", "Expires", "Days to expiry", "Status"),
            rows,
            class_="waivers",
        )
        if rows
        else el("p", "The policy config has no waivers."),
        id="waivers",
    )


def _baseline(result: CheckResult) -> Safe:
    comparison = result.comparison
    if comparison is None:
        return el(
            "section",
            el("h2", "Since the baseline"),
            el(
                "p",
                "No baseline given: `hybridctl check --baseline previous.json` compares with the "
                "last accepted JSON report.",
                class_="muted",
            ),
            id="baseline",
        )
    base = comparison.baseline

    def finding_row(item: dict[str, object], state: str) -> Safe:
        return el(
            "tr",
            el("td", badge(state, state)),
            el("td", el("code", str(item.get("policy")))),
            el("td", str(item.get("site") or "shared")),
            el("td", f"{item.get('resourceType') or 'stack'} {item.get('resourceName') or ''}"),
            el("td", str(item.get("message"))),
            data_change=state,
        )

    rows = [finding_row(f, "new") for f in comparison.new]
    rows += [finding_row(f, "resolved") for f in comparison.resolved]
    for change in comparison.changed:
        rows.append(
            el(
                "tr",
                el("td", badge("changed", "updated")),
                el("td", el("code", str(change.after.get("policy")))),
                el("td", str(change.after.get("site") or "shared")),
                el(
                    "td",
                    f"{change.after.get('resourceType') or 'stack'} "
                    f"{change.after.get('resourceName') or ''}",
                ),
                el(
                    "td",
                    [
                        el(
                            "div",
                            f"{field}: {change.before.get(field)} -> {change.after.get(field)}",
                        )
                        for field in change.fields
                    ],
                ),
                data_change="changed",
            )
        )
    waiver_rows = [
        el(
            "tr",
            el("td", badge(w.change, "new" if w.change in ("added", "expired") else "updated")),
            el("td", el("code", str(w.waiver.get("policy")))),
            el("td", w.detail),
            data_change=w.change,
        )
        for w in comparison.waivers
    ]
    counts = comparison.counts
    return el(
        "section",
        el("h2", "Since the baseline"),
        el(
            "p",
            f"Baseline {base.path}: stack {base.stack or '?'}, generated "
            f"{base.generated_at or '?'}, commit {base.commit or 'unknown'}. ",
            f"{counts['new']} new, {counts['resolved']} resolved, {counts['changed']} changed, "
            f"{counts['unchanged']} unchanged finding(s); {counts['waiverChanges']} waiver "
            "change(s).",
        ),
        [el("p", w, class_="notice") for w in comparison.warnings],
        table(("Change", "Policy", "Site", "Resource", "Finding"), rows, class_="changes")
        if rows
        else el("p", "No finding changed."),
        el("h3", "Waiver changes"),
        table(("Change", "Policy", "What"), waiver_rows, class_="waiver-changes")
        if waiver_rows
        else el("p", "None."),
        id="baseline",
    )


def _signoff(result: CheckResult) -> Safe:
    meta = result.metadata
    inputs = (
        f"commit {meta.git.commit or 'unknown'}, stack file sha256 {meta.stack_file.sha256}, "
        f"policy config sha256 {meta.policy_config.sha256}, pack sha256 {meta.pack_sha256}"
        if meta
        else f"stack file {result.stack_file}"
    )
    return el(
        "section",
        el("h2", "Sign-off"),
        el(
            "p",
            f"I have reviewed this report of stack {result.stack}, generated "
            f"{result.generated_at} from {inputs}.",
        ),
        table(
            ("Role", "Name", "Decision (accept / reject)", "Date", "Signature"),
            [
                el("tr", el("td", role), el("td", ""), el("td", ""), el("td", ""), el("td", ""))
                for role in ("Compliance reviewer", "Data protection officer", "Platform owner")
            ],
            class_="signoff",
        ),
        id="signoff",
    )


def render(result: CheckResult) -> str:
    body = el(
        "main",
        _header(result),
        _metadata(result),
        _sites(result),
        _map(result),
        _storage(result),
        _controls(result),
        _findings(result),
        _waivers(result),
        _baseline(result),
        _signoff(result),
        el(
            "footer",
            "hybridctl check, hybrid-airflow. This file is self-contained: it loads nothing.",
        ),
    )
    head = el(
        "head",
        void("meta", charset="utf-8"),
        void("meta", http_equiv="Content-Security-Policy", content=CSP),
        void("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("title", f"Compliance report: stack {result.stack}"),
        el("style", Safe(CSS)),
    )
    return "<!DOCTYPE html>\n" + el("html", head, body, lang="en") + "\n"
