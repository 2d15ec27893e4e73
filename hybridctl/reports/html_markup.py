"""A tiny HTML builder that escapes by default.

Every string becomes text unless it is `Safe` (markup this module built, or the SVG Graphviz
wrote, whose labels Graphviz escapes itself). Site names, resource names, queries, messages and
waiver reasons all come from files someone else wrote: nothing reaches the page unescaped by
forgetting to call `escape`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Union

Child = Union[str, "Safe", int, None, Iterable["Child"]]


class Safe(str):
    """Markup that is already HTML."""

    __slots__ = ()


def escape(value: object) -> Safe:
    return value if isinstance(value, Safe) else Safe(html.escape(str(value), quote=True))


def render(children: Child) -> Safe:
    if children is None:
        return Safe("")
    if isinstance(children, Safe):
        return children
    if isinstance(children, str | int):
        return escape(children)
    return Safe("".join(render(c) for c in children))


def el(tag: str, /, *children: Child, **attrs: object) -> Safe:
    """`<name attrs>children</name>`; `class_` for class, `data_x` for data-x; None drops."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attribute = key.rstrip("_").replace("_", "-")
        parts.append(attribute if value is True else f'{attribute}="{escape(value)}"')
    return Safe(f"<{' '.join(parts)}>{render(children)}</{tag}>")


def void(tag: str, /, **attrs: object) -> Safe:
    parts = [tag] + [
        f'{key.rstrip("_").replace("_", "-")}="{escape(value)}"'
        for key, value in attrs.items()
        if value is not None
    ]
    return Safe(f"<{' '.join(parts)}>")


def table(head: Iterable[Child], rows: Iterable[Safe], class_: str | None = None) -> Safe:
    return el(
        "table",
        el("thead", el("tr", [el("th", h) for h in head])),
        el("tbody", list(rows)),
        class_=class_,
    )


def lines(items: Iterable[Child]) -> Safe:
    """Items separated by line breaks."""
    out: list[Child] = []
    for i, item in enumerate(items):
        if i:
            out.append(Safe("<br>"))
        out.append(item)
    return render(out)
