"""What `hybridctl check` found: the model every report format renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hybridctl.policy_pack import hybrid_policies

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
class SiteSummary:
    name: str
    residency: str
    kind: str
    launch_type: str
    cluster: str
    region: str

    @property
    def processed_at(self) -> str:
        """Where the site's data is processed, in a reviewer's words."""
        if self.launch_type == "EXTERNAL":
            return f"the site's own hosts (ECS Anywhere, cluster {self.cluster}, {self.region})"
        if self.launch_type == "FARGATE":
            return f"AWS Fargate in {self.region} (cluster {self.cluster})"
        return f"EC2 container instances of cluster {self.cluster} in {self.region}"


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

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0

    def policy_status(self, name: str) -> str:
        """pass | fail | warn (advisory violations) | waived | disabled"""
        policy = next(p for p in self.policies if p.name == name)
        if policy.enforcement_level == "disabled":
            return "disabled"
        found = [f for f in self.findings if f.policy == name]
        if any(f.status != "waived" for f in found):
            return "fail" if policy.enforcement_level == "mandatory" else "warn"
        return "waived" if found else "pass"

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
