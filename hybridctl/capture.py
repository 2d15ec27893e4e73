"""Run the real Pulumi program offline under the SDK's mocks and capture what the engine sees.

Two modes, as the engine has them:
- `up`: every output computed (the mocks make plausible values), as after `pulumi up`;
- `preview`: what a first `pulumi preview` knows. Provider-computed outputs (ids, ARNs,
  auto-names, anything not among the inputs) are unknown, and so is every input derived from
  one; invokes (get_caller_identity, ...) stay known, as the engine runs them during preview.

Where the SDK's mock monitor differs from the engine, the capture follows the engine:
- URNs: a resource directly under the stack has no `pulumi:pulumi:Stack$` in its type chain;
- the default provider (`pulumi:providers:aws::default_7_51_1`, inputs from `aws:*` config) is
  registered before the first resource that needs it, and every custom resource refers to it;
- the stack's outputs (`pulumi.export`) and each component's `register_outputs` are its outputs;
- with a stored state, inputs named by `ignore_changes` take their stored values.
Properties are kept in the form the engine hands a policy pack (see `hybridctl.wire`).
"""

from __future__ import annotations

import json
import re
import runpy
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.output import Unknown

from components.naming import MANIFEST_KEY, NETWORK_KEY
from hybridctl import sdk_internals as sdk
from hybridctl.mocks import PlatformMocks
from hybridctl.stackfile import PROJECT_DIR, StackFile
from hybridctl.stored_state import StoredState, StoredValue
from hybridctl.wire import UNKNOWN_BY_TYPE, engine_struct

PROJECT = "hybrid-airflow"
SITE_COMPONENT = "hybrid:platform:Site"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"

Mode = Literal["up", "preview"]

# The engine's signatures for special property values (protocol constants).
SIG_KEY = sdk.SIG_KEY
SECRET_SIG = sdk.SECRET_SIG
ASSET_SIG = sdk.ASSET_SIG
RESOURCE_SIG = sdk.RESOURCE_SIG
UNKNOWN = sdk.UNKNOWN
REDACTED = "[secret]"


@dataclass(frozen=True)
class Options:
    """The resource options the engine passes to a policy (AnalyzerResourceOptions)."""

    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool | None = None
    additional_secret_outputs: tuple[str, ...] = ()
    custom_timeouts: tuple[float, float, float] = (0.0, 0.0, 0.0)  # create, update, delete (s)


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
    options: Options = field(default_factory=Options)

    @property
    def raw_inputs(self) -> dict[str, Any]:
        """Inputs with the engine's signatures intact (secrets still marked)."""
        return json_format.MessageToDict(self.inputs_struct)

    @property
    def raw_outputs(self) -> dict[str, Any]:
        return json_format.MessageToDict(self.outputs_struct)

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs as plain JSON with every secret value redacted: safe to print."""
        return redact(self.raw_inputs)

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""

    @property
    def is_provider(self) -> bool:
        return self.type.startswith(PROVIDER_TYPE_PREFIX)


@dataclass
class Capture:
    stack: str
    region: str
    resources: list[CapturedResource]
    mode: Mode = "up"
    stored_values: list[StoredValue] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)  # the stack's, as the engine passes it

    def by_urn(self) -> dict[str, CapturedResource]:
        return {r.urn: r for r in self.resources}

    def custom(self) -> list[CapturedResource]:
        return [r for r in self.resources if r.custom and not r.type.startswith("pulumi:")]

    def providers(self) -> list[CapturedResource]:
        return [r for r in self.resources if r.is_provider]

    @property
    def root(self) -> CapturedResource | None:
        return next((r for r in self.resources if r.type == ROOT_STACK_TYPE), None)

    @property
    def root_urn(self) -> str:
        """The stack's URN, where the engine files findings that name no resource."""
        return root_stack_urn(self.stack)

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
                return content if isinstance(content, str) and content != UNKNOWN else None
        return None


def root_stack_urn(stack: str, project: str = PROJECT) -> str:
    return f"urn:pulumi:{stack}::{project}::{ROOT_STACK_TYPE}::{project}-{stack}"


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """The URN the engine gives a resource: its parent's type chain, unless that is the stack
    (pulumi/pulumi `Deployment.generateURN`)."""
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != ROOT_STACK_TYPE:
            type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


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
    if value in UNKNOWN_BY_TYPE.values():
        return "[unknown]"
    return value


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(duration: str) -> float:
    """A Go duration ("10m", "1h30m") in seconds, as the engine parses custom timeouts."""
    return sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration or ""))


