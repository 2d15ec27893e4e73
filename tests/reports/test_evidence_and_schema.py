"""Per-control evidence in the reports, and the JSON report against its schema in docs/."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hybridctl.capture import Capture
from hybridctl.findings import CheckResult
from hybridctl.policy_pack import PACK_DIR
from hybridctl.reports import html, json_report, junit, markdown
from hybridctl.stackfile import STACKS_DIR
from tests.policies.conftest import run_program
from tests.reports.conftest import PROD_STACK, json_of, run_check

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "check-report.schema.json").read_text(
        encoding="utf-8"
    )
)
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
BUCKET_TYPES = ("aws:s3/bucket", "aws:s3/bucketVersioning", "aws:s3/bucketPolicy")


def validate(document: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [(list(e.path), e.message[:200]) for e in errors[:5]]


def test_the_schema_is_a_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_reports_validate(prod_result: CheckResult, fargate_result: CheckResult) -> None:
    validate(json_of(prod_result))
    validate(json_of(fargate_result))


def test_the_schema_rejects_what_a_report_must_not_be(prod_result: CheckResult) -> None:
    document = json_of(prod_result)
    broken = [
        {k: v for k, v in document.items() if k != "metadata"},
        {**document, "metadata": {**document["metadata"], "stackFile": {"path": "x"}}},
        {**document, "residencyMap": {**document["residencyMap"], "edges": [{"from": "a"}]}},
        {**document, "evidence": [{**document["evidence"][0], "status": "ok"}]},
    ]
    for item in broken:
        assert list(VALIDATOR.iter_errors(item)), item.keys()


def test_every_finding_is_in_its_controls_evidence(fargate_result: CheckResult) -> None:
    document = json_of(fargate_result)
    evidence = {c["policy"]: c for c in document["evidence"]}
    for violation in document["violations"]:
        examined = {e["urn"]: e for e in evidence[violation["policy"]]["examined"]}
        assert examined[violation["urn"]]["result"] == "violation"
        assert evidence[violation["policy"]]["status"] == "fail"
    task = next(
        e
        for e in evidence["regulated-tasks-external-only"]["examined"]
        if e["resourceName"] == "hybrid-prod-munich-etl"
    )
    assert task["fields"] == ["requiresCompatibilities", "tags"]
    assert task["site"] == "munich"


@pytest.fixture(scope="module")
def dev_result() -> CheckResult:
    return run_check(STACKS_DIR / "Pulumi.dev.yaml", PACK_DIR / "config.dev.json")


def test_a_control_with_nothing_in_scope_is_not_a_pass(dev_result: CheckResult) -> None:
    """dev has no regulated site: the regulated task rules read tags, found nothing in scope."""
    statuses = {c.policy: dev_result.policy_status(c.policy) for c in dev_result.evidence or []}
    nothing = {p for p, s in statuses.items() if s == "nothing-to-check"}
    assert nothing == {
        "regulated-tasks-external-only",
        "regulated-tasks-pinned-to-site",
        "regulated-secrets-cmk",
    }
    assert statuses["kms-keys-rotated"] == "pass"
    validate(json_of(dev_result))
    cases = {
        c.get("name"): c
        for c in ET.fromstring(junit.render(dev_result)).iter("testcase")  # noqa: S314
    }
    skipped = cases["regulated-tasks-external-only"].find("skipped")
    assert skipped is not None
    assert "nothing to check" in (skipped.get("message") or "")
    assert "| NOTHING TO CHECK |" in markdown.render(dev_result)
    page = html.render(dev_result)
    assert page.count('data-status="nothing-to-check"') == 3


def without_buckets(captured: Capture) -> Capture:
    from dataclasses import replace

    kept = [r for r in captured.resources if not r.type.startswith(BUCKET_TYPES)]
    return replace(captured, resources=kept)


def test_a_control_that_examined_nothing() -> None:
    """No bucket at all: the bucket rules examine nothing and say so."""
    result = run_check(PROD_STACK, capture_=without_buckets(run_program()))
    control = result.control("lake-versioned")
    assert control is not None
    assert control.examined == ()
    assert result.policy_status("lake-versioned") == "nothing-to-check"
    document = json_of(result)
    validate(document)
    [entry] = [c for c in document["evidence"] if c["policy"] == "lake-versioned"]
    assert entry["nothingToCheck"] is True
    assert "Nothing to check" in html.render(result)
    assert json_report.REPORT_VERSION == document["reportVersion"] == 2
