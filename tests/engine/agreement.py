"""Findings in one comparable shape: (policy, resource URN, site, level).

`hybridctl check` says which site a finding is about; the engine only has a diagnostic's URN and
message. So the engine side derives the site from what the engine sent: the Site component the
URN's resource is under, else the resource's `site` tag, else a site the message names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from hybridctl.capture import Capture, CapturedResource
from tests.engine.engine_host import Diagnostic

Finding = tuple[str, str, str | None, str]
SITE_COMPONENT = "hybrid:platform:Site"
_SITE_IN_MESSAGE = re.compile(r"\bsite ([A-Za-z0-9_.-]+)")


def _own_type(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1]


class EngineSites:
    """Which site a URN belongs to, from what the engine sent the pack."""

    def __init__(self, capture: Capture) -> None:
        self.by_urn: Mapping[str, CapturedResource] = capture.by_urn()
        self.sites = {r.name for r in capture.resources if _own_type(r.urn) == SITE_COMPONENT}

    def of(self, urn: str, message: str) -> str | None:
        node = self.by_urn.get(urn)
        while node is not None:
            if _own_type(node.urn) == SITE_COMPONENT:
                return node.name
            node = self.by_urn.get(node.parent)
        resource = self.by_urn.get(urn)
        tags = resource.raw_inputs.get("tags") if resource is not None else None
        if isinstance(tags, dict) and isinstance(tags.get("site"), str):
            return str(tags["site"])
        named = [s for s in _SITE_IN_MESSAGE.findall(message) if s in self.sites]
        return named[0] if named else None


def engine_findings(diagnostics: Iterable[Diagnostic], capture: Capture) -> set[Finding]:
    sites = EngineSites(capture)
    return {(d.policy, d.urn, sites.of(d.urn, d.message), d.level) for d in diagnostics}


def check_findings(report: Mapping[str, Any]) -> set[Finding]:
    """What `hybridctl check --format json` reports as violations (waived ones excepted: the
    pack does not report those to the engine)."""
    return {
        (v["policy"], v["urn"], v["site"], v["enforcementLevel"])
        for v in report["violations"]
        if v["status"] != "waived"
    }


def without(
    findings: set[Finding], policies: set[str], pairs: set[tuple[str, str]]
) -> set[Finding]:
    """Findings minus those of `policies` (whole) and of `pairs` (policy, urn)."""
    return {f for f in findings if f[0] not in policies and (f[0], f[1]) not in pairs}
