"""What changed since the last accepted report (`hybridctl check --baseline previous.json`).

The baseline is a JSON report of an earlier check (`--format json`). Findings are compared as the
JSON report writes them, so the comparison is symmetric: a finding is the same finding when its
policy, site and resource are the same (the URN without the stack's name, so a report of a copy
of the stack compares too); same message and status: unchanged; otherwise changed. Waivers are
compared by policy and target: added, removed, changed (expiry, reason, approver) and expired.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.stack_locations import relative_path

Document = dict[str, Any]
COMPARED = ("message", "status", "enforcementLevel")
STACK_IN_URN = re.compile(r"^urn:pulumi:[^:]*::")


class BaselineError(Exception):
    """The baseline cannot be used: exit 2 with the reason."""


@dataclass(frozen=True)
class BaselineReport:
    path: str  # repository-relative, as reports show it
    stack: str | None
    generated_at: str | None
    commit: str | None
    violations: tuple[Document, ...]
    waivers: tuple[Document, ...]


@dataclass(frozen=True)
class Changed:
    before: Document
    after: Document
    fields: tuple[str, ...]  # which of COMPARED differ


@dataclass(frozen=True)
class WaiverChange:
    change: str  # added | removed | changed | expired
    waiver: Document  # as the current report has it (the baseline's when removed)
    detail: str


@dataclass(frozen=True)
class Comparison:
    baseline: BaselineReport
    new: tuple[Document, ...]
    resolved: tuple[Document, ...]
    changed: tuple[Changed, ...]
    unchanged: tuple[Document, ...]
    states: tuple[str, ...]  # per current finding, in report order: new | updated | unchanged
    waivers: tuple[WaiverChange, ...]
    warnings: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "resolved": len(self.resolved),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "waiverChanges": len(self.waivers),
        }


def _fail(path: Path, why: str) -> BaselineError:
    return BaselineError(
        f"{path}: {why}; --baseline takes a report of `hybridctl check --format json`"
    )


def load(path: Path) -> BaselineReport:
    """A previous JSON report, or BaselineError saying why it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(path, f"cannot be read ({error})") from None
    except ValueError as error:
        raise _fail(path, f"not JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("violations"), list):
        raise _fail(path, "not a check report (no 'violations' list)")
    violations = document["violations"]
    for i, item in enumerate(violations):
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("policy", "message", "status")
        ):
            raise _fail(path, f"violations[{i}] lacks a policy, message or status")
    waivers = document.get("waivers")
    if not isinstance(waivers, list):  # a report from before waivers were listed in full
        waivers = [v["waiver"] for v in violations if isinstance(v.get("waiver"), dict)]
        waivers += [w for w in document.get("unmatchedWaivers") or [] if isinstance(w, dict)]
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    git = metadata.get("git")
    git = git if isinstance(git, dict) else {}
    return BaselineReport(
        path=relative_path(path),
        stack=document.get("stack") if isinstance(document.get("stack"), str) else None,
        generated_at=document.get("generatedAt")
        if isinstance(document.get("generatedAt"), str)
        else None,
        commit=git.get("commit") if isinstance(git.get("commit"), str) else None,
        violations=tuple(violations),
        waivers=tuple(w for w in waivers if isinstance(w, dict)),
    )


def _urn(urn: Any) -> str:
    return STACK_IN_URN.sub("", urn) if isinstance(urn, str) else ""


def finding_key(finding: Document) -> tuple[str, str, str]:
    return (str(finding.get("policy")), str(finding.get("site") or ""), _urn(finding.get("urn")))


def _same(a: Document, b: Document) -> bool:
    return all(a.get(k) == b.get(k) for k in COMPARED)


def compare_findings(
    before: Sequence[Document], after: Sequence[Document]
) -> tuple[list[Document], list[Document], list[Changed], list[Document], list[str]]:
    """(new, resolved, changed, unchanged, state of each of `after`)."""
    previous: dict[tuple[str, str, str], list[Document]] = defaultdict(list)
    for finding in before:
        previous[finding_key(finding)].append(finding)
    states = ["new"] * len(after)
    new: list[Document] = []
    changed: list[Changed] = []
    unchanged: list[Document] = []
    pending: list[int] = []
    for i, finding in enumerate(after):  # exact matches first, so order does not pair wrongly
        group = previous.get(finding_key(finding), [])
        match = next((b for b in group if _same(b, finding)), None)
        if match is not None:
            group.remove(match)
            states[i] = "unchanged"
            unchanged.append(finding)
        else:
            pending.append(i)
    for i in pending:
        finding = after[i]
        group = previous.get(finding_key(finding), [])
        if group:
            old = group.pop(0)
            states[i] = "updated"
            changed.append(
                Changed(old, finding, tuple(k for k in COMPARED if old.get(k) != finding.get(k)))
            )
        else:
            new.append(finding)
    resolved = [b for group in previous.values() for b in group]
    return new, resolved, changed, unchanged, states


def waiver_key(waiver: Document) -> tuple[str, str]:
    target = (
        f"site {waiver['site']}" if waiver.get("site") else f"resource {waiver.get('resource')}"
    )
    return (str(waiver.get("policy")), target)


def _describe(waiver: Document) -> str:
    policy, target = waiver_key(waiver)
    return f"{policy} for {target}"


def compare_waivers(before: Sequence[Document], after: Sequence[Document]) -> list[WaiverChange]:
    old = {waiver_key(w): w for w in before}
    changes = []
    for waiver in after:
        key = waiver_key(waiver)
        if key not in old:
            changes.append(WaiverChange("added", waiver, f"new waiver {_describe(waiver)}"))
            continue
        previous = old.pop(key)
        edits = [
            f"{field} {previous.get(field)} -> {waiver.get(field)}"
            for field in ("expires", "approver", "reason")
            if previous.get(field) != waiver.get(field)
        ]
        if edits:
            changes.append(WaiverChange("changed", waiver, "; ".join(edits)))
        if waiver.get("status") == "expired" and previous.get("status") != "expired":
            changes.append(WaiverChange("expired", waiver, f"expired on {waiver.get('expires')}"))
    for waiver in old.values():
        changes.append(WaiverChange("removed", waiver, f"removed waiver {_describe(waiver)}"))
    return changes


def compare(baseline: BaselineReport, current: Document) -> Comparison:
    """The current report's document (`json_report.document`) against the baseline."""
    new, resolved, changed, unchanged, states = compare_findings(
        baseline.violations, current["violations"]
    )
    warnings = []
    if baseline.stack and baseline.stack != current.get("stack"):
        warnings.append(
            f"the baseline is a report of stack {baseline.stack}, this is stack "
            f"{current.get('stack')}: resources are matched without the stack's name"
        )
    return Comparison(
        baseline=baseline,
        new=tuple(new),
        resolved=tuple(resolved),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
        states=tuple(states),
        waivers=tuple(compare_waivers(baseline.waivers, current.get("waivers") or [])),
        warnings=tuple(warnings),
    )
