"""The two forms of a plan diff: compact text (every line within 100 columns) and JSON."""

from __future__ import annotations

import textwrap
from typing import Any

from hybridctl.diff import SHARED, Change, Diff, Group

WIDTH = 100
SYMBOL = {"create": "+", "update": "~", "delete": "-", "keep": "="}
VERB = {"create": "create", "update": "update", "delete": "delete", "keep": "keep (protected)"}


def short_type(token: str) -> str:
    """`aws:s3/bucketObjectv2:BucketObjectv2` -> `s3.BucketObjectv2` (as in `aws.s3.…`)."""
    parts = token.split(":")
    if len(parts) != 3:
        return token
    return f"{parts[1].split('/')[0]}.{parts[2]}"


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first if first is not None else indent,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    )


def _counts(items: list[tuple[str, int]]) -> str:
    return (
        ", ".join(
            f"{n} to {verb}" if verb != "keep (protected)" else f"{n} kept (protected)"
            for verb, n in items
            if n
        )
        or "no change"
    )


def _header(group: Group) -> str:
    counts = _counts([(VERB[a], group.count(a)) for a in ("create", "update", "delete", "keep")])
    if group.name == SHARED:
        return f"shared platform: {counts}"
    status = {"added": " (new)", "removed": " (REMOVED)", "changed": ""}[group.status]
    what = f": {group.summary}" if group.summary else ""
    return f"site {group.name}{status}{what} -- {counts}"


def _regulated_removal(group: Group) -> list[str]:
    kept = group.count("keep")
    return _wrap(
        f"! regulated site removed. Its {kept} protected resources (key, DB secret, log group, "
        "Glue database) "
        "make `pulumi up` stop until you run `pulumi state unprotect` on each "
        "(`hybridctl site remove` prints the commands); after that they stay in AWS. "
        "Deregister the site's hosts before the update: a cluster with hosts cannot be deleted.",
        "    ",
        "  ",
    )


def _change_lines(change: Change, width: int) -> list[str]:
    resource = change.resource
    line = f"  {SYMBOL[change.action]} {short_type(resource.type):<{width}}  {resource.name}"
    if change.action == "keep":
        line += "  (protected; stays in AWS)"
    lines = [_fit(line)]
    for item in change.inputs:
        lines.extend(_wrap(f"{item.name}: {item.detail}", " " * 8, " " * 6))
    return lines


def render_text(diff: Diff) -> str:
    lines = _wrap(f"Diff of stack {diff.stack}: {diff.base} -> {diff.head}", "  ", "")
    total = _counts([(VERB[a], diff.count(a)) for a in ("create", "update", "delete", "keep")])
    lines.append(
        f"{total}; Airflow DAGs: {len(diff.dags_added)} added, {len(diff.dags_removed)} removed"
    )
    if diff.empty:
        lines.append("No change: the same resources with the same inputs.")
    for group in diff.groups:
        lines.append("")
        lines.extend(_wrap(_header(group), "    ", ""))
        if group.status == "removed" and group.residency == "regulated":
            lines.extend(_regulated_removal(group))
        width = min(34, max(len(short_type(c.resource.type)) for c in group.changes))
        for change in group.changes:
            lines.extend(_change_lines(change, width))
    if diff.dags_added or diff.dags_removed:
        lines.append("")
        lines.append("Airflow DAGs")
        lines.extend(_fit(f"  + {dag}") for dag in diff.dags_added)
        lines.extend(_fit(f"  - {dag}") for dag in diff.dags_removed)
    lines.append("")
    lines.append("Secret values are compared as [secret] only.")
    return "\n".join(lines) + "\n"


def _change_document(change: Change) -> dict[str, Any]:
    resource = change.resource
    return {
        "action": change.action,
        "type": resource.type,
        "name": resource.name,
        "protected": change.action == "keep",
        "inputs": [{"name": i.name, "change": i.detail} for i in change.inputs],
    }


def to_document(diff: Diff) -> dict[str, Any]:
    return {
        "stack": diff.stack,
        "base": diff.base,
        "head": diff.head,
        "summary": {
            "create": diff.count("create"),
            "update": diff.count("update"),
            "delete": diff.count("delete"),
            "keep": diff.count("keep"),
            "dagsAdded": len(diff.dags_added),
            "dagsRemoved": len(diff.dags_removed),
        },
        "groups": [
            {
                "group": group.name,
                "status": group.status,
                "residency": group.residency,
                "changes": [_change_document(c) for c in group.changes],
            }
            for group in diff.groups
        ],
        "dags": {"added": diff.dags_added, "removed": diff.dags_removed},
        "regulatedSitesRemoved": [
            {
                "site": group.name,
                "deleted": [c.resource.name for c in group.changes if c.action == "delete"],
                "kept": [c.resource.name for c in group.changes if c.action == "keep"],
            }
            for group in diff.groups
            if group.status == "removed" and group.residency == "regulated"
        ],
    }
