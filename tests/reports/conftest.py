"""Fixtures of the report tests: checks of real stacks (the program under mocks, the real pack),
each run once per session, and a headless Chromium driven by Playwright.

Chromium is Debian's (`make system-deps` installs it); Playwright only drives it through
`executable_path` (its own browser download is not used).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridctl.capture import Capture, capture
from hybridctl.check import check_stack, load_policy_config
from hybridctl.findings import CheckResult
from hybridctl.history import BaselineReport
from hybridctl.policy_pack import PACK_DIR
from hybridctl.reports import json_report
from hybridctl.stackfile import STACKS_DIR, StackFile, load
from tests.policies.violating_stacks import write_violating_stacks

PROD_STACK = STACKS_DIR / "Pulumi.prod.yaml"
PROD_CONFIG = PACK_DIR / "config.prod.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}

_CAPTURES: dict[tuple[Path, str], Capture] = {}


def captured(stack: StackFile) -> Capture:
    """The program's resources for a stack file on disk (each captured once per session)."""
    key = (stack.path.resolve(), stack.path.read_text(encoding="utf-8"))
    if key not in _CAPTURES:
        _CAPTURES[key] = capture(stack)
    return _CAPTURES[key]


def run_check(
    stack_file: Path,
    policy_config: Path = PROD_CONFIG,
    *,
    now: dt.datetime | None = None,
    baseline: BaselineReport | None = None,
    capture_: Capture | None = None,
) -> CheckResult:
    """What `hybridctl check` computes before rendering (same function, no process)."""
    stack = load(stack_file)
    config = load_policy_config(str(policy_config), stack.name)
    return check_stack(
        stack,
        config,
        capture_ or captured(stack),
        now=now or dt.datetime.now(dt.UTC),
        baseline=baseline,
        policy_file=policy_config,
    )


def json_of(result: CheckResult) -> dict[str, Any]:
    return json.loads(json_report.render(result))


@pytest.fixture(scope="session")
def violating(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tests/policies' stack files with one mistake each, as YAML on disk."""
    return write_violating_stacks(tmp_path_factory.mktemp("violating"))


@pytest.fixture(scope="session")
def prod_result() -> CheckResult:
    return run_check(PROD_STACK)


@pytest.fixture(scope="session")
def dublin_west_only_result(tmp_path_factory: pytest.TempPathFactory) -> CheckResult:
    """prod judged by a policy config that allows dublin's data in eu-west-1 only, while its
    extracts land in the eu-central-1 lake (prod's own config allows both)."""
    config = json.loads(PROD_CONFIG.read_text(encoding="utf-8"))
    for site in config["sites"]:
        if site["name"] == "dublin":
            site["allowedRegions"] = ["eu-west-1"]
    path = tmp_path_factory.mktemp("config") / "config.prod.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return run_check(PROD_STACK, path)


@pytest.fixture(scope="session")
def fargate_result(violating: dict[str, Path]) -> CheckResult:
    """munich, a regulated site, moved to Fargate: four mandatory violations on munich."""
    return run_check(violating["regulated-fargate"])


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A persistent context of headless Chromium with a fresh profile, for the session."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="hybrid-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


class Loaded:
    """A page with the report loaded, and everything the browser did while loading it."""

    def __init__(self, page: Any, requests: list[str], console: list[str]) -> None:
        self.page = page
        self.requests = requests
        self.console = console

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text())


@pytest.fixture
def open_report(chromium: Any, tmp_path: Path) -> Iterator[Callable[[str, str], Loaded]]:
    """Write an HTML report to a file and load it in Chromium from disk."""
    pages = []

    def load_report(text: str, name: str = "report") -> Loaded:
        path = tmp_path / f"{name}.html"
        path.write_text(text, encoding="utf-8")
        page = chromium.new_page()
        pages.append(page)
        requests: list[str] = []
        console: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on(
            "console",
            lambda message: console.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: console.append(str(error)))
        page.goto(path.as_uri(), wait_until="load")
        return Loaded(page, requests, console)

    yield load_report
    for page in pages:
        page.close()
