"""The Pulumi engine's side of the policy-pack protocol, for tests and benchmarks.

It does what `pulumi preview/up --policy-pack policies` does with a Python pack (read from
pulumi/pulumi: `pkg/resource/plugin/analyzer_plugin.go`, `sdk/policy_proxy.go`, the Python
language host's `RunPlugin`, `pkg/engine/update.go`, `pkg/resource/deploy/step_generator.go`):

1. serve the engine's gRPC host (the `Engine` service a plugin may call back: Log, ...) on a
   free port; its address is the pack's first argument;
2. start `<pack venv>/bin/python -u -m pulumi.policy <engine address> <pack dir>` with the pack
   folder as working directory, the virtualenv activated, and the stack's PULUMI_PROJECT,
   PULUMI_STACK, PULUMI_DRY_RUN and PULUMI_CONFIG in its environment (the language host learns
   them from ConfigureStack before it starts the pack); read the pack's port from its stdout;
3. ConfigureStack, GetAnalyzerInfo, GetPluginInfo, then Configure with every policy's level:
   the pack's own defaults, overridden by a `--policy-pack-config` document if given
   (`ReconcilePolicyPackConfig`); if the pack refuses it, the update stops there
   (`EngineStopped`), before any resource is analysed;
4. for every registered resource (the stack, components, custom resources, the default
   provider): Remediate, then Analyze with its inputs and its provider;
5. AnalyzeStack with every resource's outputs, parents, dependencies and property dependencies.

The engine files a resource policy's diagnostic under the resource, and a stack policy's under
the URN it names if that is a resource of the stack, else under the stack itself.
Properties come from a `hybridctl.capture.Capture`, already in the engine's wire form.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc

from hybridctl.capture import PROJECT, Capture, CapturedResource
from hybridctl.stackfile import StackFile
from hybridctl.state_export import engine_order

LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
CANT_RUN = "can't run policy"
# Linux's MAX_ARG_STRLEN: one environment string ("NAME=value" and its NUL) of a new process.
# The Python language host passes the whole stack config in PULUMI_CONFIG, to the program and to
# the pack (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go, Run and RunPlugin).
LINUX_MAX_ENV_STRING = 32 * 4096
MAX_MESSAGE = 400 * 1024 * 1024  # the engine's and pulumi_policy's gRPC message limit
CALL_TIMEOUT = 600.0


class PackStartError(RuntimeError):
    """The pack exited (or said nothing) before printing its port: what the CLI reports."""


class EngineStopped(RuntimeError):
    """The engine ended the update before analysing any resource, with the message the CLI
    prints: a pack that refuses `Configure` makes `LoadLocalPolicyPackAnalyzers`
    (`pkg/engine/update.go`) return `configuring policy pack "<name>": <the pack's message>`."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Diagnostic:
    """One policy diagnostic, filed under a URN as the engine files it."""

    policy: str
    urn: str
    level: str
    message: str
    stage: str  # "analyze" or "analyze-stack"

    @property
    def not_run(self) -> bool:
        """pulumi_policy's advisory note for a policy that read an unknown value."""
        return self.message.startswith(CANT_RUN)


@dataclass
class EngineRun:
    """What the engine saw from the pack for one capture."""

    info: Any
    plugin_version: str
    diagnostics: list[Diagnostic]
    analyzed: list[str]
    stack_resources: int
    remediations: list[Any]
    analyze_seconds: float
    analyze_stack_seconds: float

    def violations(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.not_run]

    def not_run(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.not_run]


class EngineService(engine_pb2_grpc.EngineServicer):
    """The engine host's `Engine` service: records what a plugin sends it."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, str, str]] = []
        self.root = ""
        self._lock = threading.Lock()

    def Log(self, request: Any, context: Any) -> Any:
        with self._lock:
            self.logs.append((request.severity, request.message, request.urn))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:
        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request: Any, context: Any) -> Any:
        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()

    def RequirePulumiVersion(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def StartDebugging(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()


class EngineHost:
    """The engine's gRPC host on a free local port."""

    def __init__(self) -> None:
        self.service = EngineService()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self.service, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.stop(grace=None)


@dataclass(frozen=True)
class StackContext:
    """What the engine tells a pack about the stack (AnalyzerStackConfigureRequest)."""

    stack: str
    project: str
    config: Mapping[str, str]
    secret_keys: tuple[str, ...]
    dry_run: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    organization: str = ""

    @classmethod
    def of(cls, stack: StackFile, *, dry_run: bool) -> StackContext:
        """The stack's config as the engine passes it: every value a string (JSON if structured)."""
        config = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in stack.config.items()
        }
        return cls(
            stack=stack.name,
            project=PROJECT,
            config=config,
            secret_keys=tuple(sorted(stack.secret_keys)),
            dry_run=dry_run,
            tags={"pulumi:project": PROJECT, "pulumi:runtime": "python"},
        )

    def environment(self) -> dict[str, str]:
        """What the Python language host adds to the pack's environment (non-empty values)."""
        env = {
            "PULUMI_ORGANIZATION": self.organization,
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
            "PULUMI_CONFIG": json.dumps(dict(self.config)),
        }
        return {k: v for k, v in env.items() if v}


