"""Report formats of `hybridctl check`, one module each."""

from __future__ import annotations

from collections.abc import Callable

from hybridctl.findings import CheckResult
from hybridctl.reports import html, json_report, junit, markdown, sarif, text

RENDERERS: dict[str, Callable[[CheckResult], str]] = {
    "text": text.render,
    "json": json_report.render,
    "markdown": markdown.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "html": html.render,
}
