"""Adding and removing a site end to end: `site add`, `plan --diff`, `site remove`, in a git repo.

What the issue asks: after `site add`, the diff shows exactly the new site's resources, the
shared resources that change, and the new DAG; after `site remove`, what is destroyed and that
the protected resources stay.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hybridctl.capture import capture
from hybridctl.cli import main
from hybridctl.stackfile import load
from tests.program.conftest import PROD

ADD_LYON = [
    "site",
    "add",
    "lyon",
    "--kind",
    "onprem",
    "--residency",
    "regulated",
    "--region",
    "eu-west-1",
    "--extract",
    "invoices:0 2 * * *:SELECT id, customer_id, total FROM invoices WHERE note NOT LIKE '%;%'",
    "--database",
    "etl@db.lyon.internal:3306/sales",
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    stderr, sys.stderr = sys.stderr, err
    try:
        code = main(list(argv), out=out)
    finally:
        sys.stderr = stderr
    return code, out.getvalue(), err.getvalue()


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        [
            shutil.which("git") or "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding prod's stack file, committed."""
    shutil.copy(PROD, tmp_path / "Pulumi.prod.yaml")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "prod")
    return tmp_path


def diff_json(stack_file: Path, base: str = "HEAD") -> dict[str, Any]:
    code, out, err = run(
        "plan", "--stack-file", str(stack_file), "--diff", base, "--format", "json"
    )
    assert code == 0, err
    return json.loads(out)


def names(changes: list[dict[str, Any]], action: str) -> set[tuple[str, str]]:
    return {(c["type"], c["name"]) for c in changes if c["action"] == action}


def test_add_then_remove_a_site(repo: Path) -> None:
    stack_file = repo / "Pulumi.prod.yaml"
    before = stack_file.read_text()

    # --- add -----------------------------------------------------------------------------
    code, out, err = run(*ADD_LYON, "--stack-file", str(stack_file))
    assert code == 0, err
    after = stack_file.read_text()
    assert after.startswith(before), "the existing text, comments included, is kept as it was"
    assert "    - name: lyon\n" in after[len(before) :]
    assert (
        "pulumi config set --secret --path 'hybrid-airflow:sites[3].database.password' "
        "--stack prod" in out
    )
    assert "known sites in policies/config.prod.json" in out  # compliance's file, not edited

    diff = diff_json(stack_file)
    groups = {g["group"]: g for g in diff["groups"]}
    assert set(groups) == {"shared", "lyon"}
    new_site = {(r.type, r.name) for r in capture(load(stack_file)).custom() if r.site == "lyon"}
    assert len(new_site) == 15
    assert ("aws:glue/catalogDatabase:CatalogDatabase", "hybrid-prod-lyon-catalog") in new_site
    assert names(groups["lyon"]["changes"], "create") == new_site
    assert {c["action"] for c in groups["lyon"]["changes"]} == {"create"}
    shared = {c["name"]: c for c in groups["shared"]["changes"]}
    assert set(shared) == {"orchestrator-role", "lake-lifecycle", "orchestrator-manifest"}
    assert {c["action"] for c in shared.values()} == {"update"}
    assert shared["lake-lifecycle"]["inputs"] == [{"name": "rules", "change": "+retain-lyon"}]
    assert shared["orchestrator-manifest"]["inputs"] == [
        {"name": "content", "change": "sites +lyon"}
    ]
    policy_change = shared["orchestrator-role"]["inputs"][0]["change"]
    assert "+RunTaskLyon" in policy_change
    assert diff["dags"] == {"added": ["etl_lyon"], "removed": []}
    assert diff["summary"]["delete"] == 0

    code, text, _ = run("plan", "--stack-file", str(stack_file), "--diff")
    assert code == 0
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "site lyon (new): regulated onprem, EXTERNAL in eu-west-1 -- 15 to create" in text
    assert "\n  + etl_lyon\n" in text

    # --- remove (after the add was committed, i.e. deployed) ---------------------------
    git(repo, "commit", "-qam", "add lyon")
    code, out, err = run("site", "remove", "lyon", "--stack-file", str(stack_file))
    assert code == 0, err
    removed = stack_file.read_text()
    assert "name: lyon" not in removed
    assert "  hybrid-airflow:retiredSites:\n    - lyon\n" in removed
    assert removed.startswith(before), "the other sites and the comments are untouched"
    assert "site lyon (REMOVED)" in out
    assert (
        "  = kms.Key                   hybrid-prod-lyon-secrets  (protected; stays in AWS)" in out
    )
    assert (
        "pulumi state unprotect --stack prod 'urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site$aws:kms/key:Key::hybrid-prod-lyon-secrets'"
        in out
    )
    assert (
        "pulumi state unprotect --stack prod 'urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site$aws:glue/catalogDatabase:CatalogDatabase::hybrid-prod-lyon-catalog'"
        in out
    )
    assert "aws glue delete-database --region eu-central-1 --name hybrid_prod_lyon" in out
    assert (
        "aws ecs deregister-container-instance --region eu-west-1 --cluster hybrid-prod-lyon" in out
    )
    assert "lifecycle rule retain-lyon expires them after 365 days" in out
    assert out.index("  1. Deregister the site's hosts first") < out.index(
        "  2. Release the protected resources"
    )

    diff = diff_json(stack_file)
    (group,) = [g for g in diff["groups"] if g["group"] == "lyon"]
    kept = {
        ("aws:kms/key:Key", "hybrid-prod-lyon-secrets"),
        ("aws:secretsmanager/secret:Secret", "hybrid-prod-lyon-db"),
        ("aws:cloudwatch/logGroup:LogGroup", "hybrid-prod-lyon-logs"),
        ("aws:glue/catalogDatabase:CatalogDatabase", "hybrid-prod-lyon-catalog"),
    }
    assert names(group["changes"], "keep") == kept
    assert names(group["changes"], "delete") == new_site - kept
    (regulated,) = diff["regulatedSitesRemoved"]
    assert regulated["site"] == "lyon"
    assert sorted(regulated["kept"]) == sorted(name for _, name in kept)
    assert diff["dags"] == {"added": [], "removed": ["etl_lyon"]}
    shared = {c["name"]: c for g in diff["groups"] if g["group"] == "shared" for c in g["changes"]}
    assert "lake-lifecycle" not in shared, "the retired site keeps its retention rule"

    # --- the retired name cannot come back ---------------------------------------------
    code, _, err = run(*ADD_LYON, "--stack-file", str(stack_file))
    assert code == 2
    assert "sites[3] (lyon).name: is in hybrid-airflow:retiredSites" in err
    assert stack_file.read_text() == removed