# Variables of the developer's shell that would make a test depend on it.
_PRIVATE = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def pack_environment(
    venv_python: Path, stack: StackContext | None, extra: Mapping[str, str] | None
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _PRIVATE and not k.startswith(("PULUMI_", "HYBRID_"))
    }
    venv = venv_python.parent.parent
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if stack is not None:
        env.update(stack.environment())
    env.update(extra or {})
    return env


class PolicyPack:
    """One policy pack process, started as the engine starts it; a context manager."""

    def __init__(
        self,
        pack_dir: Path,
        venv_python: Path,
        engine: EngineHost,
        stack: StackContext | None,
        env: Mapping[str, str] | None = None,
        *,
        start_timeout: float = 120.0,
    ) -> None:
        self.pack_dir = pack_dir.resolve()
        self.stack = stack
        self.command = [
            str(venv_python),
            "-u",
            "-m",
            "pulumi.policy",
            engine.address,
            str(self.pack_dir),
        ]
        self.env = pack_environment(venv_python, stack, env)
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.pack_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as error:
            if error.errno != errno.E2BIG:
                raise
            size = len(self.env.get("PULUMI_CONFIG", "").encode())
            raise PackStartError(
                f"the pack could not be started ({error.strerror}): PULUMI_CONFIG is "
                f"{size:,} bytes, over Linux's {LINUX_MAX_ENV_STRING:,}-byte limit for one "
                "environment variable; the CLI fails the same way for the program"
            ) from None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout, lines), daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        try:
            self.port = self._read_port(lines, start_timeout)
            self.channel = grpc.insecure_channel(
                f"127.0.0.1:{self.port}",
                options=[
                    ("grpc.max_receive_message_length", MAX_MESSAGE),
                    ("grpc.max_send_message_length", MAX_MESSAGE),
                ],
            )
            grpc.channel_ready_future(self.channel).result(timeout=start_timeout)
            self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
            if stack is not None:
                self.stub.ConfigureStack(
                    analyzer_pb2.AnalyzerStackConfigureRequest(
                        stack=stack.stack,
                        project=stack.project,
                        organization=stack.organization,
                        dry_run=stack.dry_run,
                        config=dict(stack.config),
                        config_secret_keys=list(stack.secret_keys),
                        tags=dict(stack.tags),
                    ),
                    timeout=CALL_TIMEOUT,
                )
        except BaseException:
            self.close()
            raise

    def _pump(self, stream: Any, lines: queue.Queue[str | None]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def _read_port(self, lines: queue.Queue[str | None], timeout: float) -> int:
        """The CLI reads the first line of the pack's stdout as its port (`Fscanf("%d\\n")`)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                raise PackStartError(f"the pack printed no port within {timeout:.0f}s") from None
            if line is None:
                self.process.wait(timeout=10)
                time.sleep(0.1)  # let the stderr reader finish
                raise PackStartError(
                    f"the pack exited ({self.process.returncode}) before printing its port: "
                    + "".join(self.stderr_lines).strip()
                )
            self.stdout_lines.append(line)
            text = line.strip()
            if text.isdigit():
                return int(text)
            raise PackStartError(f"the pack printed {text!r} where the CLI expects its port")

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def close(self) -> None:
        channel = getattr(self, "channel", None)
        if channel is not None:
            channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> PolicyPack:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the engine's calls --------------------------------------------------------------

    def analyze(self, capture: Capture, pack_config: Mapping[str, Any] | None = None) -> EngineRun:
        """What `pulumi preview/up` (by the capture's mode) reports from this pack."""
        info = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT)
        plugin = self.stub.GetPluginInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT)
        if info.supportsConfig:
            try:
                self.stub.Configure(
                    analyzer_pb2.ConfigureAnalyzerRequest(
                        policyConfig=reconcile(info, pack_config or {})
                    ),
                    timeout=CALL_TIMEOUT,
                )
            except grpc.RpcError as error:
                # rpcerror.Convert keeps the status message; the engine wraps it and stops.
                raise EngineStopped(
                    f'configuring policy pack "{info.name}": {error.details()}', error.code()
                ) from None
        resources = engine_order(capture.resources)
        by_urn = {r.urn: r for r in resources}
        diagnostics: list[Diagnostic] = []
        remediations: list[Any] = []
        analyzed: list[str] = []
        started = time.perf_counter()
        for resource in resources:
            request = analyze_request(resource, by_urn)
            remediations.extend(self.stub.Remediate(request, timeout=CALL_TIMEOUT).remediations)
            response = self.stub.Analyze(request, timeout=CALL_TIMEOUT)
            analyzed.append(resource.urn)
            diagnostics.extend(
                _diagnostic(d, resource.urn, "analyze") for d in response.diagnostics
            )
        analyze_seconds = time.perf_counter() - started
        stack_request = analyzer_pb2.AnalyzeStackRequest(
            resources=[stack_resource(r, by_urn) for r in resources]
        )
        started = time.perf_counter()
        response = self.stub.AnalyzeStack(stack_request, timeout=CALL_TIMEOUT)
        analyze_stack_seconds = time.perf_counter() - started
        root = capture.root_urn
        for d in response.diagnostics:
            urn = d.urn if d.urn in by_urn else root
            diagnostics.append(_diagnostic(d, urn, "analyze-stack"))
        return EngineRun(
            info=info,
            plugin_version=plugin.version,
            diagnostics=diagnostics,
            analyzed=analyzed,
            stack_resources=len(stack_request.resources),
            remediations=remediations,
            analyze_seconds=analyze_seconds,
            analyze_stack_seconds=analyze_stack_seconds,
        )


