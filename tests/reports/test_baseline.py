"""`--baseline previous.json`: every format shows exactly what a change adds, removes and changes.

The stacks are tests/policies' mistakes composed: a baseline with munich on Fargate, then the
same stack with one more site changed (dublin moved to us-east-1). The new findings must be
exactly the ones dublin's move causes on its own, the resolved ones exactly those a revert
removes, and munich's four must stay unchanged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl import history
from hybridctl.cli import main
from hybridctl.findings import CheckResult
from hybridctl.reports import html, json_report, junit, markdown, sarif, text
from tests.policies.violating_stacks import EDITS, PROD_STACK
from tests.reports.conftest import PROD_CONFIG, json_of, run_check

Key = tuple[str, str | None, str | None, str]


def write_stack(folder: Path, *edits: str) -> Path:
    """prod with `edits` applied, as `<folder>/Pulumi.prod.yaml` (same stack, same URNs)."""
    document = yaml.safe_load(PROD_STACK.read_text(encoding="utf-8"))
    config = document["config"]
    for name in edits:
        EDITS[name](config)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def keys(findings: Any) -> set[Key]:
    return {(f["policy"], f["site"], f["resourceName"], f["message"]) for f in findings}


def save(result: CheckResult, path: Path) -> history.BaselineReport:
    path.write_text(json_report.render(result), encoding="utf-8")
    return history.load(path)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("baseline")
    return {
        "fargate": write_stack(root / "a", "regulated-fargate"),
        "fargate+dublin": write_stack(root / "b", "regulated-fargate", "region-outside"),
        "dublin": write_stack(root / "c", "region-outside"),
        "activation30": write_stack(root / "d", "long-activation"),
        "public-airflow": write_stack(root / "e", "public-airflow"),
    }


@pytest.fixture(scope="module")
def dublin_alone(stacks: dict[str, Path]) -> set[Key]:
    """What moving dublin to us-east-1 finds on its own (prod otherwise)."""
    found = keys(json_of(run_check(stacks["dublin"]))["violations"])
    # Region, data-in-site-regions and manifest findings for dublin's resources, and only them.
    assert len(found) >= 8
    assert {k[1] for k in found} == {"dublin"}
    return found


@pytest.fixture(scope="module")
def forward(stacks: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> CheckResult:
    """munich on Fargate (the baseline), then dublin moved too."""
    base = save(run_check(stacks["fargate"]), tmp_path_factory.mktemp("f") / "base.json")
    return run_check(stacks["fargate+dublin"], baseline=base)


@pytest.fixture(scope="module")
def backward(stacks: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> CheckResult:
    """The other way round: dublin's move reverted."""
    base = save(run_check(stacks["fargate+dublin"]), tmp_path_factory.mktemp("b") / "base.json")
    return run_check(stacks["fargate"], baseline=base)


def test_a_one_site_change_adds_exactly_its_findings(
    forward: CheckResult, dublin_alone: set[Key], stacks: dict[str, Path]
) -> None:
    comparison = forward.comparison
    assert comparison is not None
    assert keys(comparison.new) == dublin_alone
    assert comparison.resolved == ()
    assert comparison.changed == ()
    munich = keys(json_of(run_check(stacks["fargate"]))["violations"])
    assert keys(comparison.unchanged) == munich
    assert len(munich) == 4
    assert comparison.warnings == ()


def test_reverting_it_resolves_exactly_those(backward: CheckResult, dublin_alone: set[Key]) -> None:
    comparison = backward.comparison
    assert comparison is not None
    assert keys(comparison.resolved) == dublin_alone
    assert comparison.new == ()
    assert len(comparison.unchanged) == 4


def test_every_format_shows_the_changes(
    forward: CheckResult, backward: CheckResult, dublin_alone: set[Key]
) -> None:
    n = len(dublin_alone)
    document = json.loads(json_report.render(forward))
    assert document["baseline"]["counts"] == {
        "new": n,
        "resolved": 0,
        "changed": 0,
        "unchanged": 4,
        "waiverChanges": 0,
    }
    states = [v["baselineState"] for v in document["violations"]]
    assert states.count("new") == n
    assert states.count("unchanged") == 4

    plain = text.render(forward)
    assert plain.count("  + new: ") == n
    assert f"{n} new, 0 resolved, 0 changed, 4 unchanged" in plain
    assert text.render(backward).count("  - resolved: ") == n

    md = markdown.render(forward)
    assert len(re.findall(r"^\| new \| `", md, flags=re.MULTILINE)) == n
    assert len(re.findall(r"^\| resolved \| `", markdown.render(backward), re.MULTILINE)) == n

    runs = json.loads(sarif.render(forward))["runs"][0]
    assert [r["baselineState"] for r in runs["results"]].count("new") == n
    assert [r["baselineState"] for r in runs["results"]].count("unchanged") == 4
    resolved = json.loads(sarif.render(backward))["runs"][0]["properties"]["baseline"]["resolved"]
    assert len(resolved) == n

    suite = ET.fromstring(junit.render(forward)).find("testsuite")  # noqa: S314 (our own XML)
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["baseline.new"] == str(n)
    assert properties["baseline.resolved"] == "0"

    page = html.render(forward)
    assert page.count('data-change="new"') == n
    assert html.render(backward).count('data-change="resolved"') == n


