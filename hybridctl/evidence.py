"""Per-control evidence: which resources each policy examined, what it read, what it found.

The pack tells an observer every resource a policy read and the fields it read
(`hybrid_policies.Examined`); the findings say what it found. A resource examined without a
finding passed that control. A control had nothing to check when it examined nothing, or, for a
resource policy, read nothing but resources' tags (the residency rules read a resource's tags to
learn whether it is regulated, and stop there when it is not); reports say so instead of
showing a bare PASS.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hybridctl.policy_pack import hybrid_policies as hp

# Worst first: the result a resource shows when a control found several things on it.
RESULT_ORDER = ("violation", "expired-waiver", "not-evaluated", "waived", "pass")
# What a resource policy reads only to learn whether a resource is in its scope.
SCOPE_FIELDS = frozenset({"tags"})


@dataclass(frozen=True)
class ExaminedResource:
    urn: str
    resource_type: str
    resource_name: str
    site: str | None
    fields: tuple[str, ...]  # what the control read on it ("" when only a finding names it)
    result: str  # one of RESULT_ORDER
    findings: int = 0


@dataclass(frozen=True)
class ControlEvidence:
    policy: str
    examined: tuple[ExaminedResource, ...]
    scope_only: bool = False  # a resource policy that read only scope fields, found nothing

    @property
    def nothing_to_check(self) -> bool:
        return not self.examined or self.scope_only

    def count(self, result: str) -> int:
        return sum(1 for e in self.examined if e.result == result)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the control read, on any resource."""
        return tuple(sorted({f for e in self.examined for f in e.fields}))


@dataclass(frozen=True)
class FindingRef:
    """The parts of a finding evidence needs (keeps this module free of the report model)."""

    policy: str
    urn: str | None
    status: str
    resource_type: str | None
    resource_name: str | None
    site: str | None


def _worst(results: Iterable[str]) -> str:
    return min(results, key=RESULT_ORDER.index, default="pass")


def collect(
    policies: Sequence[tuple[str, str]],
    examined: Iterable[hp.Examined],
    findings: Iterable[FindingRef],
    not_evaluated: Iterable[tuple[str, str | None]] = (),
) -> list[ControlEvidence]:
    """One `ControlEvidence` per (policy, kind) of `policies`, in that order.

    A resource a finding names but the control did not read (a stack-level finding filed under
    the stack) is listed too, with no fields, so no finding is missing from its control.
    """
    seen: dict[tuple[str, str], hp.Examined] = {}
    for item in examined:
        key = (item.policy, item.urn)
        if key in seen:  # the same resource examined twice (never expected): merge the fields
            old = seen[key]
            item = hp.Examined(
                item.policy,
                item.urn,
                item.resource_type,
                item.resource_name,
                item.site,
                tuple(sorted({*old.fields, *item.fields})),
            )
        seen[key] = item
    found: dict[tuple[str, str], list[FindingRef]] = defaultdict(list)
    for finding in findings:
        found[(finding.policy, finding.urn or "")].append(finding)
    skipped = {(policy, urn or "") for policy, urn in not_evaluated}

    controls = []
    for policy, kind in policies:
        rows: list[ExaminedResource] = []
        urns = [urn for (p, urn) in seen if p == policy]
        urns += [urn for (p, urn) in found if p == policy and (p, urn) not in seen]
        urns += [urn for (p, urn) in skipped if p == policy and urn not in urns]
        for urn in urns:
            seen_item = seen.get((policy, urn))
            refs = found.get((policy, urn), [])
            results = [f.status for f in refs]
            if (policy, urn) in skipped:
                results.append("not-evaluated")
            first = refs[0] if refs else None
            rows.append(
                ExaminedResource(
                    urn=urn,
                    resource_type=seen_item.resource_type
                    if seen_item
                    else (first.resource_type if first else None) or "stack",
                    resource_name=seen_item.resource_name
                    if seen_item
                    else (first.resource_name if first else None) or urn.rsplit("::", 1)[-1],
                    site=seen_item.site if seen_item else (first.site if first else None),
                    fields=seen_item.fields if seen_item else (),
                    result=_worst(results),
                    findings=len(refs),
                )
            )
        rows.sort(key=lambda r: (RESULT_ORDER.index(r.result), r.resource_type, r.resource_name))
        scope_only = (
            kind == "resource"
            and bool(rows)
            and all(r.result == "pass" and set(r.fields) <= SCOPE_FIELDS for r in rows)
        )
        controls.append(ControlEvidence(policy, tuple(rows), scope_only))
    return controls
