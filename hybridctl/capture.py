"""Run the real Pulumi program offline under the SDK's mocks and capture what it registers.

This is what `pulumi preview` would send to the engine, with every output known (the mocks
compute plausible values), so plans and policy checks see the same inputs a deployment would.
"""

from __future__ import annotations

import json
import runpy
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.naming import MANIFEST_KEY, NETWORK_KEY
from hybridctl.mocks import PlatformMocks
from hybridctl.stackfile import PROJECT_DIR, StackFile

PROJECT = "hybrid-airflow"
SITE_COMPONENT = "hybrid:platform:Site"

# The engine's signatures for special property values.
SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig
ASSET_SIG = rpc._special_asset_sig
RESOURCE_SIG = rpc._special_resource_sig
UNKNOWN = rpc.UNKNOWN
REDACTED = "[secret]"


@dataclass
class CapturedResource:
    """One registered resource as the engine would see it."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    provider: str  # "<provider urn>::<provider id>" or ""
    inputs_struct: struct_pb2.Struct = field(repr=False)
    outputs_struct: struct_pb2.Struct = field(repr=False)
    outputs: dict[str, Any] = field(repr=False)
    id: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    site: str | None = None

    @property
    def raw_inputs(self) -> dict[str, Any]:
        """Inputs with the engine's signatures intact (secrets still marked)."""
        return json_format.MessageToDict(self.inputs_struct)

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs as plain JSON with every secret value redacted: safe to print."""
        return redact(self.raw_inputs)

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class Capture:
    stack: str
    region: str
    resources: list[CapturedResource]

    def by_urn(self) -> dict[str, CapturedResource]:
        return {r.urn: r for r in self.resources}

    def custom(self) -> list[CapturedResource]:
        return [r for r in self.resources if r.custom and not r.type.startswith("pulumi:")]

    def manifest_text(self) -> str | None:
        """The sites manifest exactly as the stack uploads it to the DAG bucket."""
        return self.dag_object_text(MANIFEST_KEY)

    def network_text(self) -> str | None:
        """The sites' network file (subnets and security group for FARGATE tasks)."""
        return self.dag_object_text(NETWORK_KEY)

    def dag_object_text(self, name: str) -> str | None:
        """The content of `dags/<name>` in the DAG bucket, as the stack uploads it."""
        for resource in self.resources:
            raw = resource.raw_inputs
            if resource.type == "aws:s3/bucketObjectv2:BucketObjectv2" and raw.get("key") == (
                f"dags/{name}"
            ):
                content = raw.get("content")
                return content if isinstance(content, str) else None
        return None


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return REDACTED
        if sig == ASSET_SIG:
            return {"asset": value.get("path") or value.get("uri") or "[text]"}
        if sig == RESOURCE_SIG:
            return value.get("urn")
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    return value


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping parents and dependencies, which policies need."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.captured: list[CapturedResource] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        inputs = struct_pb2.Struct()
        inputs.CopyFrom(request.object)
        outputs = struct_pb2.Struct()
        outputs.CopyFrom(response.object)
        state = self.resources.get(response.urn)
        record = CapturedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            inputs_struct=inputs,
            outputs_struct=outputs,
            outputs=dict(state.state) if state else {},
            id=response.id,
            dependencies=list(request.dependencies),
            property_dependencies={
                key: list(deps.urns) for key, deps in request.propertyDependencies.items()
            },
        )
        with self._lock:
            self.captured.append(record)
        return response


class ProgramError(Exception):
    """The program failed (for example on invalid config); the message is for the user."""


def capture(
    stack: StackFile,
    project_dir: Path = PROJECT_DIR,
    program: Callable[[], None] | None = None,
) -> Capture:
    """Run `__main__.py` of the project (or `program`) for `stack`; return what it registers."""
    region = str(stack.config.get("aws:region") or "")
    monitor = CapturingMonitor(PlatformMocks(region))
    _reset_runtime()
    pulumi.runtime.set_mocks(
        monitor.mocks, project=PROJECT, stack=stack.name, preview=False, monitor=monitor
    )
    pulumi.runtime.set_all_config(
        {key: _config_text(value) for key, value in stack.config.items()},
        sorted(stack.secret_keys),
    )
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    main = project_dir / "__main__.py"

    def run_main() -> None:
        runpy.run_path(str(main), run_name="__main__")

    run = program or run_main
    try:
        _sync_await(run_pulumi_func(run))
    except pulumi.RunError as error:
        raise ProgramError(str(error)) from None
    finally:
        _reset_runtime()
    resources = sorted(monitor.captured, key=lambda r: r.urn)
    _attribute_sites(resources)
    return Capture(stack=stack.name, region=region, resources=resources)


def _config_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _reset_runtime() -> None:
    """Let one process run the program several times (tests, benchmarks)."""
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]


def _attribute_sites(resources: list[CapturedResource]) -> None:
    """A resource belongs to the Site component it is under, or to the site it is tagged with."""
    by_urn = {r.urn: r for r in resources}
    for resource in resources:
        node: CapturedResource | None = resource
        while node is not None and node.type != SITE_COMPONENT:
            node = by_urn.get(node.parent)
        if node is not None:
            resource.site = node.name
            continue
        tags = resource.raw_inputs.get("tags")
        if isinstance(tags, dict) and isinstance(tags.get("site"), str):
            resource.site = tags["site"]
