"""What `pulumi stack import` refuses, as a function over a `pulumi stack export` document.

A port of the checks the CLI runs before it writes an imported deployment (pulumi/pulumi
`pkg/cmd/pulumi/stack/stack_import.go` -> `SaveSnapshot` in `io.go`, `DeserializeDeploymentV3`,
`pkg/resource/stack/snapshot/integrity.go` `VerifyIntegrity`, `sdk/go/common/providers`):
- the manifest's `magic` is the sha256 hex of its `version` (empty only for an empty version);
- every resource has a valid URN of the target stack and a type; only custom ones have an ID;
- a provider resource has a `pulumi:providers:<pkg>` URN; a resource's `provider` is
  `<provider urn>::<provider id>` naming a provider that comes before it;
- the parent, every dependency and every property dependency come before the resource;
- no URN appears twice;
- secrets carry a JSON `plaintext` (or a `ciphertext` for a secrets provider the file names).
One check pulumi only warns about is an error here: a child's URN must carry its parent's type
chain (the stack's excepted), since that is what makes the URNs the engine's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from hybridctl.sdk_internals import SECRET_SIG, SIG_KEY

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
UNKNOWN_ID = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _parts(urn: str) -> list[str] | None:
    """urn:pulumi:<stack>::<project>::<qualified type>::<name>, as `URN.IsValid` reads it."""
    if not urn.startswith("urn:pulumi:"):
        return None
    parts = urn.removeprefix("urn:pulumi:").split("::", 3)
    return parts if len(parts) == 4 and all(parts[:3]) else None


def _qualified_type(urn: str) -> str:
    parts = _parts(urn)
    return parts[2] if parts else ""


def _own_type(urn: str) -> str:
    return _qualified_type(urn).rsplit("$", 1)[-1]


def _is_provider_urn(urn: str) -> bool:
    kind = _own_type(urn)
    return kind.startswith("pulumi:providers:") and kind != "pulumi:providers:"


def _secrets(value: Any, where: str, has_provider: bool) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            if "plaintext" in value:
                try:
                    json.loads(value["plaintext"])
                except (TypeError, ValueError):
                    yield f"{where}: secret plaintext is not JSON"
            elif "ciphertext" not in value or not has_provider:
                yield f"{where}: secret has neither plaintext nor a decryptable ciphertext"
            return
        for key, inner in value.items():
            yield from _secrets(inner, f"{where}.{key}", has_provider)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _secrets(inner, f"{where}[{index}]", has_provider)


def import_problems(document: Any, stack: str) -> list[str]:
    """Why `pulumi stack import --stack <stack>` would refuse `document` (empty: it would not)."""
    if not isinstance(document, dict) or document.get("version") != 3:
        return ["not a version 3 deployment"]
    deployment = document.get("deployment")
    if not isinstance(deployment, dict):
        return ["no deployment"]
    problems: list[str] = []
    manifest = deployment.get("manifest") or {}
    version = manifest.get("version", "")
    expected = hashlib.sha256(version.encode()).hexdigest() if version else ""
    if manifest.get("magic", "") != expected:
        problems.append("magic cookie mismatch; possible tampering/corruption detected")
    try:
        datetime.fromisoformat(str(manifest.get("time")).replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"manifest time {manifest.get('time')!r} is not RFC 3339")
    has_secrets_provider = bool(deployment.get("secrets_providers"))

    seen: dict[str, int] = {}
    providers: set[tuple[str, str]] = set()
    for index, res in enumerate(deployment.get("resources") or []):
        urn = res.get("urn") or ""
        if not urn:
            problems.append(f"resource at index {index} missing required 'urn' field")
            continue
        parts = _parts(urn)
        if parts is None:
            problems.append(f"resource {urn} has an invalid URN")
            continue
        if parts[0] != stack:
            problems.append(f"resource '{urn}' is from a different stack ({parts[0]} != {stack})")
        if not res.get("type"):
            problems.append(f"resource '{urn}' missing required 'type' field")
        elif res["type"] != _own_type(urn):
            problems.append(f"resource '{urn}' has type {res['type']} but its URN says otherwise")
        if not res.get("custom") and res.get("id"):
            problems.append(f"resource '{urn}' has 'custom false but non-empty ID")
        if _is_provider_urn(urn) and res.get("type", "").startswith("pulumi:providers:"):
            providers.add((urn, res.get("id") or UNKNOWN_ID))
        elif res.get("type", "").startswith("pulumi:providers:"):
            problems.append(f"provider {urn} is not referenceable")
        provider = res.get("provider") or ""
        if provider:
            head, sep, provider_id = provider.rpartition("::")
            if not sep or not _is_provider_urn(head):
                problems.append(f"failed to parse provider reference for resource {urn}")
            elif (head, provider_id) not in providers:
                problems.append(f"resource {urn} refers to unknown provider {provider}")
        parent = res.get("parent") or ""
        if parent:
            if parent not in seen:
                problems.append(
                    f"child resource {urn}'s parent {parent} comes after it or is missing"
                )
            else:
                chain = _qualified_type(parent)
                expected_type = (
                    res.get("type") if chain == ROOT_STACK_TYPE else f"{chain}${res.get('type')}"
                )
                if parts[2] != expected_type:
                    problems.append(
                        f"child resource {urn} has parent {parent} but its URN doesn't match"
                    )
        for dep in res.get("dependencies") or []:
            if dep not in seen:
                problems.append(f"resource {urn}'s dependency {dep} comes after it or is missing")
        for key, deps in (res.get("propertyDependencies") or {}).items():
            for dep in deps:
                if dep not in seen:
                    problems.append(
                        f"resource {urn}'s property dependency {dep} (from property {key}) "
                        "comes after it or is missing"
                    )
        for field in ("inputs", "outputs"):
            problems.extend(_secrets(res.get(field) or {}, f"{urn} {field}", has_secrets_provider))
        if urn in seen and not res.get("delete"):
            problems.append(f"duplicate resource {urn} (not marked for deletion)")
        seen[urn] = index
    return problems
