"""Policy fixtures built the way the engine builds them.

- `resource_args` / `stack_resource`: ResourceValidationArgs and PolicyResources whose props go
  through pulumi_policy's deserialisation and proxy, as in the analyzer server.
- `run_program`: the real program (or the real program plus a few hostile resources) captured
  by hybridctl, as `pulumi up` or as a first `pulumi preview` shows it to the engine
  (`mode="preview"`: hybridctl's capture, held to the engine's rules by tests/engine), then
  every policy evaluated as `hybridctl check` does.
"""

from __future__ import annotations

import copy
import datetime as dt
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest
from google.protobuf import struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from hybridctl.capture import Capture, CapturedResource, Mode, capture
from hybridctl.evaluate import evaluate
from hybridctl.findings import CheckResult
from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import STACKS_DIR, StackFile, load

warnings.filterwarnings("ignore", category=DeprecationWarning)

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
STACK = "urn:pulumi:test::hybrid-airflow"
SITE_URN = f"{STACK}::hybrid:platform:Site::munich"
ALLOWED = ["eu-central-1", "eu-west-1"]
UNKNOWN = UNKNOWN_STRING_VALUE  # what the engine sends for a value computed at creation
PROD_SITES = [
    {"name": "hq", "residency": "standard", "allowedRegions": ["eu-central-1"]},
    {"name": "munich", "residency": "regulated", "allowedRegions": ["eu-central-1"]},
    {"name": "dublin", "residency": "regulated", "allowedRegions": ["eu-west-1"]},
]
PROD_CONFIG = PACK_DIR / "config.prod.json"
RESIDENCY = {s.name for s in hp.POLICIES if s.group == "residency"}


def config(**overrides: Any) -> hp.PolicyConfig:
    raw = {"allowedRegions": ALLOWED, "maxActivationDays": 14, "sites": PROD_SITES, **overrides}
    return hp.parse_config(raw, "test", hp.POLICY_NAMES, today=NOW.date())


def prod_config() -> hp.PolicyConfig:
    return hp.load_config(PROD_CONFIG, hp.POLICY_NAMES)


def wrap(props: dict[str, Any]) -> Any:
    return unknown_checking_proxy(deserialize_properties(props))


def options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def provider(region: str = "eu-central-1") -> PolicyProviderResource:
    return PolicyProviderResource(
        "pulumi:providers:aws",
        wrap({"region": region}),
        f"{STACK}::pulumi:providers:aws::default",
        "default",
    )


def resource_args(
    resource_type: str,
    props: dict[str, Any],
    name: str = "r",
    *,
    region: str = "eu-central-1",
    parent: str | None = None,
) -> ResourceValidationArgs:
    urn = f"{STACK}::{resource_type}::{name}"
    return ResourceValidationArgs(
        resource_type, wrap(props), urn, name, options(parent), provider(region), None, {}
    )


def stack_resource(
    resource_type: str,
    props: dict[str, Any],
    name: str,
    *,
    parent: PolicyResource | None = None,
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        resource_type,
        wrap(props),
        f"{STACK}::{resource_type}::{name}",
        name,
        options(parent.urn if parent else None),
        provider(),
        parent,
        [],
        property_dependencies or {},
    )


def violations(
    policy: str,
    args: ResourceValidationArgs | StackValidationArgs,
    cfg: hp.PolicyConfig | None = None,
    now: dt.datetime = NOW,
) -> list[str]:
    """What the named policy reports, calling its validate as the engine does."""
    built = hp.build_policies(hp.RuleContext(cfg or config(), now))
    target = next(p for p in built if p.name == policy)
    reported: list[str] = []
    target.validate(args, lambda message, urn=None: reported.append(message))  # type: ignore[arg-type]
    return reported


def stack_args(resources: Iterable[PolicyResource]) -> StackValidationArgs:
    return StackValidationArgs(list(resources), None, {})


@pytest.fixture
def regulated_tags() -> dict[str, str]:
    return {"site": "munich", "residency": "regulated", "environment": "test"}


# --- the real program ------------------------------------------------------------------------

Extra = Callable[[Any], None]  # gets the Platform the program built; declares more resources


def prod_stack(edit: Callable[[dict[str, Any]], None] | None = None) -> StackFile:
    """The prod stack file, edited in memory."""
    base = load(STACKS_DIR / "Pulumi.prod.yaml")
    stack_config = copy.deepcopy(base.config)
    if edit is not None:
        edit(stack_config)
    return StackFile(
        name="prod", path=Path("inline"), config=stack_config, secret_keys=base.secret_keys
    )


def site_of(stack_config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in stack_config["hybrid-airflow:sites"] if s["name"] == name)


_PROGRAMS: dict[tuple[Extra | None, Mode], Capture] = {}


def run_program(
    extra: Extra | None = None, stack: StackFile | None = None, mode: Mode = "up"
) -> Capture:
    """The real program for prod (or `stack`); `extra` declares more resources after it.

    `mode="preview"` captures it as a first `pulumi preview` shows it (provider-computed values
    unknown). Captures of prod are kept for the session (tests never change a capture: `edited`
    copies it), so a hostile program runs once per mode.
    """
    if stack is None and (extra, mode) in _PROGRAMS:
        return _PROGRAMS[(extra, mode)]
    captured = _run_program(extra, stack, mode)
    if stack is None:
        _PROGRAMS[(extra, mode)] = captured
    return captured


def _run_program(extra: Extra | None, stack: StackFile | None, mode: Mode) -> Capture:
    from components.config import ConfigError
    from components.platform import build_platform
    from components.stack_config import load_stack_config

    def program() -> None:
        try:
            stack_config = load_stack_config()
        except ConfigError as error:
            raise pulumi.RunError(str(error)) from None
        platform = build_platform(stack_config, dags_dir=STACKS_DIR.parent / "dags")
        if extra is not None:
            extra(platform)

    return capture(stack or prod_stack(), program=program, mode=mode)


def check(captured: Capture, cfg: hp.PolicyConfig | None = None) -> CheckResult:
    """Every policy on the capture (up or preview), as `hybridctl check` evaluates it."""
    return evaluate(captured, cfg or prod_config(), stack_file="test", now=dt.datetime.now(dt.UTC))


def blocking(result: CheckResult) -> set[tuple[str, str | None]]:
    return {(f.policy, f.site) for f in result.blocking}


def messages(result: CheckResult, policy: str) -> list[str]:
    return [f.message for f in result.findings if f.policy == policy]


@pytest.fixture(scope="session")
def prod_capture() -> Capture:
    return run_program()


def edited(captured: Capture, edit: Callable[[CapturedResource], bool]) -> Capture:
    """A copy of the capture in which `edit` changed the resources it returns True for."""
    resources = []
    for resource in captured.resources:
        clone = replace(
            resource,
            inputs_struct=_copy_struct(resource.inputs_struct),
            outputs_struct=_copy_struct(resource.outputs_struct),
        )
        edit(clone)
        resources.append(clone)
    return replace(captured, resources=resources)


def _copy_struct(struct: struct_pb2.Struct) -> struct_pb2.Struct:
    copied = struct_pb2.Struct()
    copied.CopyFrom(struct)
    return copied


def set_prop(resource: CapturedResource, key: str, value: Any) -> None:
    """Change an input (and the matching output) as a program edit would."""
    resource.inputs_struct.update({key: value})
    resource.outputs_struct.update({key: value})


def residency_verdicts(result: CheckResult) -> set[tuple[str, str | None, str | None]]:
    """(policy, site, resource) of every blocking residency finding."""
    return {(f.policy, f.site, f.resource_name) for f in result.blocking if f.policy in RESIDENCY}
