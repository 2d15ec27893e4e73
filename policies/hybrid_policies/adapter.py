"""Turn the catalog into pulumi_policy policies: levels, waivers, one evaluation per stack check,
and residency that never degrades to an advisory note.

- **Waivers** (CrossGuard has none): a violation covered by a valid waiver is not reported, so
  it does not block `pulumi up`; an expired waiver reports the violation with a note; every
  decision goes to an optional observer so hybridctl can list waived findings.
- **One evaluation per AnalyzeStack.** pulumi_policy's server deserialises the stack again for
  each stack policy and calls each policy's `validate` separately, so nothing in the arguments
  identifies an evaluation. `EvaluationSession` starts a new `Evaluation` when a stack policy is
  called that was already served in the current one, or when the resources differ; the stack
  policies of one AnalyzeStack share it, and nothing is kept beyond the next evaluation.
- **Fail closed.** A residency rule that touches a value unknown during preview reports a
  mandatory violation saying what could not be verified, instead of letting pulumi_policy turn
  the `UnknownValueError` into an advisory "can't run during preview".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
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
from pulumi_policy.proxy import UnknownValueError

from hybrid_policies.catalog import POLICIES, PolicySpec, ResourcePolicySpec, StackPolicySpec
from hybrid_policies.config import PolicyConfig, Waiver
from hybrid_policies.context import RuleContext
from hybrid_policies.evaluation import Evaluation
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


def unverified(policy: str, error: UnknownValueError, what: str) -> str:
    """The fail-closed message of a residency rule that met an unknown value."""
    return (
        f"cannot verify {what} before it is created: {error.message}; {policy} is a residency "
        "policy, so an unverifiable value counts as a violation (make the value known at "
        "preview, e.g. derived from names the program writes)"
    )


class EvaluationSession:
    """Hands the stack policies of one AnalyzeStack the same `Evaluation`."""

    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._current: Evaluation | None = None
        self._key: tuple[str, ...] = ()
        self._served: set[str] = set()
        self.created = 0  # evaluations built so far (the benchmark and tests read it)

    def evaluation(self, policy: str, resources: Sequence[Any]) -> Evaluation:
        key = tuple(r.urn for r in resources)
        with self._lock:
            if self._current is None or policy in self._served or key != self._key:
                views = [StackResource.from_policy_resource(r) for r in resources]
                self._current = Evaluation(views, self.ctx)
                self._key = key
                self._served = set()
                self.created += 1
            self._served.add(policy)
            return self._current

    def reset(self) -> None:
        """Forget the current evaluation (the engine reconfigured the pack)."""
        with self._lock:
            self._current = None
            self._served = set()


def _decide(
    spec: PolicySpec,
    ctx: RuleContext,
    observe: Observer | None,
    report: Callable[[str, str | None], None],
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


class _ViewCache(threading.local):
    """The view of the resource this thread analyses: the pack's server hands every resource
    policy of one Analyze the same props, so the view (and what it read) is shared; a new props
    object (pulumi_policy's own server makes one per policy) means a new view."""

    props: Any = None
    view: ResourceView | None = None

    def view_of(self, args: ResourceValidationArgs) -> ResourceView:
        if self.view is None or args.props is not self.props or args.urn != self.view.urn:
            self.props, self.view = args.props, ResourceView.from_args(args)
        return self.view


def _resource_validator(
    spec: ResourcePolicySpec, ctx: RuleContext, observe: Observer | None, views: _ViewCache
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = views.view_of(args)

        def emit(message: str) -> None:
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

        try:
            for message in spec.rule(resource, ctx):
                emit(message)
        except UnknownValueError as error:
            if spec.group != "residency":
                raise  # the engine reports "can't run during preview" (advisory)
            emit(unverified(spec.name, error, f"{resource.type} {resource.name}"))

    return validate


def _stack_validator(
    spec: StackPolicySpec, session: EvaluationSession, observe: Observer | None
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    ctx = session.ctx

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        ev = session.evaluation(spec.name, args.resources)

        def emit(message: str, urn: str | None, site: str | None) -> None:
            target = ev.by_urn.get(urn or "")
            outcome = Outcome(
                spec.name,
                message,
                urn,
                site or (ev.declared_site(target) if target else None),
                target.type if target else None,
                target.name if target else None,
                "violation",
            )
            _decide(spec, ctx, observe, report, outcome)

        try:
            for violation in spec.rule(ev):
                emit(violation.message, violation.urn, violation.site)
        except UnknownValueError as error:
            if spec.group != "residency":
                raise
            emit(unverified(spec.name, error, "the stack"), None, None)

    return validate


def enforcement_level(spec: PolicySpec, config: PolicyConfig) -> str:
    return config.level(spec.name, spec.default_level)


def compliance_levels(config: PolicyConfig) -> dict[str, str]:
    """Every policy's level as compliance's config sets it (what engine config may not lower)."""
    return {spec.name: enforcement_level(spec, config) for spec in POLICIES}


def build_policies(
    ctx: RuleContext, observe: Observer | None = None, session: EvaluationSession | None = None
) -> list[Policy]:
    """The pack's policies for one policy config, in catalog order."""
    session = session or EvaluationSession(ctx)
    views = _ViewCache()
    policies: list[Policy] = []
    for spec in POLICIES:
        common: dict[str, Any] = {
            "enforcement_level": EnforcementLevel(enforcement_level(spec, ctx.config)),
            "severity": Severity(spec.severity),
            "remediation_steps": spec.remediation,
            "tags": [spec.group],
        }
        if isinstance(spec, ResourcePolicySpec):
            policies.append(
                ResourceValidationPolicy(
                    spec.name,
                    spec.description,
                    _resource_validator(spec, ctx, observe, views),
                    **common,
                )
            )
        else:
            policies.append(
                StackValidationPolicy(
                    spec.name,
                    spec.description,
                    _stack_validator(spec, session, observe),
                    **common,
                )
            )
    return policies
