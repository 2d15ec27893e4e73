"""Evaluate the policy pack on a captured stack: the heart of `hybridctl check`."""

from __future__ import annotations

import datetime as dt
import json

from hybridctl import evidence as evidence_
from hybridctl.capture import Capture
from hybridctl.engine import PolicyInputs, run_policies
from hybridctl.findings import (
    CheckResult,
    Extract,
    Finding,
    NotEvaluated,
    PolicyInfo,
    SiteSummary,
    WaiverStatus,
)
from hybridctl.policy_pack import hybrid_policies as hp


def site_summaries(capture: Capture) -> list[SiteSummary]:
    """Per site: residency and where its tasks run, as the manifest routes them."""
    text = capture.manifest_text()  # None while unknown (a first preview)
    try:
        manifest = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return []  # the policies report an unreadable manifest; the summary has nothing to show
    return [
        SiteSummary(
            name=site["name"],
            residency=site["residency"],
            kind=site["kind"],
            launch_type=site["launchType"],
            cluster=site["cluster"],
            region=site["region"],
            extracts=tuple(
                Extract(str(e.get("name")), str(e.get("schedule")), str(e.get("query")))
                for e in site.get("extracts") or []
                if isinstance(e, dict)
            ),
        )
        for site in manifest.get("sites", [])
    ]


def evaluate(
    capture: Capture,
    config: hp.PolicyConfig,
    *,
    stack_file: str,
    now: dt.datetime | None = None,
    evidence: bool = False,
    inputs: PolicyInputs | None = None,
) -> CheckResult:
    """Every policy on the capture. With `evidence`, also which resources each policy examined
    and what it read (each policy then builds its own lookups: a little slower, same verdicts).
    """
    now = now or dt.datetime.now(dt.UTC)
    outcomes: list[hp.Outcome] = []
    examined: list[hp.Examined] = []
    policies = hp.build_policies(
        hp.RuleContext(config, now),
        observe=outcomes.append,
        evidence=examined.append if evidence else None,
    )
    inputs = inputs or PolicyInputs(capture)
    _, not_run = run_policies(policies, inputs)

    by_urn = capture.by_urn()
    findings = []
    for outcome in outcomes:
        resource = by_urn.get(outcome.urn or "")
        findings.append(
            Finding(
                policy=outcome.policy,
                enforcement_level=hp.enforcement_level(hp.BY_NAME[outcome.policy], config),
                message=outcome.message,
                # The engine files a finding that names no resource of the stack under the stack.
                urn=outcome.urn if resource is not None else capture.root_urn,
                resource_type=outcome.resource_type or (resource.type if resource else None),
                resource_name=outcome.resource_name or (resource.name if resource else None),
                site=outcome.site or (resource.site if resource else None),
                status=outcome.status,
                waiver=outcome.waiver,
            )
        )
    used = {id(o.waiver) for o in outcomes if o.waiver is not None}
    covered = [o.waiver for o in outcomes if o.waiver is not None]
    controls = (
        evidence_.collect(
            [(spec.name, spec.kind) for spec in hp.POLICIES],
            examined,
            [
                evidence_.FindingRef(
                    f.policy, f.urn, f.status, f.resource_type, f.resource_name, f.site
                )
                for f in findings
            ],
            [(n.policy, n.urn) for n in not_run],
        )
        if evidence
        else None
    )
    return CheckResult(
        stack=capture.stack,
        stack_file=stack_file,
        policy_config=config.source,
        generated_at=now.isoformat(timespec="seconds"),
        policies=[
            PolicyInfo(
                name=spec.name,
                description=spec.description,
                severity=spec.severity,
                remediation=spec.remediation,
                enforcement_level=hp.enforcement_level(spec, config),
                kind=spec.kind,
            )
            for spec in hp.POLICIES
        ],
        findings=findings,
        sites=site_summaries(capture),
        unmatched_waivers=[w for w in config.waivers if id(w) not in used],
        not_evaluated=[NotEvaluated(n.policy, n.urn, n.reason) for n in not_run],
        resources_checked=len(inputs.resources),
        waivers=[
            WaiverStatus.of(w, now.date(), sum(1 for c in covered if c is w))
            for w in config.waivers
        ],
        evidence=controls,
    )
