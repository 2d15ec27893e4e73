"""The captured resources in `pulumi stack export` format (deployment version 3), importable.

`pulumi stack import` refuses a deployment whose `magic` is not the sha256 hex of the manifest's
version, whose resources name a parent, provider or dependency that comes after them (or is
missing), or whose URNs belong to another stack (pulumi/pulumi `snapshot/integrity.go`,
`cmd/pulumi/stack/io.go`). So: engine URNs, the default provider as a resource with an ID, every
custom resource referring to it as `<urn>::<id>`, and everything in dependency order.
Secret values keep their secret marker but never their value: the plaintext is "[secret]".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from hybridctl.capture import ASSET_SIG, SECRET_SIG, SIG_KEY, Capture, CapturedResource

PULUMI_VERSION = "v" + metadata.version("pulumi")


def magic(version: str) -> str:
    """The manifest's tamper check: sha256 hex of the version string (`Manifest.NewMagic`)."""
    return hashlib.sha256(version.encode()).hexdigest() if version else ""


def _state_value(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps("[secret]")}
        if value.get(SIG_KEY) == ASSET_SIG:
            return {k: v for k, v in value.items() if k != "text"}
        return {k: _state_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_state_value(v) for v in value]
    return value


def references(resource: CapturedResource) -> list[str]:
    """Every URN a resource names: parent, provider, dependencies, property dependencies."""
    named = [resource.parent, resource.provider_urn, *resource.dependencies]
    for urns in resource.property_dependencies.values():
        named.extend(urns)
    return [urn for urn in named if urn]


def engine_order(resources: Iterable[CapturedResource]) -> list[CapturedResource]:
    """Resources with everything they name before them (stable otherwise), as the engine
    writes its snapshot and registers resources."""
    listed = list(resources)
    by_urn = {r.urn: r for r in listed}
    ordered: list[CapturedResource] = []
    placed: set[str] = set()
    for start in listed:
        if start.urn in placed:
            continue
        # Iterative depth-first walk: a resource is placed after everything it names.
        stack: list[tuple[CapturedResource, list[str]]] = [(start, references(start))]
        visiting = {start.urn}
        while stack:
            resource, pending = stack[-1]
            while pending and (pending[-1] in placed or pending[-1] not in by_urn):
                pending.pop()
            if not pending:
                stack.pop()
                visiting.discard(resource.urn)
                placed.add(resource.urn)
                ordered.append(resource)
                continue
            urn = pending.pop()
            if urn in visiting:
                raise ValueError(f"dependency cycle through {urn}")
            visiting.add(urn)
            stack.append((by_urn[urn], references(by_urn[urn])))
    return ordered


def _entry(r: CapturedResource) -> dict[str, Any]:
    entry: dict[str, Any] = {"urn": r.urn, "custom": r.custom, "type": r.type}
    if r.custom:
        entry["id"] = r.id
    entry["inputs"] = _state_value(r.raw_inputs)
    entry["outputs"] = _state_value(r.raw_outputs)
    if r.parent:
        entry["parent"] = r.parent
    if r.options.protect:
        entry["protect"] = True
    if r.options.retain_on_delete:
        entry["retainOnDelete"] = True
    if r.provider:
        entry["provider"] = r.provider
    if r.dependencies:
        entry["dependencies"] = r.dependencies
    deps = {key: urns for key, urns in r.property_dependencies.items() if urns}
    if deps:
        entry["propertyDependencies"] = deps
    if r.options.ignore_changes:
        entry["ignoreChanges"] = list(r.options.ignore_changes)
    if r.options.additional_secret_outputs:
        entry["additionalSecretOutputs"] = list(r.options.additional_secret_outputs)
    return entry


def export(capture: Capture, generated_at: str) -> dict[str, Any]:
    if capture.mode != "up":
        raise ValueError("only an `up` capture has the IDs a stack export needs")
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "time": generated_at,
                "magic": magic(PULUMI_VERSION),
                "version": PULUMI_VERSION,
            },
            "resources": [_entry(r) for r in engine_order(capture.resources)],
        },
    }