def test_a_refused_edit_leaves_the_file_untouched(repo: Path) -> None:
    stack_file = repo / "Pulumi.prod.yaml"
    before = stack_file.read_bytes()
    code, _, err = run(
        *ADD_LYON[:-4], "--extract", "x:0 25 * * *:SELECT 1", "--stack-file", str(stack_file)
    )
    assert code == 2
    assert "the edit was not written" in err
    assert "sites[3] (lyon).extracts[0].schedule: '0 25 * * *'" in err
    assert stack_file.read_bytes() == before
    assert sorted(p.name for p in repo.iterdir()) == [".git", "Pulumi.prod.yaml"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--database", "etl:hunter2@db/sales"], "no password on the command line"),
        (["--extract", "just-a-name"], "give NAME:SCHEDULE:QUERY"),
        (["--extract", "x:@daily:DELETE FROM t"], "the ETL would refuse it"),
    ],
)
def test_site_add_refuses_bad_arguments(repo: Path, args: list[str], message: str) -> None:
    code, _, err = run(
        *ADD_LYON[:3],
        "--kind",
        "cloud",
        "--residency",
        "standard",
        "--region",
        "eu-central-1",
        *args,
        *(["--extract", "x::SELECT 1"] if "--extract" not in args else []),
        "--stack-file",
        str(repo / "Pulumi.prod.yaml"),
    )
    assert code == 2
    assert message in err
    assert "hunter2" not in err


def test_removing_an_unknown_site_is_exit_2(repo: Path) -> None:
    code, _, err = run("site", "remove", "nowhere", "--stack-file", str(repo / "Pulumi.prod.yaml"))
    assert code == 2
    assert "no site named 'nowhere' (sites: hq, munich, dublin)" in err


def test_dry_run_writes_nothing(repo: Path) -> None:
    stack_file = repo / "Pulumi.prod.yaml"
    before = stack_file.read_bytes()
    code, out, _ = run("site", "remove", "dublin", "--dry-run", "--stack-file", str(stack_file))
    assert code == 0
    assert "site dublin (REMOVED)" in out
    assert stack_file.read_bytes() == before


def test_diff_against_a_state_file(tmp_path: Path, repo: Path) -> None:
    """The base can be a saved state (`check --state-out`): same answer as against git."""
    state = tmp_path / "state.json"
    code, _, err = run(
        "check",
        "--stack-file",
        str(repo / "Pulumi.prod.yaml"),
        "--policy-config",
        str(Path("policies/config.prod.json").resolve()),
        "--state-out",
        str(state),
    )
    assert code == 0, err
    code, _, err = run(*ADD_LYON, "--stack-file", str(repo / "Pulumi.prod.yaml"))
    assert code == 0, err
    from_state = diff_json(repo / "Pulumi.prod.yaml", str(state))
    from_git = diff_json(repo / "Pulumi.prod.yaml", "HEAD")
    assert from_state["groups"] == from_git["groups"]
    assert from_state["dags"] == from_git["dags"]


def test_a_state_files_protect_flag_is_respected(tmp_path: Path) -> None:
    """A real `pulumi stack export` records protect; a standard site's protected group stays."""
    stack_file = tmp_path / "Pulumi.prod.yaml"
    shutil.copy(PROD, stack_file)
    state = tmp_path / "state.json"
    run(
        "check",
        "--stack-file",
        str(stack_file),
        "--policy-config",
        str(Path("policies/config.prod.json").resolve()),
        "--state-out",
        str(state),
    )
    document = json.loads(state.read_text())
    for resource in document["deployment"]["resources"]:
        if resource["urn"].endswith("::hybrid-prod-hq-logs"):
            resource["protect"] = True
    state.write_text(json.dumps(document))
    code, _, err = run("site", "remove", "hq", "--stack-file", str(stack_file))
    assert code == 0, err
    diff = diff_json(stack_file, str(state))
    (group,) = [g for g in diff["groups"] if g["group"] == "hq"]
    assert names(group["changes"], "keep") == {
        ("aws:cloudwatch/logGroup:LogGroup", "hybrid-prod-hq-logs")
    }


def test_not_a_state_file_is_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "state.json"
    bogus.write_text('{"resources": "no"}')
    code, _, err = run("plan", "--stack", "prod", "--diff", str(bogus))
    assert code == 2
    assert "not a Pulumi state export" in err
