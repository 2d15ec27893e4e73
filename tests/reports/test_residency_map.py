"""The residency map: every edge is derived from the captured resources, none from the manifest.

Edits to the captured resources move edges; an edit to the sites manifest (what the program
claims) moves none.
"""

from __future__ import annotations

import json
from typing import Any

import graphviz
import pytest

from hybridctl.capture import CapturedResource
from hybridctl.findings import CheckResult
from hybridctl.reports import html
from hybridctl.residency_map import ResidencyMap, to_svg
from tests.policies.conftest import edited, run_program, set_prop
from tests.reports.conftest import PROD_STACK, run_check

Edge = tuple[str, str, str, str, bool]  # site, from, relation, to, outside allowed regions


def edges(graph: ResidencyMap | None) -> set[Edge]:
    assert graph is not None
    name = {n.id: n.label.split("\n")[0] for n in graph.nodes.values()}
    detail = {n.id: n.label.split("\n")[-1] for n in graph.nodes.values()}
    return {
        (
            e.site,
            name[e.source],
            e.relation,
            detail[e.target] if name[e.target] == "lake prefix" else name[e.target],
            e.outside_allowed,
        )
        for e in graph.edges
    }


def site_edges(result: CheckResult, site: str) -> set[Edge]:
    return {e for e in edges(result.residency_map) if e[0] == site}


def test_prod_map(prod_result: CheckResult, dublin_west_only_result: CheckResult) -> None:
    munich = site_edges(prod_result, "munich")
    lake = next(e[3] for e in munich if e[2] == "writes").rsplit("/", 2)[0]
    assert munich == {
        ("munich", "site munich", "runs on", "ECS cluster hybrid-prod-munich", False),
        ("munich", "site munich", "hosts", "ECS Anywhere hosts of munich", False),
        ("munich", "ECS Anywhere hosts of munich", "join", "ECS cluster hybrid-prod-munich", False),
        ("munich", "ECS cluster hybrid-prod-munich", "in", "eu-central-1", False),
        ("munich", "site munich", "writes", f"{lake}/munich/", False),
        ("munich", "lake prefix", "stored in", "eu-central-1", False),
        ("munich", "lake prefix", "encrypted with", "KMS key alias/hybrid-prod-lake", False),
    }
    dublin = site_edges(prod_result, "dublin")
    assert ("dublin", "ECS cluster hybrid-prod-dublin", "in", "eu-west-1", False) in dublin
    # dublin's extracts land in the eu-central-1 lake, which prod's compliance config allows;
    # one that allows dublin eu-west-1 only marks that edge.
    assert ("dublin", "lake prefix", "stored in", "eu-central-1", False) in dublin
    strict = site_edges(dublin_west_only_result, "dublin")
    assert ("dublin", "lake prefix", "stored in", "eu-central-1", True) in strict
    hq = site_edges(prod_result, "hq")
    assert ("hq", "site hq", "runs on", "ECS cluster hybrid-prod-shared", False) in hq
    assert ("hq", "site hq", "hosts", "AWS Fargate", False) in hq
    assert all(e.evidence for e in prod_result.residency_map.edges)


def manifest_claims_munich_runs_on_the_shared_cluster(resource: CapturedResource) -> bool:
    if resource.name != "orchestrator-manifest":
        return False
    manifest = json.loads(resource.outputs["content"])
    for site in manifest["sites"]:
        if site["name"] == "munich":
            site.update(cluster=manifest["cluster"], launchType="FARGATE", region="eu-west-1")
            site["extracts"][0]["keyPrefix"] = "hq/patients"
    set_prop(resource, "content", json.dumps(manifest))
    return True


def test_the_manifest_draws_no_edge(prod_result: CheckResult) -> None:
    """A manifest that routes munich elsewhere is reported by the policies, not drawn."""
    decoy = run_check(
        PROD_STACK,
        capture_=edited(run_program(), manifest_claims_munich_runs_on_the_shared_cluster),
    )
    assert ("manifest-routes-regulated-external", "munich") in {
        (f.policy, f.site) for f in decoy.blocking
    }
    assert edges(decoy.residency_map) == edges(prod_result.residency_map)


