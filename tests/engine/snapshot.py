"""A stack export read the way `pulumi policy analyze --file` reads it (pulumi/pulumi
`pkg/resource/deploy/analyze_snapshot.go`): each resource's stored inputs go to Analyze, its
stored outputs to AnalyzeStack, and its provider is the provider resource the export names."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from hybridctl.capture import Capture, CapturedResource, Options
from hybridctl.stored_state import _wire


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update({k: _wire(v) for k, v in value.items()})
    return struct


def snapshot_capture(document: dict[str, Any]) -> Capture:
    resources = []
    for res in document["deployment"]["resources"]:
        if res.get("delete"):
            continue
        urn = res["urn"]
        resources.append(
            CapturedResource(
                type=res["type"],
                name=urn.rsplit("::", 1)[-1],
                urn=urn,
                custom=bool(res.get("custom")),
                parent=res.get("parent", ""),
                provider=res.get("provider", ""),
                inputs_struct=_struct(res.get("inputs") or {}),
                outputs_struct=_struct(res.get("outputs") or {}),
                outputs={},
                id=res.get("id", ""),
                dependencies=list(res.get("dependencies") or []),
                property_dependencies=dict(res.get("propertyDependencies") or {}),
                options=Options(
                    protect=bool(res.get("protect")),
                    ignore_changes=tuple(res.get("ignoreChanges") or ()),
                    additional_secret_outputs=tuple(res.get("additionalSecretOutputs") or ()),
                ),
            )
        )
    stack = resources[0].urn.removeprefix("urn:pulumi:").split("::", 1)[0]
    region = next(
        (r.raw_inputs.get("region", "") for r in resources if r.type == "pulumi:providers:aws"), ""
    )
    return Capture(stack=stack, region=str(region), resources=resources, mode="up")
