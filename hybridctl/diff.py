"""`hybridctl plan --diff`: what a config change does to the deployed stack, by site.

Two snapshots of the stack's resources are compared: the base (the program run on the stack
file at a git ref, or the resources of a `--state-out` / `pulumi stack export` file) and the
head (the program run on the stack file as it is now). Resources are matched by type and name,
not by URN shape, so mock URNs and engine URNs compare alike. The result names, per site and for
the shared platform, what is created, updated (which inputs, how) and deleted, which DAGs appear
or disappear, and which deletions the program protects (a regulated site's key, secret and log
group: `pulumi up` refuses to delete them, and once unprotected they stay in AWS).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from components.dag_ids import site_dag_ids
from components.naming import MANIFEST_KEY, SITE_COMPONENT
from components.protection import is_protected
from components.site import ACTIVATION_IGNORE_CHANGES
from hybridctl.capture import ASSET_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Capture
from hybridctl.stackfile import PROJECT_DIR

SHARED = "shared"
MANIFEST_OBJECT_KEY = f"dags/{MANIFEST_KEY}"
# Inputs the program tells Pulumi to ignore after creation (they change on every run).
IGNORED_INPUTS = {"aws:ssm/activation:Activation": set(ACTIVATION_IGNORE_CHANGES)}

Key = tuple[str, str]  # (type token, resource name)
Action = Literal["create", "update", "delete", "keep"]


class SnapshotError(ValueError):
    """A state file that is not a Pulumi deployment (exit 2)."""


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    site: str | None
    inputs: dict[str, Any]
    protect: bool | None = None  # as the state file records it, when it does

    @property
    def key(self) -> Key:
        return (self.type, self.name)

    @property
    def residency(self) -> str | None:
        tags = self.inputs.get("tags")
        return tags.get("residency") if isinstance(tags, dict) else None


@dataclass(frozen=True)
class Snapshot:
    label: str
    resources: dict[Key, Resource]
    manifest: dict[str, Any] | None

    def sites(self) -> dict[str, dict[str, Any]]:
        sites = (self.manifest or {}).get("sites") or []
        return {s["name"]: s for s in sites if isinstance(s, dict) and "name" in s}

    def dag_ids(self) -> set[str]:
        return {
            dag
            for site in self.sites().values()
            for dag in site_dag_ids(
                site["name"],
                [
                    (e.get("name"), e.get("schedule"), bool(e.get("incremental")))
                    for e in site.get("extracts", [])
                ],
            )
        }


@dataclass(frozen=True)
class InputChange:
    name: str
    detail: str


@dataclass(frozen=True)
class Change:
    action: Action
    resource: Resource
    inputs: tuple[InputChange, ...] = ()


@dataclass
class Group:
    """The changes of one site (or of the shared platform)."""

    name: str
    status: Literal["added", "removed", "changed", "shared"]
    residency: str | None = None
    summary: str = ""  # "regulated onprem, EXTERNAL in eu-west-1"
    changes: list[Change] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


@dataclass
class Diff:
    stack: str
    base: str
    head: str
    groups: list[Group]
    dags_added: list[str]
    dags_removed: list[str]

    def count(self, action: Action) -> int:
        return sum(g.count(action) for g in self.groups)

    @property
    def empty(self) -> bool:
        return not any(g.changes for g in self.groups) and not (
            self.dags_added or self.dags_removed
        )


# --- snapshots ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Inputs as comparable JSON: secrets and unknowns as markers, assets by repository path."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return "[secret]"
        if sig == ASSET_SIG or set(value) == {"asset"}:
            path = str(value.get("path") or value.get("asset") or value.get("uri") or "[text]")
            return {"asset": _repository_path(path)}
        return {k: _plain(v) for k, v in value.items() if k != SIG_KEY}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    return value


def _repository_path(path: str) -> str:
    prefix = str(PROJECT_DIR) + "/"
    return path.removeprefix(prefix)


def _manifest(resources: Iterable[Resource]) -> dict[str, Any] | None:
    for resource in resources:
        if resource.inputs.get("key") == MANIFEST_OBJECT_KEY:
            content = resource.inputs.get("content")
            if isinstance(content, str):
                try:
                    manifest = json.loads(content)
                except ValueError:
                    return None
                return manifest if isinstance(manifest, dict) else None
    return None


def from_capture(capture: Capture, label: str) -> Snapshot:
    resources = {}
    for r in capture.custom():
        resource = Resource(r.type, r.name, r.site, _plain(r.inputs))
        resources[resource.key] = resource
    return Snapshot(label, resources, _manifest(resources.values()))


def from_state(document: Any, label: str) -> Snapshot:
    """A `--state-out` or `pulumi stack export` document (deployment version 3)."""
    if isinstance(document, dict) and isinstance(document.get("deployment"), dict):
        document = document["deployment"]
    entries = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SnapshotError(f"{label}: not a Pulumi state export (no deployment.resources list)")
    by_urn: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("urn", "type")
        ):
            raise SnapshotError(f"{label}: resources[{index}] has no urn and type")
        by_urn[entry["urn"]] = entry
    resources: dict[Key, Resource] = {}
    for urn, entry in by_urn.items():
        if entry["type"].startswith("pulumi:") or entry.get("custom") is False:
            continue
        raw_inputs = entry.get("inputs")
        inputs: dict[str, Any] = raw_inputs if isinstance(raw_inputs, dict) else {}
        resource = Resource(
            type=entry["type"],
            name=urn.rsplit("::", 1)[-1],
            site=_site_of(entry, by_urn, inputs),
            inputs=_plain(inputs),
            protect=entry.get("protect") if isinstance(entry.get("protect"), bool) else None,
        )
        resources[resource.key] = resource
    return Snapshot(label, resources, _manifest(resources.values()))


def _site_of(
    entry: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]], inputs: Mapping[str, Any]
) -> str | None:
    """The Site component the resource is under, or the site it is tagged with."""
    seen: set[str] = set()
    node: Mapping[str, Any] | None = entry
    while node is not None and isinstance(node.get("urn"), str) and node["urn"] not in seen:
        seen.add(node["urn"])
        if node.get("type") == SITE_COMPONENT:
            return str(node["urn"]).rsplit("::", 1)[-1]
        parent = node.get("parent")
        node = by_urn.get(parent) if isinstance(parent, str) else None
    tags = inputs.get("tags")
    site = tags.get("site") if isinstance(tags, dict) else None
    return site if isinstance(site, str) else None


# --- comparing ---------------------------------------------------------------------------


def compare(stack: str, base: Snapshot, head: Snapshot) -> Diff:
    base_sites, head_sites = base.sites(), head.sites()
    groups: dict[str, Group] = {}

    def group_of(resource: Resource) -> Group:
        name = resource.site or SHARED
        if name not in groups:
            groups[name] = _group(name, base_sites.get(name), head_sites.get(name), resource)
        return groups[name]

    for key, new in head.resources.items():
        old = base.resources.get(key)
        if old is None:
            group_of(new).changes.append(Change("create", new))
            continue
        changed = _changed_inputs(new.type, old.inputs, new.inputs)
        if changed:
            group_of(new).changes.append(Change("update", new, changed))
    for key, old in base.resources.items():
        if key not in head.resources:
            # A state export records `protect` when set; our own captures follow the rule.
            protected = old.protect or is_protected(old.type, old.residency)
            group_of(old).changes.append(Change("keep" if protected else "delete", old))

    order = {"create": 0, "update": 1, "delete": 2, "keep": 3}
    for group in groups.values():
        group.changes.sort(key=lambda c: (order[c.action], c.resource.type, c.resource.name))
    ordered = sorted(
        (g for g in groups.values() if g.changes),
        key=lambda g: (g.name != SHARED, g.status != "removed", g.name),
    )
    base_dags, head_dags = base.dag_ids(), head.dag_ids()
    return Diff(
        stack=stack,
        base=base.label,
        head=head.label,
        groups=ordered,
        dags_added=sorted(head_dags - base_dags),
        dags_removed=sorted(base_dags - head_dags),
    )


def _group(
    name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, resource: Resource
) -> Group:
    if name == SHARED:
        return Group(SHARED, "shared")
    entry = new or old
    status: Literal["added", "removed", "changed"] = (
        "added" if old is None and new is not None else "removed" if new is None else "changed"
    )
    if entry is None:  # a site the manifests do not know: its resources' tags tell
        return Group(name, status, resource.residency)
    summary = (
        f"{entry.get('residency')} {entry.get('kind')}, {entry.get('launchType')} "
        f"in {entry.get('region')}"
    )
    return Group(name, status, entry.get("residency"), summary)


def _changed_inputs(
    resource_type: str, old: dict[str, Any], new: dict[str, Any]
) -> tuple[InputChange, ...]:
    ignored = IGNORED_INPUTS.get(resource_type, set())
    changes = []
    for name in sorted(set(old) | set(new)):
        if name in ignored or old.get(name) == new.get(name):
            continue
        if name not in old:
            detail = f"set to {_short(new[name])}"
        elif name not in new:
            detail = f"removed (was {_short(old[name])})"
        else:
            detail = describe_change(old[name], new[name])
        changes.append(InputChange(name, detail))
    return tuple(changes)


IDENTITIES = ("Sid", "id", "name", "key")


def describe_change(old: Any, new: Any) -> str:
    """A short account of how a value changed: statements, rules or sites added and removed."""
    if isinstance(old, str) and isinstance(new, str):
        parsed_old, parsed_new = _json(old), _json(new)
        if parsed_old is not None and parsed_new is not None:
            return describe_change(parsed_old, parsed_new)
        return f"{_short(old)} -> {_short(new)}"
    if isinstance(old, dict) and isinstance(new, dict):
        for field_name in ("Statement", "sites", "rules"):
            if isinstance(old.get(field_name), list) and isinstance(new.get(field_name), list):
                members = _list_change(old[field_name], new[field_name])
                others = sorted(
                    k for k in set(old) | set(new) if k != field_name and old.get(k) != new.get(k)
                )
                return "; ".join(
                    part
                    for part in (
                        f"{field_name} {members}" if members else "",
                        f"{', '.join(others)} changed" if others else "",
                    )
                    if part
                )
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return f"{', '.join(keys)} changed"
    if isinstance(old, list) and isinstance(new, list):
        return _list_change(old, new) or "order changed"
    return f"{_short(old)} -> {_short(new)}"


def _list_change(old: list[Any], new: list[Any], *, detail: bool = True) -> str:
    identity = _identity(old + new)
    if identity is None:
        return f"{len(old)} -> {len(new)} items"
    before = {str(item[identity]): item for item in old}
    after = {str(item[identity]): item for item in new}
    parts = [f"+{k}" for k in after if k not in before]
    parts += [f"-{k}" for k in before if k not in after]
    for k in after:
        if k in before and before[k] != after[k]:
            inner = _item_change(before[k], after[k], identity) if detail else ""
            parts.append(f"~{k}" + (f" ({inner})" if inner else ""))
    return " ".join(parts)


def _item_change(old: dict[str, Any], new: dict[str, Any], identity: str) -> str:
    """What changed inside one list item, one level deep: `environment +ETL_GLUE_DATABASE`."""
    parts = []
    for key in sorted(set(old) | set(new)):
        if key == identity or old.get(key) == new.get(key):
            continue
        if key not in old:
            parts.append(f"+{key}")
        elif key not in new:
            parts.append(f"-{key}")
        elif isinstance(old[key], list) and isinstance(new[key], list):
            parts.append(f"{key} {_list_change(old[key], new[key], detail=False)}")
        else:
            parts.append(key)
    return ", ".join(parts)


def _identity(items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for identity in IDENTITIES:
        if all(isinstance(item.get(identity), str) for item in items):
            return identity
    return None


def _json(text: str) -> Any:
    if text[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
