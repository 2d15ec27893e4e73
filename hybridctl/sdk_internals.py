"""Every private part of the Pulumi Python SDK that hybridctl relies on, in one place.

hybridctl runs the real program offline the way the Python language host runs it
(`run_in_stack` under a resource monitor), with the SDK's mock monitor standing in for the
engine. That needs a few names that are not public API. An SDK upgrade may rename or change
them, so `problems()` checks each one (name, shape and behaviour) and says what changed;
tests/engine/test_sdk_internals.py fails on any problem, naming it. Nothing else in hybridctl
imports from `pulumi.runtime` internals.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime import stack as _stack
from pulumi.runtime import sync_await as _sync

# The wire protocol's signatures for special property values. These are protocol constants
# (pulumi/pulumi sdk/go/common/resource/sig and plugin/rpc.go), so their values are pinned too.
PROTOCOL = {
    "_special_sig_key": "4dabf18193072939515e22adb298388d",
    "_special_secret_sig": "1b47061264138c4ac30d75fd1eb44270",
    "_special_asset_sig": "c44067f5952c0a294b673a41bacd8c17",
    "_special_archive_sig": "0def7320c3a5731c473e5ecbe6d01bc7",
    "_special_resource_sig": "5cf8f73096256a8f31e491e813e4eb8e",
    "_special_output_value_sig": "d0e6a833031e9bbcd3f4e8bde6ca49a4",
    "UNKNOWN": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
}

SIG_KEY: str = getattr(_rpc, "_special_sig_key", PROTOCOL["_special_sig_key"])
SECRET_SIG: str = getattr(_rpc, "_special_secret_sig", PROTOCOL["_special_secret_sig"])
ASSET_SIG: str = getattr(_rpc, "_special_asset_sig", PROTOCOL["_special_asset_sig"])
ARCHIVE_SIG: str = getattr(_rpc, "_special_archive_sig", PROTOCOL["_special_archive_sig"])
RESOURCE_SIG: str = getattr(_rpc, "_special_resource_sig", PROTOCOL["_special_resource_sig"])
OUTPUT_SIG: str = getattr(_rpc, "_special_output_value_sig", PROTOCOL["_special_output_value_sig"])
UNKNOWN: str = getattr(_rpc, "UNKNOWN", PROTOCOL["UNKNOWN"])

# The SDK's mock monitor: hybridctl subclasses it (make_urn, RegisterResource,
# RegisterResourceOutputs) to see what the engine would see.
MockMonitor = _mocks.MockMonitor
MockSettings = getattr(_mocks, "MockSettings", None)
MockEngine = getattr(_mocks, "MockEngine", None)
SETTINGS = _settings.SETTINGS
configure = _settings.configure
set_root_resource = _settings.set_root_resource
run_in_stack: Callable[..., Any] | None = getattr(_stack, "run_in_stack", None)
run_pulumi_func: Callable[..., Any] | None = getattr(_stack, "run_pulumi_func", None)
sync_await: Callable[..., Any] | None = getattr(_sync, "_sync_await", None)


class SdkChanged(RuntimeError):
    """The installed Pulumi SDK no longer has what hybridctl uses; the message says what."""

    def __init__(self, found: list[str]) -> None:
        super().__init__(
            "the Pulumi SDK changed under hybridctl (see hybridctl/sdk_internals.py): "
            + "; ".join(found or ["unknown change"])
        )


def reset_runtime() -> None:
    """Forget the previous run's pending work and root stack, so one process can run the
    program several times (hybridctl check, tests, benchmarks)."""
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    set_root_resource(None)  # type: ignore[arg-type]


def use_mock_monitor(
    monitor: Any, *, project: str, stack: str, preview: bool, logger: Any = None
) -> None:
    """What `pulumi.runtime.set_mocks` does, minus the root stack it registers and finishes at
    once (which would drop every `pulumi.export`): the program runs in `run_in_stack`, which
    registers the stack's outputs at the end, as the language host does."""
    if MockSettings is None or MockEngine is None:
        raise SdkChanged(problems())
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    configure(
        MockSettings(
            monitor=monitor,
            monitor_features=features,
            engine=MockEngine(logger),
            project=project,
            stack=stack,
            dry_run=preview,
            organization=None,
            callbacks=None,
        )
    )


def run_program(program: Callable[[], None]) -> None:
    """Run `program` inside a root stack and wait for every registration and output.

    The program starts once the stack is registered: its resources need the stack's URN anyway,
    and hundreds of registrations queued behind it make the SDK's wait loop quadratic (a 500-site
    stack took twice as long)."""
    if run_in_stack is None or sync_await is None:
        raise SdkChanged(problems())

    async def after_the_stack() -> None:
        root = _settings.get_root_resource()
        if root is not None:
            await root.urn.future()
        program()

    sync_await(run_in_stack(after_the_stack))


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def problems() -> list[str]:
    """What changed in the SDK since these internals were last checked (empty: nothing)."""
    found: list[str] = []
    for name, expected in PROTOCOL.items():
        actual = getattr(_rpc, name, None)
        if actual != expected:
            found.append(f"pulumi.runtime.rpc.{name} is {actual!r}, expected {expected!r}")
    for owner, name in (
        (_mocks, "MockSettings"),
        (_mocks, "MockEngine"),
        (_stack, "run_in_stack"),
        (_stack, "run_pulumi_func"),
        (_sync, "_sync_await"),
        (_settings, "SETTINGS"),
        (_settings, "configure"),
        (_settings, "set_root_resource"),
    ):
        if not hasattr(owner, name):
            found.append(f"{owner.__name__}.{name} is gone")
    for method in ("make_urn", "RegisterResource", "RegisterResourceOutputs", "GetDeploymentInfo"):
        if not callable(getattr(MockMonitor, method, None)):
            found.append(f"pulumi.runtime.mocks.MockMonitor.{method} is gone")
    if callable(getattr(MockMonitor, "make_urn", None)):
        params = _parameters(MockMonitor.make_urn)
        if params != ["self", "parent", "type_", "name"]:
            found.append(f"MockMonitor.make_urn(...) now takes {params}")
    if run_in_stack is not None:
        if not inspect.iscoroutinefunction(run_in_stack):
            found.append("pulumi.runtime.stack.run_in_stack is no longer a coroutine function")
        elif _parameters(run_in_stack) != ["func"]:
            found.append(f"run_in_stack(...) now takes {_parameters(run_in_stack)}")
    if sync_await is not None:
        try:
            value = sync_await(asyncio.sleep(0, result="done"))
        except Exception as error:  # reported, not raised
            found.append(f"_sync_await(awaitable) fails: {error!r}")
        else:
            if value != "done":
                found.append(f"_sync_await(awaitable) returned {value!r}, not its result")
    rpc_manager = getattr(SETTINGS, "rpc_manager", None)
    if not callable(getattr(rpc_manager, "clear", None)):
        found.append("SETTINGS.rpc_manager.clear() is gone")
    if not callable(getattr(getattr(SETTINGS, "outputs", None), "clear", None)):
        found.append("SETTINGS.outputs is no longer a collection with clear()")
    if MockSettings is not None:
        try:
            fresh = MockSettings(project="p", stack="s")
        except Exception as error:  # reported, not raised
            found.append(f"MockSettings(**settings) fails: {error!r}")
        else:
            if not callable(getattr(getattr(fresh, "rpc_manager", None), "clear", None)):
                found.append("MockSettings no longer creates its own rpc_manager")
    return found