def _options(request: Any) -> Options:
    timeouts = request.customTimeouts if request.HasField("customTimeouts") else None
    return Options(
        protect=bool(request.protect),
        retain_on_delete=bool(request.retainOnDelete),
        ignore_changes=tuple(request.ignoreChanges),
        delete_before_replace=(
            bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined else None
        ),
        additional_secret_outputs=tuple(request.additionalSecretOutputs),
        custom_timeouts=(
            (_seconds(timeouts.create), _seconds(timeouts.update), _seconds(timeouts.delete))
            if timeouts is not None
            else (0.0, 0.0, 0.0)
        ),
    )


def _has_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_unknown(v) for v in value)
    return False


class PreviewMocks(pulumi.runtime.Mocks):
    """A first preview's provider: it plans what it was given and computes nothing.

    Known inputs come back as outputs (the program sees them); every property the provider
    would compute (what `PlatformMocks` adds to the inputs: ids, ARNs, auto-names, ...) comes
    back unknown, and so does every input that is itself unknown. `region` is the exception: the
    AWS provider plans it from its own configuration, so a preview shows it.
    """

    def __init__(self, computed: PlatformMocks, sink: ComputedSink) -> None:
        self.computed = computed
        self.sink = sink

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        known = {k: v for k, v in inputs.items() if not _has_unknown(v)}
        _, planned = self.computed.new_resource(
            pulumi.runtime.MockResourceArgs(
                args.typ, args.name, known, args.provider, args.resource_id, args.custom
            )
        )
        outputs: dict[str, Any] = dict(inputs)
        kinds: dict[str, str] = {}
        for key, value in planned.items():
            if key in inputs:
                continue
            if key == "region":
                outputs[key] = value
                continue
            outputs[key] = Unknown()
            kinds[key] = _kind(value)
        self.sink.record(kinds)
        return "", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return self.computed.call(args)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


class ComputedSink:
    """Hands PreviewMocks' note of which outputs are computed (and their types) to the monitor
    registering the resource, on the same thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def begin(self) -> None:
        self._local.kinds = {}

    def record(self, kinds: dict[str, str]) -> None:
        self._local.kinds = kinds

    def take(self) -> dict[str, str]:
        kinds: dict[str, str] = getattr(self._local, "kinds", {})
        self._local.kinds = {}
        return kinds


class CapturingMonitor(sdk.MockMonitor):
    """The SDK's mock monitor, made to register what the engine would: engine URNs, default
    providers, registered outputs, stored values; and to keep every registration."""

    def __init__(
        self,
        mocks: pulumi.runtime.Mocks,
        *,
        config: dict[str, Any] | None = None,
        secret_keys: frozenset[str] = frozenset(),
        mode: Mode = "up",
        stored: StoredState | None = None,
        sink: ComputedSink | None = None,
    ) -> None:
        super().__init__(mocks)
        self.config = config or {}
        self.secret_keys = secret_keys
        self.mode = mode
        self.stored = stored
        self.sink = sink
        self.captured: list[CapturedResource] = []
        self.stored_values: list[StoredValue] = []
        self._default_providers: dict[str, CapturedResource] = {}
        self._registered_outputs: dict[str, struct_pb2.Struct] = {}
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(pulumi.get_stack(), pulumi.get_project(), parent, type_, name)

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        request = self._with_stored_values(urn, request)
        if self.sink is not None:
            self.sink.begin()
        response = super().RegisterResource(request)
        kinds = self.sink.take() if self.sink is not None else {}
        state = self.resources.get(response.urn)
        provider = request.provider or self._default_provider(request)
        outputs = struct_pb2.Struct()
        if request.custom:
            outputs.CopyFrom(response.object)
            for key, kind in kinds.items():
                outputs[key] = UNKNOWN_BY_TYPE[kind]
        record = CapturedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            custom=bool(request.custom),
            parent=request.parent,
            provider=provider,
            inputs_struct=_copy(request.object),
            outputs_struct=outputs,
            outputs=dict(state.state) if state else {},
            id=response.id,
            dependencies=list(request.dependencies),
            property_dependencies={
                key: list(deps.urns) for key, deps in request.propertyDependencies.items()
            },
            options=_options(request),
        )
        with self._lock:
            self.captured.append(record)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        """A component's (or the stack's) registered outputs are its outputs in the engine."""
        with self._lock:
            self._registered_outputs[request.urn] = _copy(request.outputs)
        return super().RegisterResourceOutputs(request)

    def resources_in_engine_order(self) -> list[CapturedResource]:
        """Every registration, providers included, with components' outputs filled in."""
        with self._lock:
            resources = [*self._default_providers.values(), *self.captured]
            for resource in resources:
                if not resource.custom and resource.urn in self._registered_outputs:
                    resource.outputs_struct = self._registered_outputs[resource.urn]
        return resources

    def _default_provider(self, request: Any) -> str:
        """The engine gives a custom resource without a provider its package's default one."""
        if not request.custom or request.type.startswith(PROVIDER_TYPE_PREFIX):
            return ""
        package = request.type.split(":", 1)[0]
        version = request.version
        name = "default_" + version.replace(".", "_") if version else "default"
        urn = engine_urn(
            pulumi.get_stack(), pulumi.get_project(), "", PROVIDER_TYPE_PREFIX + package, name
        )
        with self._lock:
            provider = self._default_providers.get(urn)
            if provider is None:
                provider = self._provider_resource(urn, package, name, version)
                self._default_providers[urn] = provider
        return f"{urn}::{provider.id or UNKNOWN}"

    def _provider_resource(self, urn: str, package: str, name: str, version: str) -> Any:
        """A default provider's inputs are its package's stack config, plus its version."""
        inputs: dict[str, Any] = {}
        for key, value in self.config.items():
            namespace, _, setting = key.partition(":")
            if namespace != package or not setting:
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            inputs[setting] = (
                {SIG_KEY: SECRET_SIG, "value": text} if key in self.secret_keys else text
            )
        if version:
            inputs["version"] = version
        struct = struct_pb2.Struct()
        struct.update(inputs)
        return CapturedResource(
            type=PROVIDER_TYPE_PREFIX + package,
            name=name,
            urn=urn,
            custom=True,
            parent="",
            provider="",
            inputs_struct=struct,
            outputs_struct=_copy(struct),
            outputs=dict(inputs),
            id="" if self.mode == "preview" else str(uuid.uuid5(uuid.NAMESPACE_URL, urn)),
        )

    def _with_stored_values(self, urn: str, request: Any) -> Any:
        """Reset ignored inputs to their stored values, as the engine does on an update."""
        stored = self.stored.inputs.get(urn) if self.stored is not None else None
        if stored is None or not request.ignoreChanges:
            return request
        changed = type(request)()
        changed.CopyFrom(request)
        program = json_format.MessageToDict(request.object)
        for path in request.ignoreChanges:
            key = path.split(".", 1)[0].split("[", 1)[0]
            if key != path:
                continue  # nested paths: not used by this program, not modelled
            if key in stored:
                changed.object[key] = stored[key]
            elif key in changed.object:
                del changed.object[key]
            with self._lock:
                self.stored_values.append(StoredValue(urn, key, program.get(key), stored.get(key)))
        return changed