def test_a_changed_message_is_a_changed_finding(stacks: dict[str, Path], tmp_path: Path) -> None:
    """Same policy, site and resource; the activation now lasts 20 days instead of 30."""
    base = save(run_check(stacks["activation30"]), tmp_path / "base.json")
    shorter = write_stack(tmp_path / "head", "long-activation")
    text_ = shorter.read_text(encoding="utf-8").replace("expiresInDays: 30", "expiresInDays: 20")
    shorter.write_text(text_, encoding="utf-8")
    comparison = run_check(shorter, baseline=base).comparison
    assert comparison is not None
    assert (comparison.new, comparison.resolved) == ((), ())
    [changed] = comparison.changed
    assert changed.fields == ("message",)
    assert changed.after["policy"] == "activation-expiry"
    assert changed.before["message"] != changed.after["message"]


def policy_config(folder: Path, waivers: list[dict[str, str]]) -> Path:
    config = json.loads(PROD_CONFIG.read_text(encoding="utf-8"))
    config["waivers"] = waivers
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_waiver_changes(stacks: dict[str, Path], tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()

    def waiver(policy: str, days: int, **target: str) -> dict[str, str]:
        return {
            "policy": policy,
            "reason": "host rebuild",
            "approver": "dpo@example.com",
            "expires": (today + dt.timedelta(days=days)).isoformat(),
            **target,
        }

    before = policy_config(
        tmp_path / "before",
        [
            waiver("mwaa-private-webserver", 60, site="shared"),
            waiver("lake-versioned", 60, resource="no-such-bucket"),
        ],
    )
    after = policy_config(
        tmp_path / "after",
        [
            waiver("mwaa-private-webserver", 30, site="shared"),
            waiver("log-retention", 10, site="hq"),
        ],
    )
    base = save(run_check(stacks["public-airflow"], before), tmp_path / "base.json")
    assert [v["status"] for v in json.loads(Path(base.path).read_text())["violations"]] == [
        "waived"
    ]
    # Judged a month on: the shortened waiver has expired by then.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    result = run_check(stacks["public-airflow"], after, now=later, baseline=base)
    assert result.comparison is not None
    changes = {(c.change, c.waiver["policy"]) for c in result.comparison.waivers}
    assert changes == {
        ("changed", "mwaa-private-webserver"),
        ("expired", "mwaa-private-webserver"),
        ("added", "log-retention"),
        ("removed", "lake-versioned"),
    }
    # The waived finding is open again under its expired waiver: a changed finding.
    [changed] = result.comparison.changed
    assert set(changed.fields) == {"message", "status"}
    assert changed.after["status"] == "expired-waiver"
    assert "  waiver expired: expired on " in text.render(result)
    assert html.render(result).count('data-change="expired"') == 1


def run_cli(*argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["check", *argv], out=out)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such file"),
        ("not json", "not JSON"),
        ('{"version": "2.1.0", "runs": []}', "not a check report"),
        ('{"violations": [{"policy": 1}]}', "violations[0] lacks a policy"),
    ],
)
def test_a_bad_baseline_exits_2_before_running_anything(
    tmp_path: Path, content: str | None, why: str
) -> None:
    path = tmp_path / "previous.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run_cli("--stack", "prod", "--baseline", str(path))
    assert code == 2
    assert out == ""
    assert why in err
    assert "--baseline takes a report of `hybridctl check --format json`" in err
    assert "running the program" not in err
    assert "Traceback" not in err


def test_an_older_report_without_waivers_or_metadata_is_a_baseline(
    forward: CheckResult, tmp_path: Path, stacks: dict[str, Path], dublin_alone: set[Key]
) -> None:
    n = len(dublin_alone)
    old = json.loads(json_report.render(run_check(stacks["fargate"])))
    for key in ("reportVersion", "metadata", "waivers", "evidence", "storage", "residencyMap"):
        del old[key]
    for violation in old["violations"]:
        del violation["location"]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    comparison = run_check(stacks["fargate+dublin"], baseline=history.load(path)).comparison
    assert comparison is not None
    assert comparison.counts["new"] == n
    assert comparison.counts["unchanged"] == 4


def test_the_cli_writes_the_comparison(
    stacks: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dublin_alone: set[Key],
) -> None:
    n = len(dublin_alone)
    base = tmp_path / "base.json"
    save(run_check(stacks["fargate"]), base)
    report = tmp_path / "report.md"
    code, _, err = run_cli(
        "--stack-file",
        str(stacks["fargate+dublin"]),
        "--policy-config",
        str(PROD_CONFIG),
        "--format",
        "markdown",
        "--baseline",
        str(base),
        "--output",
        str(report),
    )
    assert code == 1
    assert f"{n} new, 0 resolved, 0 changed finding(s), 0 waiver change(s)" in err
    assert "## Since the baseline" in report.read_text(encoding="utf-8")


def test_a_report_of_a_copy_of_the_stack_compares_by_resource(
    stacks: dict[str, Path], tmp_path: Path, dublin_alone: set[Key]
) -> None:
    n = len(dublin_alone)
    """A baseline from a stack of another name (URNs differ in the stack part only)."""
    copy = tmp_path / "Pulumi.before.yaml"
    copy.write_text(stacks["fargate"].read_text(encoding="utf-8"), encoding="utf-8")
    base = save(run_check(copy), tmp_path / "base.json")
    assert base.stack == "before"
    comparison = run_check(stacks["fargate+dublin"], baseline=base).comparison
    assert comparison is not None
    assert comparison.counts["new"] == n
    assert comparison.counts["unchanged"] == 4
    assert comparison.counts["resolved"] == 0
    assert comparison.warnings == (
        "the baseline is a report of stack before, this is stack prod: resources are matched "
        "without the stack's name",
    )
