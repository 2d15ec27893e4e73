"""Everything in the HTML report that comes from files is text, never markup.

A hostile program labels a bucket with a site name that is HTML, names a role that reads the lake
with HTML, the stack file's extract query carries HTML inside a SQL string, and the policy
config's waiver reason is HTML. The report must show each literally, in the tables and in the
residency map, and the browser must build no element from any of them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
import yaml

from hybridctl.findings import CheckResult
from hybridctl.reports import html, markdown
from hybridctl.stackfile import load
from tests.policies.conftest import run_program
from tests.reports.conftest import PROD_CONFIG, PROD_STACK, Loaded, run_check

SITE = 'evil"><img src=x onerror="window.__pwned=1">\\N&amp;'
ROLE = "reader<script>window.__pwned=2</script>"
QUERY = "SELECT '</code><svg onload=\"window.__pwned=3\">' AS x FROM t"
REASON = "flood</td><iframe src=javascript:window.__pwned=4>"
HOSTILE = (SITE, ROLE, QUERY, REASON)
INJECTED = ("script", "img", "iframe", "object", "embed", "foreignobject", "svg:script")


def hostile_resources(platform: Any) -> None:
    """A bucket labelled with an HTML site name; a role named with HTML that reads the lake."""
    aws.s3.Bucket("hostile-bucket", tags={"site": SITE, "residency": "regulated"})
    role = aws.iam.Role(
        "hostile-reader",
        name=ROLE,
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    aws.iam.RolePolicy(
        "hostile-reader-lake",
        role=role.name,
        policy=pulumi.Output.concat("arn:aws:s3:::", platform.lake.bucket_name).apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{arn}/*"}
                    ],
                }
            )
        ),
        opts=pulumi.ResourceOptions(parent=role),
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> CheckResult:
    folder = tmp_path_factory.mktemp("hostile")
    document = yaml.safe_load(PROD_STACK.read_text(encoding="utf-8"))
    hq = document["config"]["hybrid-airflow:sites"][0]
    hq["extracts"][0]["query"] = QUERY
    stack_file = folder / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    config = json.loads(PROD_CONFIG.read_text(encoding="utf-8"))
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    config["waivers"] = [
        {
            "policy": "log-retention",
            "site": "hq",
            "reason": REASON,
            "approver": "dpo@example.com",
            "expires": expires,
        }
    ]
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    captured = run_program(hostile_resources, load(stack_file))
    return run_check(stack_file, config_file, capture_=captured)


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_stack_really_is_hostile(hostile: CheckResult) -> None:
    """The hostile values reach the report's model: the test exercises escaping for real."""
    assert SITE in {s.site for s in hostile.storage or []}
    assert SITE in {n for node in hostile.residency_map.nodes.values() for n in node.sites}
    readers = [
        a.principal for s in hostile.storage or [] for loc in s.locations for a in loc.readers
    ]
    assert f"role {ROLE}" in readers
    assert any(e.query == QUERY for s in hostile.sites for e in s.extracts)
    assert any(w.waiver.reason == REASON for w in hostile.waivers)


def test_html_has_no_element_from_a_hostile_value(hostile: CheckResult) -> None:
    page = html.render(hostile)
    parsed = Elements()
    parsed.feed(page)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & set(INJECTED), tags & set(INJECTED)
    handlers = [(t, k) for t, attrs in parsed.tags for k, _ in attrs if k.lower().startswith("on")]
    assert handlers == []
    text = "".join(parsed.text)
    for value in HOSTILE:
        assert value in text, value


def test_the_browser_builds_nothing_from_them(
    hostile: CheckResult, open_report: Callable[..., Loaded]
) -> None:
    report = open_report(html.render(hostile), "hostile")
    page = report.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    injected = "script, img, iframe, object, embed, foreignObject, [onerror], [onload]"
    assert page.evaluate(f"document.querySelectorAll('{injected}').length") == 0
    assert SITE in report.text("#sites")
    assert SITE in report.text("#storage")
    assert f"role {ROLE}" in report.text("#storage")
    assert QUERY in report.text("#sites")
    assert REASON in report.text("#waivers")
    # Graphviz draws the name as text too (its \N escape sequence kept literal).
    assert SITE in page.locator("#map svg").text_content()
    assert report.requests == [report.requests[0]]  # the file itself, nothing else


def test_markdown_keeps_them_inert(hostile: CheckResult) -> None:
    text = markdown.render(hostile)
    assert "<img" not in text
    assert "<script" not in text
    assert "<svg" not in text
    assert "&lt;img src=x" in text


def test_a_report_file_on_disk_round_trips(hostile: CheckResult, tmp_path: Path) -> None:
    """Written as UTF-8 and read back, the page still holds each value exactly once as text."""
    path = tmp_path / "r.html"
    path.write_text(html.render(hostile), encoding="utf-8")
    parsed = Elements()
    parsed.feed(path.read_text(encoding="utf-8"))
    assert REASON in "".join(parsed.text)