def _copy(struct: struct_pb2.Struct) -> struct_pb2.Struct:
    copy = struct_pb2.Struct()
    copy.CopyFrom(struct)
    return copy


class ProgramError(Exception):
    """The program failed (for example on invalid config); the message is for the user."""


def capture(
    stack: StackFile,
    project_dir: Path = PROJECT_DIR,
    program: Callable[[], None] | None = None,
    *,
    mode: Mode = "up",
    stored: StoredState | None = None,
    salt: str = "",
) -> Capture:
    """Run `__main__.py` of the project (or `program`) for `stack`; return what it registers.

    `salt` changes the made-up values of the offline provider (`PlatformMocks`), for tests that
    find which inputs carry provider-computed values."""
    region = str(stack.config.get("aws:region") or "")
    sink = ComputedSink() if mode == "preview" else None
    up_mocks = PlatformMocks(region, salt)
    mocks: pulumi.runtime.Mocks = PreviewMocks(up_mocks, sink) if sink is not None else up_mocks
    monitor = CapturingMonitor(
        mocks,
        config=stack.config,
        secret_keys=stack.secret_keys,
        mode=mode,
        stored=stored,
        sink=sink,
    )
    _reset_runtime()
    sdk.use_mock_monitor(monitor, project=PROJECT, stack=stack.name, preview=mode == "preview")
    pulumi.runtime.set_all_config(
        {key: _config_text(value) for key, value in stack.config.items()},
        sorted(stack.secret_keys),
    )
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    main = project_dir / "__main__.py"

    def run_main() -> None:
        runpy.run_path(str(main), run_name="__main__")

    try:
        sdk.run_program(program or run_main)
    except pulumi.RunError as error:
        raise ProgramError(str(error)) from None
    finally:
        _reset_runtime()
    resources = monitor.resources_in_engine_order()
    ids = {r.urn: r.id for r in resources}
    for resource in resources:
        resource.inputs_struct = engine_struct(resource.inputs_struct, ids, project_dir)
        resource.outputs_struct = engine_struct(resource.outputs_struct, ids, project_dir)
    # The stack registers first and a default provider before its first user; the rest by URN.
    resources.sort(key=lambda r: (r.type != ROOT_STACK_TYPE, not r.is_provider, r.urn))
    _attribute_sites(resources)
    return Capture(
        stack=stack.name,
        region=region,
        resources=resources,
        mode=mode,
        stored_values=list(monitor.stored_values),
        config={key: _config_text(value) for key, value in stack.config.items()},
    )


def _config_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _reset_runtime() -> None:
    """Let one process run the program several times (tests, benchmarks)."""
    sdk.reset_runtime()


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
