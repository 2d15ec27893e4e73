"""What `hybridctl check` found: the model every report format renders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from hybridctl.policy_pack import hybrid_policies

if TYPE_CHECKING:
    from hybridctl.evidence import ControlEvidence
    from hybridctl.history import Comparison
    from hybridctl.residency_map import ResidencyMap
    from hybridctl.run_metadata import RunMetadata
    from hybridctl.stack_locations import Location, StackLocator
    from hybridctl.storage_view import SiteStorage

Waiver = hybrid_policies.Waiver  # the policy config's waiver, as the pack applies it

Level = Literal["mandatory", "advisory", "disabled"]
Status = Literal["violation", "waived", "expired-waiver"]


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    severity: str
    remediation: str
    enforcement_level: str
    kind: Literal["resource", "stack"]


@dataclass(frozen=True)
class Finding:
    policy: str
    enforcement_level: str
    message: str
    urn: str | None
    resource_type: str | None
    resource_name: str | None
    site: str | None
    status: Status = "violation"
    waiver: Waiver | None = None

    @property
    def blocking(self) -> bool:
        """Waived findings never block; an expired waiver counts as the violation itself."""
        return self.status != "waived" and self.enforcement_level == "mandatory"


@dataclass(frozen=True)
class Extract:
    """One extract of a site as the sites manifest hands it to Airflow."""

    name: str
    schedule: str
    query: str


@dataclass(frozen=True)
class SiteSummary:
    name: str
    residency: str
    kind: str
    launch_type: str
    cluster: str
    region: str
    extracts: tuple[Extract, ...] = ()

    @property
    def processed_at(self) -> str:
        """Where the site's data is processed, in a reviewer's words."""
        if self.launch_type == "EXTERNAL":
            return f"the site's own hosts (ECS Anywhere, cluster {self.cluster}, {self.region})"
        if self.launch_type == "FARGATE":
            return f"AWS Fargate in {self.region} (cluster {self.cluster})"
        return f"EC2 container instances of cluster {self.cluster} in {self.region}"


@dataclass(frozen=True)
class WaiverStatus:
    """A waiver of the policy config, as of the check: in use, matching nothing, or expired."""

    waiver: Waiver
    status: Literal["active", "unmatched", "expired"]
    days_left: int  # until its expiry date (it is valid through that day); negative: expired
    findings: int  # findings it covers (waived) or covered before it expired

    @classmethod
    def of(cls, waiver: Waiver, today: dt.date, findings: int) -> WaiverStatus:
        days = (waiver.expires - today).days
        status: Literal["active", "unmatched", "expired"] = (
            "expired" if waiver.expired(today) else "active" if findings else "unmatched"
        )
        return cls(waiver, status, days, findings)


@dataclass(frozen=True)
class NotEvaluated:
    policy: str
    urn: str | None
    reason: str


@dataclass
class CheckResult:
    stack: str
    stack_file: str
    policy_config: str | None
    generated_at: str
    policies: list[PolicyInfo]
    findings: list[Finding]
    sites: list[SiteSummary]
    unmatched_waivers: list[Waiver] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)
    resources_checked: int = 0
    waivers: list[WaiverStatus] = field(default_factory=list)  # every waiver of the config
    evidence: list[ControlEvidence] | None = None  # None: not collected
    storage: list[SiteStorage] | None = None  # None: not derived
    residency_map: ResidencyMap | None = None
    metadata: RunMetadata | None = None
    locator: StackLocator | None = None
    comparison: Comparison | None = None

    def location(self, finding: Finding) -> Location | None:
        """Where in the stack file a finding points (None without a stack file)."""
        return self.locator.locate(finding.policy, finding.site) if self.locator else None

    def control(self, name: str) -> ControlEvidence | None:
        return next((c for c in self.evidence or [] if c.policy == name), None)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0

    def policy_status(self, name: str) -> str:
        """pass | fail | warn (advisory violations) | waived | disabled | nothing-to-check
        (evidence shows the policy examined no resource, so its pass proves nothing)"""
        policy = next(p for p in self.policies if p.name == name)
        if policy.enforcement_level == "disabled":
            return "disabled"
        found = [f for f in self.findings if f.policy == name]
        if any(f.status != "waived" for f in found):
            return "fail" if policy.enforcement_level == "mandatory" else "warn"
        if found:
            return "waived"
        control = self.control(name)
        return "nothing-to-check" if control is not None and control.nothing_to_check else "pass"

    @property
    def violating_sites(self) -> set[str]:
        """Sites with a blocking finding (what the map and the summary mark)."""
        return {f.site for f in self.blocking if f.site}

    def site_findings(self, site: str) -> list[Finding]:
        return [f for f in self.findings if f.site == site]

    def summary(self) -> dict[str, int]:
        return {
            "policies": len(self.policies),
            "resources": self.resources_checked,
            "mandatoryViolations": len(self.blocking),
            "advisoryViolations": sum(
                1
                for f in self.findings
                if f.status != "waived" and f.enforcement_level == "advisory"
            ),
            "waived": sum(1 for f in self.findings if f.status == "waived"),
            "expiredWaivers": sum(1 for f in self.findings if f.status == "expired-waiver"),
            "unmatchedWaivers": len(self.unmatched_waivers),
            "notEvaluated": len(self.not_evaluated),
        }
