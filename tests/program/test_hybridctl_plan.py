"""`python -m hybridctl plan` as a user runs it: a process, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from hybridctl.stackfile import PROJECT_DIR
from tests.program.conftest import PROD


def hybridctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hybridctl", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_json_plan_lists_an_external_task_definition_per_regulated_site(tmp_path: Path) -> None:
    manifest_path = tmp_path / "manifest.json"
    result = hybridctl(
        "plan", "--stack-file", str(PROD), "--format", "json", "--manifest", str(manifest_path)
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    tasks = {
        r["site"]: r["inputs"]["requiresCompatibilities"]
        for r in plan["resources"]
        if r["type"] == "aws:ecs/taskDefinition:TaskDefinition"
    }
    assert tasks == {"hq": ["FARGATE"], "munich": ["EXTERNAL"], "dublin": ["EXTERNAL"]}
    assert plan["summary"]["resources"] == sum(plan["summary"]["perSite"].values())
    manifest = json.loads(manifest_path.read_text())
    assert [s["name"] for s in manifest["sites"]] == ["hq", "munich", "dublin"]
    assert "captured" in result.stderr


def test_text_plan_groups_resources_by_site() -> None:
    result = hybridctl("plan", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Plan for stack prod (eu-central-1): ")
    assert (
        "site munich: regulated onprem, EXTERNAL on cluster hybrid-prod-munich in eu-central-1"
        in out
    )
    assert "site hq: standard cloud, FARGATE on cluster hybrid-prod-shared in eu-central-1" in out
    assert "pinned: attribute:site == dublin" in out
    assert out.index("shared platform") < out.index("site hq") < out.index("site munich")


def test_secure_values_stay_opaque(tmp_path: Path) -> None:
    stack = yaml.safe_load(PROD.read_text())
    stack["config"]["hybrid-airflow:sites"][1]["database"] = {
        "host": "db.munich.example",
        "name": "clinic",
        "username": "etl",
        "password": {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="},
    }
    path = tmp_path / "Pulumi.secure.yaml"
    path.write_text(yaml.safe_dump(stack))
    result = hybridctl("plan", "--stack-file", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "c2VjcmV0LWNpcGhlcnRleHQ" not in result.stdout
    (version,) = [
        r
        for r in json.loads(result.stdout)["resources"]
        if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"
    ]
    assert version["inputs"]["secretString"] == "[secret]"


def test_malformed_stack_file_exits_2_naming_site_and_field(tmp_path: Path) -> None:
    stack = yaml.safe_load(PROD.read_text())
    sites = stack["config"]["hybrid-airflow:sites"]
    sites[1]["database"] = {"host": "h", "port": 0, "name": "d", "username": "u"}
    sites[2]["kind"] = "branch"
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(stack))
    result = hybridctl("plan", "--stack-file", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].endswith("Pulumi.broken.yaml: invalid stack config (2 problems)")
    assert any(
        line.startswith("error:   line ")
        and line.endswith("sites[1] (munich).database.port: must be between 1 and 65535")
        for line in lines
    ), lines
    assert any(
        line.endswith("sites[2] (dublin).kind: must be 'onprem' or 'cloud'") for line in lines
    )


def test_unreadable_inputs_exit_2_without_traceback(tmp_path: Path) -> None:
    not_yaml = tmp_path / "Pulumi.x.yaml"
    not_yaml.write_text("config: [unclosed")
    cases = {
        ("--stack", "nope"): "no stack 'nope'",
        ("--stack-file", str(tmp_path / "missing.yaml")): "no such stack file",
        ("--stack-file", str(not_yaml)): "not valid YAML",
    }
    for args, message in cases.items():
        result = hybridctl("plan", *args)
        assert result.returncode == 2, args
        assert message in result.stderr
        assert "Traceback" not in result.stderr
