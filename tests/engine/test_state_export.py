"""`hybridctl check --state-out` writes a deployment `pulumi stack import` accepts, and that
`pulumi policy analyze --file` style analysis judges as `hybridctl check` does."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hybridctl.capture import Capture, capture
from hybridctl.stackfile import STACKS_DIR, StackFile, load
from hybridctl.state_export import PULUMI_VERSION, export, magic
from tests.engine.agreement import check_findings, engine_findings
from tests.engine.conftest import BY_NAME, PACK_DIR, Case, Packs, run_check
from tests.engine.engine_host import PolicyPack
from tests.engine.snapshot import snapshot_capture
from tests.engine.stack_import import import_problems

SECRET = "n0t-in-any-export-Pa55"


def state_out(tmp_path: Path, *argv: str) -> dict[str, Any]:
    path = tmp_path / "state.json"
    code, _ = run_check(*argv, "--state-out", str(path))
    assert code in (0, 1)
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_state_out_is_importable(stack: str, tmp_path: Path) -> None:
    document = state_out(tmp_path, "--stack", stack)
    assert import_problems(document, stack) == []
    manifest = document["deployment"]["manifest"]
    assert manifest["version"] == PULUMI_VERSION
    assert manifest["magic"] == magic(PULUMI_VERSION) != ""
    resources = document["deployment"]["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack"
    provider = next(r for r in resources if r["type"] == "pulumi:providers:aws")
    assert (
        provider["urn"]
        == f"urn:pulumi:{stack}::hybrid-airflow::pulumi:providers:aws::default_7_51_1"
    )
    reference = f"{provider['urn']}::{provider['id']}"
    custom = [r for r in resources if r["custom"] and r["type"] != "pulumi:providers:aws"]
    assert custom
    assert all(r["provider"] == reference for r in custom)
    assert not any("pulumi:pulumi:Stack$" in r["urn"] for r in resources)
    # The options `pulumi up` keeps in state: a regulated site's key, secret, log group and
    # Glue database (components/protection.py).
    kept = sorted(r["urn"].rsplit("::", 1)[1] for r in resources if r.get("protect"))
    assert kept == sorted(r["urn"].rsplit("::", 1)[1] for r in resources if r.get("retainOnDelete"))
    if stack == "prod":
        assert kept == sorted(
            f"hybrid-prod-{site}-{what}"
            for site in ("munich", "dublin")
            for what in ("db", "logs", "secrets", "catalog")
        )


def test_the_checker_refuses_what_pulumi_refuses(tmp_path: Path) -> None:
    """The integrity rules are live: each broken copy of a good export is refused."""
    good = state_out(tmp_path, "--stack", "prod")
    assert import_problems(good, "prod") == []

    def broken(edit: Callable[[list[dict[str, Any]], dict[str, Any]], None]) -> list[str]:
        document = copy.deepcopy(good)
        edit(document["deployment"]["resources"], document["deployment"]["manifest"])
        return import_problems(document, "prod")

    assert broken(lambda res, man: man.update(magic="")) == [
        "magic cookie mismatch; possible tampering/corruption detected"
    ]
    assert any("comes after it" in p for p in broken(lambda res, man: res.reverse()))
    assert any("unknown provider" in p for p in broken(lambda res, man: res[1].update(id="other")))
    assert any(
        "different stack" in p
        for p in broken(
            lambda res, man: res.__setitem__(
                -1, {**res[-1], "urn": res[-1]["urn"].replace(":prod::", ":dev::")}
            )
        )
    )
    assert any("duplicate" in p for p in broken(lambda res, man: res.append(dict(res[-1]))))
    mock_urns = broken(
        lambda res, man: [
            r.update(
                urn=r["urn"].replace("::hybrid:platform:", "::pulumi:pulumi:Stack$hybrid:platform:")
            )
            for r in res
        ]
    )
    assert any("URN doesn't match" in p for p in mock_urns)


def test_no_secret_reaches_the_export(tmp_path: Path) -> None:
    stack = load(STACKS_DIR / "Pulumi.prod.yaml")
    config = copy.deepcopy(stack.config)
    config["hybrid-airflow:sites"][1]["database"] = {
        "host": "db.munich.example",
        "port": 3306,
        "name": "clinic",
        "username": "etl",
        "password": SECRET,
    }
    with_db = StackFile("prod", stack.path, config, stack.secret_keys | {"hybrid-airflow:sites"})
    document = export(capture(with_db), "2026-11-28T00:00:00+00:00")
    text = json.dumps(document)
    assert SECRET not in text
    assert "secretString" in text  # the secret version is there, its value redacted
    assert import_problems(document, "prod") == []


def test_a_preview_capture_is_not_exported(captures: Callable[..., Capture]) -> None:
    with pytest.raises(ValueError, match="only an `up` capture"):
        export(captures(BY_NAME["prod"], "preview"), "2026-11-28T00:00:00+00:00")


@pytest.mark.parametrize("name", ["prod", "regulated-fargate"])
def test_policy_analyze_of_the_export_reports_what_check_reports(
    name: str,
    tmp_path: Path,
    packs: Packs,
    check_reports: Callable[[Case], dict[str, Any]],
) -> None:
    """`pulumi policy analyze --file state.json`: no stack is configured (the pack gets no
    PULUMI_STACK), resources are analysed with their stored inputs and outputs."""
    case = BY_NAME[name]
    document = state_out(tmp_path, *case.check_args())
    snapshot = snapshot_capture(document)
    config = case.policy_config or PACK_DIR / f"config.{name}.json"
    with PolicyPack(
        PACK_DIR, packs.python, packs.host, None, {"HYBRID_POLICY_CONFIG": str(config)}
    ) as pack:
        run = pack.analyze(snapshot)
    assert run.not_run() == []
    assert engine_findings(run.violations(), snapshot) == check_findings(check_reports(case))
