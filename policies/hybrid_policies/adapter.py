"""Turn the catalog into pulumi_policy policies, applying enforcement levels and waivers.

CrossGuard has no waivers, so they are applied here: a violation covered by a valid waiver is
not reported (it does not block `pulumi up`), an expired waiver reports the violation with a
note, and every decision goes to an optional observer so hybridctl can list waived findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from hybrid_policies.catalog import POLICIES, PolicySpec, ResourceRule, StackRule
from hybrid_policies.config import PolicyConfig, Waiver
from hybrid_policies.context import RuleContext
from hybrid_policies.views import ResourceView, StackResource

Status = Literal["violation", "waived", "expired-waiver"]


@dataclass(frozen=True)
class Outcome:
    """One violation found, and what the waivers made of it."""

    policy: str
    message: str
    urn: str | None
    site: str | None
    resource_type: str | None
    resource_name: str | None
    status: Status
    waiver: Waiver | None = None


Observer = Callable[[Outcome], None]


def _decide(
    spec: PolicySpec,
    ctx: RuleContext,
    observe: Observer | None,
    report: ReportViolation,
    outcome: Outcome,
) -> None:
    waiver = next(
        (
            w
            for w in ctx.config.waivers
            if w.matches(spec.name, outcome.site, outcome.resource_name, outcome.urn)
        ),
        None,
    )
    message = outcome.message
    status: Status = "violation"
    if waiver is not None and not waiver.expired(ctx.now.date()):
        status = "waived"
    elif waiver is not None:
        status = "expired-waiver"
        message = f"{message} (the {waiver.describe()} has expired)"
    if status != "waived":
        report(message, outcome.urn)
    if observe is not None:
        observe(
            Outcome(
                spec.name,
                message,
                outcome.urn,
                outcome.site,
                outcome.resource_type,
                outcome.resource_name,
                status,
                waiver,
            )
        )


def _resource_validator(
    spec: PolicySpec, ctx: RuleContext, observe: Observer | None
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    rule: ResourceRule = spec.rule  # type: ignore[assignment]

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = ResourceView.from_args(args)
        for message in rule(resource, ctx):
            outcome = Outcome(
                spec.name,
                message,
                resource.urn,
                resource.site,
                resource.type,
                resource.name,
                "violation",
            )
            # The engine attributes a resource policy's report to the resource itself.
            _decide(spec, ctx, observe, lambda m, _urn: report(m, None), outcome)

    return validate


def _stack_validator(
    spec: PolicySpec, ctx: RuleContext, observe: Observer | None
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    rule: StackRule = spec.rule  # type: ignore[assignment]

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = _stack_views(args.resources)
        by_urn = {r.urn: r for r in resources}
        for violation in rule(resources, ctx):
            target = by_urn.get(violation.urn or "")
            outcome = Outcome(
                spec.name,
                violation.message,
                violation.urn,
                violation.site or (target.site if target else None),
                target.type if target else None,
                target.name if target else None,
                "violation",
            )
            _decide(spec, ctx, observe, report, outcome)

    return validate


_last_views: tuple[Any, list[StackResource]] | None = None


def _stack_views(resources: Any) -> list[StackResource]:
    """Views of the stack's resources, built once per evaluation and shared by stack policies."""
    global _last_views
    if _last_views is not None and _last_views[0] is resources:
        return _last_views[1]
    views = [StackResource.from_policy_resource(r) for r in resources]
    _last_views = (resources, views)
    return views


def enforcement_level(spec: PolicySpec, config: PolicyConfig) -> str:
    return config.level(spec.name, spec.default_level)


def build_policies(ctx: RuleContext, observe: Observer | None = None) -> list[Policy]:
    """The pack's policies for one policy config, in catalog order."""
    policies: list[Policy] = []
    for spec in POLICIES:
        common: dict[str, Any] = {
            "enforcement_level": EnforcementLevel(enforcement_level(spec, ctx.config)),
            "severity": Severity(spec.severity),
            "remediation_steps": spec.remediation,
            "tags": [spec.group],
        }
        if spec.kind == "resource":
            policies.append(
                ResourceValidationPolicy(
                    spec.name,
                    spec.description,
                    _resource_validator(spec, ctx, observe),
                    **common,
                )
            )
        else:
            policies.append(
                StackValidationPolicy(
                    spec.name, spec.description, _stack_validator(spec, ctx, observe), **common
                )
            )
    return policies