def _diagnostic(d: Any, urn: str, stage: str) -> Diagnostic:
    level = LEVEL_NAMES[d.enforcementLevel]
    if level == "remediate":
        level = "mandatory"  # the engine downgrades a remediate violation to mandatory
    return Diagnostic(d.policyName, urn, level, d.message, stage)


def reconcile(info: Any, pack_config: Mapping[str, Any]) -> dict[str, Any]:
    """Every policy's config as the engine sends it at Configure (`ReconcilePolicyPackConfig`):
    the pack's levels, then its initial config, then the `--policy-pack-config` document
    (`{"policy": "advisory"}`, `{"policy": {"enforcementLevel": ..., props...}}`, `"all"`)."""
    levels = {p.name: p.enforcementLevel for p in info.policies}
    properties: dict[str, dict[str, Any]] = {p.name: {} for p in info.policies}
    for name, initial in info.initialConfig.items():
        levels[name] = initial.enforcementLevel
    overrides = dict(pack_config)
    everything = overrides.pop("all", None)
    if everything is not None:
        level = everything if isinstance(everything, str) else everything.get("enforcementLevel")
        if level:
            levels = dict.fromkeys(levels, LEVELS[level])
    for name, value in overrides.items():
        if isinstance(value, str):
            levels[name] = LEVELS[value]
            continue
        value = dict(value)
        level = value.pop("enforcementLevel", None)
        if level:
            levels[name] = LEVELS[level]
        properties.setdefault(name, {}).update(value)
    config = {}
    for name, level in levels.items():
        struct = struct_pb2.Struct()
        struct.update(properties.get(name, {}))
        config[name] = analyzer_pb2.PolicyConfig(enforcementLevel=level, properties=struct)
    return config


def _options(resource: CapturedResource) -> Any:
    options = resource.options
    create, update, delete = options.custom_timeouts
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=options.protect,
        ignoreChanges=list(options.ignore_changes),
        deleteBeforeReplace=bool(options.delete_before_replace),
        deleteBeforeReplaceDefined=options.delete_before_replace is not None,
        additionalSecretOutputs=list(options.additional_secret_outputs),
        aliases=[],
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            create=create, update=update, delete=delete
        ),
        parent=resource.parent,
    )


def _provider(resource: CapturedResource, by_urn: Mapping[str, CapturedResource]) -> Any:
    """The provider as the engine passes it: its URN, type, name and *inputs*."""
    if not resource.provider:
        return None
    provider = by_urn[resource.provider_urn]
    return analyzer_pb2.AnalyzerProviderResource(
        urn=provider.urn,
        type=provider.type,
        name=provider.name,
        properties=provider.inputs_struct,
    )


def analyze_request(resource: CapturedResource, by_urn: Mapping[str, CapturedResource]) -> Any:
    return analyzer_pb2.AnalyzeRequest(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        properties=resource.inputs_struct,
        options=_options(resource),
        provider=_provider(resource, by_urn),
    )


def stack_resource(resource: CapturedResource, by_urn: Mapping[str, CapturedResource]) -> Any:
    return analyzer_pb2.AnalyzerResource(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        properties=resource.outputs_struct,
        options=_options(resource),
        provider=_provider(resource, by_urn),
        parent=resource.parent,
        dependencies=list(resource.dependencies),
        propertyDependencies={
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns))
            for key, urns in resource.property_dependencies.items()
            if urns
        },
    )


def urns(diagnostics: Iterable[Diagnostic]) -> set[str]:
    return {d.urn for d in diagnostics}
