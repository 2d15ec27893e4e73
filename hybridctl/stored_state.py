"""A stack's stored state (`pulumi stack export`), for the values the engine keeps from it.

With `ignore_changes`, the engine resets the ignored inputs to their stored values before it
checks, analyses and updates the resource (`processIgnoreChanges` in pulumi's step generator).
The SSM activation ignores `expirationDate`, so on an existing stack the policies see the stored
expiry, not "now + expiresInDays". hybridctl reproduces that when given the stack's export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.sdk_internals import SECRET_SIG, SIG_KEY


class StoredStateError(Exception):
    """The export cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class StoredValue:
    """One ignored input the engine takes from the stored state instead of the program."""

    urn: str
    key: str
    program_value: Any  # what the program asked for (None: absent)
    stored_value: Any  # what the engine keeps (None: absent, so the input is dropped)


@dataclass(frozen=True)
class StoredState:
    source: str
    inputs: dict[str, dict[str, Any]]  # URN -> stored inputs, in the wire form the SDK sends

    @classmethod
    def load(cls, path: str | Path) -> StoredState:
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoredStateError(f"{path}: no such file") from None
        except json.JSONDecodeError as error:
            raise StoredStateError(f"{path}: not valid JSON (line {error.lineno})") from None
        return cls.parse(document, str(path))

    @classmethod
    def parse(cls, document: Any, source: str) -> StoredState:
        deployment = document.get("deployment") if isinstance(document, dict) else None
        if not isinstance(deployment, dict) or document.get("version") != 3:
            raise StoredStateError(
                f"{source}: not a `pulumi stack export` document (version 3, with a deployment)"
            )
        resources = deployment.get("resources")
        resources = [] if resources is None else resources
        if not isinstance(resources, list):
            raise StoredStateError(f"{source}: deployment.resources is not a list")
        inputs: dict[str, dict[str, Any]] = {}
        for index, resource in enumerate(resources):
            if not isinstance(resource, dict) or not isinstance(resource.get("urn"), str):
                raise StoredStateError(f"{source}: deployment.resources[{index}] has no urn")
            if resource.get("delete"):
                continue
            stored = resource.get("inputs") or {}
            if not isinstance(stored, dict):
                raise StoredStateError(f"{source}: {resource['urn']}: inputs is not an object")
            inputs[resource["urn"]] = {k: _wire(v) for k, v in stored.items()}
        return cls(source=source, inputs=inputs)


def _wire(value: Any) -> Any:
    """A state file's value as the SDK would send it: secrets as {sig, value}."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            if "plaintext" in value:
                return {SIG_KEY: SECRET_SIG, "value": json.loads(value["plaintext"])}
            # Encrypted with the stack's secrets provider: the value stays unknown to us.
            return {SIG_KEY: SECRET_SIG, "value": "[secret]"}
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


NOT_GIVEN = (
    "values the engine keeps from an existing stack (ignore_changes: the activations' "
    "expirationDate) are judged as the program computes them; pass --stored-state with the "
    "stack's `pulumi stack export` to judge the stored ones"
)


def describe(values: list[StoredValue]) -> list[str]:
    """One line per input the engine keeps from the stored state, for `hybridctl check`."""
    lines = []
    for value in values:
        name = value.urn.rsplit("::", 1)[-1]
        if value.stored_value == value.program_value:
            continue
        kept = "absent" if value.stored_value is None else json.dumps(value.stored_value)
        asked = "absent" if value.program_value is None else json.dumps(value.program_value)
        lines.append(f"{name}: {value.key} is the stored {kept}, not the program's {asked}")
    return lines