def _policy(resource: CapturedResource) -> dict[str, Any]:
    return json.loads(resource.outputs["policy"])


def orchestrator_runs_munich_on_the_shared_cluster(resource: CapturedResource) -> bool:
    if resource.type != "aws:iam/rolePolicy:RolePolicy" or resource.name != "orchestrator-role":
        return False
    document = _policy(resource)
    for statement in document["Statement"]:
        if statement.get("Sid") == "RunTaskMunich":
            cluster = statement["Condition"]["ArnEquals"]["ecs:cluster"]
            statement["Condition"]["ArnEquals"]["ecs:cluster"] = cluster.replace(
                "hybrid-prod-munich", "hybrid-prod-shared"
            )
    set_prop(resource, "policy", json.dumps(document))
    return True


def test_a_run_task_grant_moves_the_edge(prod_result: CheckResult) -> None:
    moved = run_check(
        PROD_STACK,
        capture_=edited(run_program(), orchestrator_runs_munich_on_the_shared_cluster),
    )
    munich = site_edges(moved, "munich")
    assert ("munich", "site munich", "runs on", "ECS cluster hybrid-prod-shared", False) in munich
    assert (
        "munich",
        "site munich",
        "runs on",
        "ECS cluster hybrid-prod-munich",
        False,
    ) not in munich
    [edge] = [
        e for e in moved.residency_map.edges if e.site == "munich" and e.relation == "runs on"
    ]
    assert "RunTaskMunich" in edge.evidence
    assert ("regulated-sites-isolated", "munich") in {(f.policy, f.site) for f in moved.blocking}


def munich_task_role_writes_nowhere(resource: CapturedResource) -> bool:
    if (
        resource.type != "aws:iam/rolePolicy:RolePolicy"
        or resource.name != "hybrid-prod-munich-task"
    ):
        return False
    document = _policy(resource)
    document["Statement"] = [
        s for s in document["Statement"] if s.get("Sid") != "WriteOwnLakePrefix"
    ]
    set_prop(resource, "policy", json.dumps(document))
    return True


def test_without_the_write_grant_there_is_no_storage_edge() -> None:
    dry = run_check(PROD_STACK, capture_=edited(run_program(), munich_task_role_writes_nowhere))
    relations = {e[2] for e in site_edges(dry, "munich")}
    assert "writes" not in relations
    assert "stored in" not in relations
    munich = next(s for s in dry.storage or [] if s.site == "munich")
    assert [loc.kind for loc in munich.locations] == ["DB credentials"]
    assert any("no extracts location" in n for n in munich.notes)


def test_the_svg_marks_what_the_model_says(fargate_result: CheckResult) -> None:
    svg = to_svg(fargate_result.residency_map)
    assert svg.startswith("<svg")
    assert "<?xml" not in svg
    assert svg.count('class="node ') == len(fargate_result.residency_map.nodes)
    assert svg.count('class="edge ') == len(fargate_result.residency_map.edges)
    assert svg.count('class="node site regulated violating"') == 1
    assert "site munich" in svg.split('class="node site regulated violating"', 1)[1][:2000]


def test_without_dot_the_report_says_so_and_keeps_the_edges(
    prod_result: CheckResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_dot(graph: ResidencyMap) -> str:
        raise graphviz.ExecutableNotFound(["dot", "-Tsvg"])

    monkeypatch.setattr(html, "to_svg", no_dot)
    page = html.render(prod_result)
    assert "The map could not be drawn (ExecutableNotFound" in page
    assert page.count("<svg") == 0
    assert page.count("<tr") > len(prod_result.residency_map.edges)
    assert "the residency map cannot be drawn" in capsys.readouterr().err
