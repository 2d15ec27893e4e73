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
- **Evidence** (optional, for reports; the engine never asks for it): which resources each
  policy examined and which of their fields it read. Each policy then reads its own views, and
  each stack policy builds its own `Evaluation`, so what a policy read does not depend on which
  policy happened to fill a shared lookup first. The verdicts are the same either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
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


@dataclass(frozen=True)
class Examined:
    """Evidence: one resource a policy examined, and the fields it read to decide.

    Its findings arrive through the `Observer` as `Outcome`s naming its URN; a resource
    examined with none passed the policy. A policy that examined nothing had nothing to check.
    """

    policy: str
    urn: str
    resource_type: str
    resource_name: str
    site: str | None  # the site it declares (its tag, else its Site ancestor)
    fields: tuple[str, ...]  # dotted paths; "dependencies.<key>" for the engine's references


EvidenceObserver = Callable[[Examined], None]


class _Reads:
    """The fields a policy reads, per resource URN (paused while the adapter itself reads)."""

    def __init__(self) -> None:
        self.by_urn: dict[str, set[str]] = {}
        self.paused = False

    def add(self, urn: str, path: Sequence[str]) -> None:
        if not self.paused:
            self.by_urn.setdefault(urn, set()).add(".".join(path))


class _ReadingView(ResourceView):
    """A resource policy's own view of one resource, noting every field the rule reads."""

    reads: _Reads

    @classmethod
    def reading(cls, args: ResourceValidationArgs, reads: _Reads) -> _ReadingView:
        view = cls.from_args(args)
        assert isinstance(view, cls)
        view.reads = reads
        return view

    def get(self, *path: str, default: Any = None) -> Any:
        self.reads.add(self.urn, path)
        return super().get(*path, default=default)

    @cached_property
    def provider_region(self) -> Any:
        self.reads.add(self.urn, ("(provider)", "region"))
        return super().provider_region


class _ReadingResource(StackResource):
    """A stack policy's own view of one resource, noting every field and reference it reads."""

    reads: _Reads

    @classmethod
    def reading(cls, resource: Any, reads: _Reads) -> _ReadingResource:
        view = cls.from_policy_resource(resource)
        assert isinstance(view, cls)
        view.reads = reads
        return view

    def get(self, *path: str, default: Any = None) -> Any:
        self.reads.add(self.urn, path)
        return super().get(*path, default=default)

    def depends_on(self, key: str) -> tuple[str, ...]:
        self.reads.add(self.urn, ("dependencies", key))
        return super().depends_on(key)

    @cached_property
    def all_dependencies(self) -> frozenset[str]:
        self.reads.add(self.urn, ("dependencies",))
        return super().all_dependencies

    @property
    def region(self) -> Any:
        own = self.get("region")
        if own is not None:
            return own
        self.reads.add(self.urn, ("(provider)", "region"))
        return self.provider_region


def _own_site(resource: ResourceView) -> str | None:
    return resource.site


def _report_examined(
    policy: str,
    reads: _Reads,
    evidence: EvidenceObserver,
    resources: Mapping[str, ResourceView | StackResource],
    site_of: Callable[[Any], str | None],
) -> None:
    reads.paused = True  # what the adapter reads to describe a resource is not evidence
    for urn, fields in reads.by_urn.items():
        resource = resources.get(urn)
        if resource is not None:
            evidence(
                Examined(
                    policy,
                    urn,
                    resource.type,
                    resource.name,
                    site_of(resource),
                    tuple(sorted(fields)),
                )
            )


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
    spec: ResourcePolicySpec,
    ctx: RuleContext,
    observe: Observer | None,
    views: _ViewCache,
    evidence: EvidenceObserver | None = None,
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        reads = _Reads()
        resource = views.view_of(args) if evidence is None else _ReadingView.reading(args, reads)

        def emit(message: str) -> None:
            paused, reads.paused = reads.paused, True
            outcome = Outcome(
                spec.name,
                message,
                resource.urn,
                resource.site,
                resource.type,
                resource.name,
                "violation",
            )
            reads.paused = paused
            # The engine attributes a resource policy's report to the resource itself.
            _decide(spec, ctx, observe, lambda m, _urn: report(m, None), outcome)

        try:
            for message in spec.rule(resource, ctx):
                emit(message)
        except UnknownValueError as error:
            if spec.group != "residency":
                raise  # the engine reports "can't run during preview" (advisory)
            emit(unverified(spec.name, error, f"{resource.type} {resource.name}"))
        finally:
            if evidence is not None:
                _report_examined(spec.name, reads, evidence, {resource.urn: resource}, _own_site)

    return validate


def _stack_validator(
    spec: StackPolicySpec,
    session: EvaluationSession,
    observe: Observer | None,
    evidence: EvidenceObserver | None = None,
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    ctx = session.ctx

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        reads = _Reads()
        if evidence is None:
            ev = session.evaluation(spec.name, args.resources)
        else:  # its own evaluation: every lookup it uses is read on its behalf
            ev = Evaluation([_ReadingResource.reading(r, reads) for r in args.resources], ctx)

        def emit(message: str, urn: str | None, site: str | None) -> None:
            paused, reads.paused = reads.paused, True
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
            reads.paused = paused
            _decide(spec, ctx, observe, report, outcome)

        try:
            for violation in spec.rule(ev):
                emit(violation.message, violation.urn, violation.site)
        except UnknownValueError as error:
            if spec.group != "residency":
                raise
            emit(unverified(spec.name, error, "the stack"), None, None)
        finally:
            if evidence is not None:
                _report_examined(spec.name, reads, evidence, ev.by_urn, ev.declared_site)

    return validate


def enforcement_level(spec: PolicySpec, config: PolicyConfig) -> str:
    return config.level(spec.name, spec.default_level)


def compliance_levels(config: PolicyConfig) -> dict[str, str]:
    """Every policy's level as compliance's config sets it (what engine config may not lower)."""
    return {spec.name: enforcement_level(spec, config) for spec in POLICIES}


def build_policies(
    ctx: RuleContext,
    observe: Observer | None = None,
    session: EvaluationSession | None = None,
    evidence: EvidenceObserver | None = None,
) -> list[Policy]:
    """The pack's policies for one policy config, in catalog order.

    `evidence`, if given, hears which resources each policy examined (see `Examined`).
    """
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
                    _resource_validator(spec, ctx, observe, views, evidence),
                    **common,
                )
            )
        else:
            policies.append(
                StackValidationPolicy(
                    spec.name,
                    spec.description,
                    _stack_validator(spec, session, observe, evidence),
                    **common,
                )
            )
    return policies
