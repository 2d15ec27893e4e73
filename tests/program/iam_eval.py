"""A small, conservative IAM evaluator for the program's own identity policies (test oracle).

It answers "could this document allow `action` on `resource`?" the way IAM matches strings:
`*` and `?` wildcards in actions (case-insensitive) and resources (case-sensitive). It errs
towards "allowed": conditions are assumed to hold, and NotAction/NotResource allow everything
they do not list. A test that proves something is *not* reachable with it is therefore sound.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any


@cache
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
    )
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def _matches(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    items = patterns if isinstance(patterns, list) else [patterns]
    return any(_pattern(str(p), ignore_case).fullmatch(value) for p in items)


def allows(document: dict[str, Any], action: str, resource: str) -> bool:
    """Whether any Allow statement of `document` may grant `action` on `resource`."""
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            action_ok = not _matches(statement["NotAction"], action, ignore_case=True)
        else:
            action_ok = _matches(statement.get("Action", []), action, ignore_case=True)
        if "NotResource" in statement:
            resource_ok = not _matches(statement["NotResource"], resource, ignore_case=False)
        else:
            resource_ok = _matches(statement.get("Resource", []), resource, ignore_case=False)
        if action_ok and resource_ok:
            return True
    return False
