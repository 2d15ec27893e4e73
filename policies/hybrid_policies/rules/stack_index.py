"""A read-only index over a stack's resources, shared by the stack rules."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import (
    BUCKET_OBJECT,
    CLUSTER,
    MANAGED_POLICY,
    MANIFEST_KEY,
    ROLE_POLICY,
    TASK_DEFINITION,
)
from hybrid_policies.views import SITE_COMPONENT, StackResource, json_document

RUN_TASK_ACTIONS = ("ecs:RunTask", "ecs:StartTask")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class RunTaskGrant:
    """One Allow statement that lets a role run ECS tasks, resolved against the stack."""

    policy: StackResource
    sid: str
    clusters: frozenset[str] | None  # what an ecs:cluster condition allows; None = any cluster
    covers: tuple[StackResource, ...]  # the task definitions it lets the role run


class StackIndex:
    """Lookups built once per evaluation, so the stack rules stay linear in the stack size."""

    def __init__(self, resources: Sequence[StackResource], ctx: RuleContext) -> None:
        self.resources = list(resources)
        self.ctx = ctx
        self._by_type: dict[str, list[StackResource]] = defaultdict(list)
        self._by_type_site: dict[tuple[str, str], list[StackResource]] = defaultdict(list)
        for r in self.resources:
            self._by_type[r.type].append(r)
            site = r.tags.get("site")
            if site:
                self._by_type_site[(r.type, site)].append(r)

    _last: tuple[Sequence[StackResource], RuleContext, StackIndex] | None = None

    @classmethod
    def of(cls, resources: Sequence[StackResource], ctx: RuleContext) -> StackIndex:
        """The index of these resources, shared by the stack rules of one evaluation."""
        last = cls._last
        if last is not None and last[0] is resources and last[1] is ctx:
            return last[2]
        index = cls(resources, ctx)
        cls._last = (resources, ctx, index)
        return index

    def of_type(self, resource_type: str) -> list[StackResource]:
        return self._by_type.get(resource_type, [])

    def of_site(self, resource_type: str, site: str) -> list[StackResource]:
        return self._by_type_site.get((resource_type, site), [])

    @cached_property
    def regulated_sites(self) -> list[str]:
        """Sites any resource is tagged regulated for, and those the manifest calls regulated."""
        sites = {
            r.tags["site"]
            for r in self.resources
            if "site" in r.tags and self.ctx.is_regulated(r.tags)
        }
        manifest = self.manifest
        if manifest is not None:
            sites |= {
                str(s.get("name"))
                for s in as_list(manifest[1].get("sites"))
                if isinstance(s, dict) and s.get("residency") == self.ctx.config.residency.regulated
            }
        return sorted(sites)

    def site_component(self, site: str) -> StackResource | None:
        return next((r for r in self.of_type(SITE_COMPONENT) if r.name == site), None)

    def own_clusters(self, site: str) -> list[StackResource]:
        return self.of_site(CLUSTER, site)

    def task_definitions_of(self, site: str) -> list[StackResource]:
        return self.of_site(TASK_DEFINITION, site)

    @cached_property
    def manifest(self) -> tuple[StackResource, dict[str, Any]] | None:
        """The sites manifest object and its parsed content ({} if it does not parse)."""
        for r in self.of_type(BUCKET_OBJECT):
            if str(r.get("key", default="")).endswith(MANIFEST_KEY):
                content = json_document(r.get("content"))
                return r, content if isinstance(content, dict) else {}
        return None

    @cached_property
    def run_task_grants(self) -> list[RunTaskGrant]:
        task_definitions = self.of_type(TASK_DEFINITION)
        by_arn: dict[str, StackResource] = {}
        for td in task_definitions:
            by_arn[str(td.get("arnWithoutRevision", default=""))] = td
        grants = []
        for policy in self.of_type(ROLE_POLICY) + self.of_type(MANAGED_POLICY):
            document = json_document(policy.get("policy"))
            if not isinstance(document, dict):
                continue
            for statement in as_list(document.get("Statement")):
                if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                    continue
                actions = [str(a) for a in as_list(statement.get("Action"))]
                if not any(
                    fnmatch.fnmatchcase(run, pattern)
                    for pattern in actions
                    for run in RUN_TASK_ACTIONS
                ):
                    continue
                grants.append(
                    RunTaskGrant(
                        policy=policy,
                        sid=str(statement.get("Sid") or "(no Sid)"),
                        clusters=_cluster_condition(statement),
                        covers=tuple(_covered(statement, task_definitions, by_arn)),
                    )
                )
        return grants

    @cached_property
    def _grants_by_task_definition(self) -> dict[str, list[RunTaskGrant]]:
        found: dict[str, list[RunTaskGrant]] = defaultdict(list)
        for grant in self.run_task_grants:
            for td in grant.covers:
                found[td.urn].append(grant)
        return found

    def grants_for(self, task_definition: StackResource) -> list[RunTaskGrant]:
        return self._grants_by_task_definition.get(task_definition.urn, [])


def _covered(
    statement: dict[str, Any],
    task_definitions: list[StackResource],
    by_arn: dict[str, StackResource],
) -> Iterator[StackResource]:
    if "NotResource" in statement:
        yield from task_definitions
        return
    seen: set[str] = set()
    for pattern in (str(r) for r in as_list(statement.get("Resource"))):
        head = pattern[:-2] if pattern.endswith(":*") else None
        if head is not None and not any(c in head for c in "*?"):
            matches = [by_arn[head]] if head in by_arn else []  # the usual family:* form
        else:
            matches = [
                td
                for td in task_definitions
                if fnmatch.fnmatchcase(str(td.get("arn", default="")), pattern)
                or fnmatch.fnmatchcase(f"{td.get('arnWithoutRevision')}:1", pattern)
            ]
        for td in matches:
            if td.urn not in seen:
                seen.add(td.urn)
                yield td


def _cluster_condition(statement: dict[str, Any]) -> frozenset[str] | None:
    """The clusters an `ecs:cluster` condition allows, or None when there is none."""
    condition = statement.get("Condition") or {}
    found: set[str] | None = None
    for operator in ("ArnEquals", "StringEquals", "ArnLike", "StringLike"):
        operands = condition.get(operator) or {}
        if "ecs:cluster" in operands:
            found = (found or set()) | {str(v) for v in as_list(operands["ecs:cluster"])}
    return frozenset(found) if found is not None else None
