"""YAML for stack files, read strictly: what Pulumi would refuse or misread is an error with a line.

- Duplicate keys are refused, naming both lines (a parser that keeps the last value turned a
  regulated site into a standard one).
- Anchors, aliases, merge keys and explicit tags are refused: a stack file has no use for them,
  and alias expansion is how a small file grows past 2 GB.
- Scalars are typed as YAML 1.2 (what Pulumi's Go parser does): `yes`/`on` stay strings, and a
  date stays the text it was written as.
- Size and nesting are bounded, so no input makes it hang or recurse out of stack.

Values come back as plain dicts, lists, str, int, float, bool and None, with the line of every
value by its path, for error messages.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionStartEvent, NodeEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

MAX_DEPTH = 32
MAX_NODES = 100_000
TAG = "tag:yaml.org,2002:"
PLAIN_TYPES = {"int", "float", "bool", "null"}

Path = tuple[str | int, ...]


class YamlError(ValueError):
    """The text is not a stack file's YAML; the message names the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass
class Document:
    value: Any
    lines: dict[Path, int] = field(default_factory=dict)  # path -> 1-based line


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def _marked(error: MarkedYAMLError) -> YamlError:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or error.context or "not valid YAML"
    return YamlError(f"not valid YAML: {problem}", mark.line + 1 if mark else None)


def load(text: str) -> Document:
    """Parse one YAML document strictly (see the module docstring)."""
    try:
        _check_events(text)
        node = _yaml().compose(io.StringIO(text))
    except MarkedYAMLError as error:
        raise _marked(error) from None
    except ReaderError as error:
        line = text.count("\n", 0, error.position) + 1 if error.position >= 0 else None
        code = (
            error.character
            if isinstance(error.character, int)
            else ord(str(error.character)[:1] or "?")
        )
        raise YamlError(f"character U+{code:04X} is not allowed in YAML", line) from None
    except YAMLError as error:
        raise YamlError(f"not valid YAML: {error}") from None
    document = Document(None)
    if node is not None:
        document.value = _convert(node, (), document.lines)
    return document


def _check_events(text: str) -> None:
    """Refuse anchors, aliases, explicit tags and deep nesting before building anything."""
    depth = nodes = 0
    for event in _yaml().parse(io.StringIO(text)):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, AliasEvent):
            raise YamlError(
                f"alias *{event.anchor} is not allowed in a stack file: write the value out",
                line,
            )
        if isinstance(event, NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise YamlError(f"more than {MAX_NODES} values: not a stack file", line)
            if event.anchor is not None:
                raise YamlError(
                    f"anchor &{event.anchor} is not allowed in a stack file: write values out",
                    line,
                )
            tag = getattr(event, "tag", None)
            if tag is not None and not (isinstance(event, ScalarEvent) and tag == "!"):
                raise YamlError(f"explicit tag {tag} is not allowed in a stack file", line)
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlError(f"nested deeper than {MAX_DEPTH} levels", line)
        elif type(event).__name__ in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _convert(node: Node, path: Path, lines: dict[Path, int]) -> Any:
    lines[path] = _line(node)
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _key(key_node)
            if key in first_line:
                raise YamlError(
                    f"key '{key}' repeats the one on line {first_line[key]}"
                    + (f" (in {_render(path)})" if path else "")
                    + ": YAML keys are unique, and a parser would silently keep one of them",
                    _line(key_node),
                )
            first_line[key] = _line(key_node)
            out[key] = _convert(value_node, (*path, key), lines)
        return out
    if isinstance(node, SequenceNode):
        return [_convert(item, (*path, i), lines) for i, item in enumerate(node.value)]
    if isinstance(node, ScalarNode):
        return _scalar(node)
    raise YamlError(f"unexpected YAML node {type(node).__name__}", _line(node))


def _key(node: Node) -> str:
    if not isinstance(node, ScalarNode):
        raise YamlError("a key must be a plain name, not a list or mapping", _line(node))
    if node.tag == f"{TAG}merge":
        raise YamlError("merge keys (<<) are not allowed in a stack file", _line(node))
    value = _scalar(node)
    if not isinstance(value, str):
        raise YamlError(
            f"key {node.value!r} must be a name (text), not a number or boolean", _line(node)
        )
    return value


def _scalar(node: ScalarNode) -> Any:
    kind = str(node.tag).removeprefix(TAG)
    if node.style or kind not in PLAIN_TYPES:
        return str(node.value)  # quoted, a string, or a date kept as written
    try:
        return _yaml().constructor.construct_object(node, deep=True)
    except (YAMLError, ValueError, OverflowError) as error:
        raise YamlError(f"cannot read {node.value!r} as {kind}: {error}", _line(node)) from None


def _render(path: Path) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text
