"""The HTML report as a reviewer opens it: from disk, in headless Chromium, offline.

Loads the report of prod and of a violating stack (munich, a regulated site, moved to Fargate)
and checks what a reviewer relies on: the residency map is drawn, the tables are there, the
violating site is marked (in the map and in the summary), nothing is fetched, and it prints.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from hybridctl.findings import CheckResult
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.reports import html
from tests.reports.conftest import VIEWPORT, Loaded, json_of

RED = "rgb(197, 27, 27)"  # --fail: the border of a violating site's row


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_offline(report: Loaded) -> None:
    """The page fetched nothing but itself, and the browser reported no error (CSP included)."""
    assert len(report.requests) == 1, report.requests
    assert report.requests[0].startswith("file://")
    assert report.console == []


def test_prod_report_in_chromium(
    prod_result: CheckResult, open_report: Callable[..., Loaded], tmp_path: Path
) -> None:
    report = open_report(html.render(prod_result), "prod")
    assert_offline(report)
    page = report.page
    assert page.title() == "Compliance report: stack prod"
    assert report.text("#verdict").startswith("PASSED")

    # The map: drawn by Graphviz, one node per site, every derived edge drawn.
    edges = json_of(prod_result)["residencyMap"]["edges"]
    assert report.count("#map svg") == 1
    assert report.count("#map svg g.node.site") == 3
    assert report.count("#map svg g.edge") == len(edges) >= 15
    svg_box = page.locator("#map svg").bounding_box()
    assert svg_box["width"] > 600
    assert svg_box["height"] > 200
    map_text = page.locator("#map svg").text_content()
    for label in ("site munich", "site dublin", "site hq", "hybrid-prod-munich", "eu-west-1"):
        assert label in map_text
    assert report.count("#map svg g.node.violating") == 0
    assert report.count("#map table.edges tbody tr") == len(edges)

    # The tables: a row per site, a card per regulated site, evidence per control.
    assert {
        page.locator("#sites tbody tr").nth(i).get_attribute("data-site") for i in range(3)
    } == {"hq", "munich", "dublin"}
    assert report.count("#sites tbody tr.violating") == 0
    assert report.count("#controls article.control") == len(hp.POLICIES)
    assert report.count("#controls table.evidence") >= len(hp.POLICIES) - 1
    assert report.count("#storage article.site-storage") == 2
    assert report.count("#metadata table.meta tr") >= 10
    assert report.count("#signoff table.signoff tbody tr") == 3

    # A full-page screenshot a reviewer would see: as wide as the window, many screens long.
    shot = tmp_path / "prod.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = png_size(shot)
    assert width == VIEWPORT["width"]
    assert height > 4 * VIEWPORT["height"]
    assert shot.stat().st_size > 200_000  # a page of text, tables and a map, not a blank one
    map_shot = tmp_path / "prod-map.png"
    page.locator("#map figure").screenshot(path=str(map_shot))
    map_width, map_height = png_size(map_shot)
    assert map_width > 600
    assert map_height > 200
    assert map_shot.stat().st_size > 20_000


def test_violating_report_marks_the_site(
    fargate_result: CheckResult, open_report: Callable[..., Loaded], tmp_path: Path
) -> None:
    report = open_report(html.render(fargate_result), "fargate")
    assert_offline(report)
    page = report.page
    assert report.text("#verdict").startswith("FAILED: 4 mandatory")

    # In the map: munich's node carries the mark, the others do not.
    marked = page.locator("#map svg g.node.site.violating")
    assert marked.count() == 1
    assert "site munich" in marked.text_content()
    assert "VIOLATION" in marked.text_content()
    assert report.count("#map svg g.node.site:not(.violating)") == 2

    # In the summary: munich's row is marked, failing, and shows it in red.
    row = page.locator('#sites tbody tr[data-site="munich"]')
    assert row.get_attribute("class") == "violating"
    assert row.get_attribute("data-status") == "fail"
    assert "FAIL" in row.inner_text()
    border = row.locator("td.site-name").evaluate("cell => getComputedStyle(cell).borderLeftColor")
    assert border == RED
    for other in ("hq", "dublin"):
        assert page.locator(f'#sites tbody tr[data-site="{other}"]').get_attribute("class") is None

    # The findings table lists the four, each pointing at munich's line in the stack file.
    assert report.count("#findings table.findings tbody tr.violating") == 4
    assert report.count('#controls article[data-status="fail"]') == 4
    munich_line = fargate_result.locator.locate("regulated-tasks-external-only", "munich").line
    assert f"Pulumi.regulated-fargate.yaml:{munich_line}" in report.text("#findings")

    shot = tmp_path / "fargate.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = png_size(shot)
    assert width == VIEWPORT["width"]
    assert height > 4 * VIEWPORT["height"]
    assert shot.stat().st_size > 200_000


def test_the_report_prints(prod_result: CheckResult, open_report: Callable[..., Loaded]) -> None:
    report = open_report(html.render(prod_result), "print")
    page = report.page
    page.emulate_media(media="print")
    assert page.locator("nav.contents").evaluate("nav => getComputedStyle(nav).display") == "none"
    pdf = page.pdf(format="A4", landscape=True, print_background=True)
    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + pdf.count(b"/Type/Page") >= 3
