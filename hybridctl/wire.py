"""Properties in the form the Pulumi engine hands a policy pack.

The program sends the engine its inputs in the SDK's wire form; the engine keeps them as
property values and marshals them again for each analyzer call with
`MarshalOptions{KeepUnknowns, KeepSecrets, SkipInternalKeys}` (pulumi/pulumi
`pkg/resource/plugin/analyzer_plugin.go`, `rpc.go`). What that changes:
- a resource reference becomes the resource's ID (custom; unknown while the ID is) or its URN
  (component): the analyzer gets no `KeepResources`;
- an asset carries the sha256 `hash` of its contents (the resource monitor computes it);
- an output value becomes its value, an unknown, or a secret around either;
- an unknown is a typed sentinel string (`UnknownStringValue` and friends);
- top-level keys starting with `__` are dropped.
Secrets stay `{sig: secret, value: ...}`, with the plaintext inside, as the engine sends them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2

from hybridctl.sdk_internals import (
    ARCHIVE_SIG,
    ASSET_SIG,
    OUTPUT_SIG,
    RESOURCE_SIG,
    SECRET_SIG,
    SIG_KEY,
    UNKNOWN,
)

# pulumi/pulumi sdk/go/common/resource/plugin/rpc.go: one sentinel per unknown value's type.
UNKNOWN_BY_TYPE = {
    "bool": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "number": "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "string": UNKNOWN,
    "array": "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "asset": "030794c1-ac77-496b-92df-f27374a8bd58",
    "archive": "e48ece36-62e2-4504-bad9-02848725956a",
    "object": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
}


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _SENTINELS


_SENTINELS = frozenset(UNKNOWN_BY_TYPE.values())


def engine_struct(
    struct: struct_pb2.Struct, ids: Mapping[str, str], working_directory: Path
) -> struct_pb2.Struct:
    """`struct` (as the SDK sent it) as the engine sends it to an analyzer."""
    if not _needs_marshalling(struct):
        return struct  # plain values, secrets and unknowns: the same on both sides
    properties = json_format.MessageToDict(struct)
    marshalled = {
        key: engine_value(value, ids, working_directory)
        for key, value in properties.items()
        if not key.startswith("__")
    }
    result = struct_pb2.Struct()
    result.update(marshalled)
    return result


_SPECIAL = tuple(sig.encode() for sig in (RESOURCE_SIG, OUTPUT_SIG, ASSET_SIG, ARCHIVE_SIG))


def _needs_marshalling(struct: struct_pb2.Struct) -> bool:
    if any(key.startswith("__") for key in struct.fields):
        return True
    wire = struct.SerializeToString()
    return any(sig in wire for sig in _SPECIAL)


def engine_value(value: Any, ids: Mapping[str, str], working_directory: Path) -> Any:
    if isinstance(value, list):
        return [engine_value(v, ids, working_directory) for v in value]
    if not isinstance(value, dict):
        return value
    sig = value.get(SIG_KEY)
    if sig is None:
        return {k: engine_value(v, ids, working_directory) for k, v in value.items()}
    if sig == SECRET_SIG:
        return {
            SIG_KEY: SECRET_SIG,
            "value": engine_value(value.get("value"), ids, working_directory),
        }
    if sig == RESOURCE_SIG:
        urn = str(value.get("urn", ""))
        if "id" not in value:
            return urn  # a component: its URN
        resource_id = value.get("id") or ids.get(urn, "")
        return resource_id if resource_id and not is_unknown(resource_id) else UNKNOWN
    if sig == OUTPUT_SIG:
        inner = (
            engine_value(value["value"], ids, working_directory) if "value" in value else UNKNOWN
        )
        return {SIG_KEY: SECRET_SIG, "value": inner} if value.get("secret") else inner
    if sig == ASSET_SIG:
        return _asset(value, working_directory)
    if sig == ARCHIVE_SIG:
        raise ValueError(
            "archives are not modelled (the engine hashes their serialised contents); "
            "this program uses none"
        )
    return value


def _asset(value: dict[str, Any], working_directory: Path) -> dict[str, Any]:
    """The resource monitor computes an asset's hash (sha256 of its contents) on registration."""
    if "hash" in value:
        return value
    if "text" in value:
        digest = hashlib.sha256(str(value["text"]).encode()).hexdigest()
    elif "path" in value:
        path = Path(str(value["path"]))
        digest = hashlib.sha256((working_directory / path).read_bytes()).hexdigest()
    else:
        return value  # a remote asset: the engine would fetch it; none here
    return {SIG_KEY: ASSET_SIG, "hash": digest, **{k: v for k, v in value.items() if k != SIG_KEY}}
