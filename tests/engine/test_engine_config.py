"""The engine's own policy config (`--policy-pack-config FILE`, Pulumi Cloud policy groups)
reaches the pack at Configure, over the pack's defaults (`ReconcilePolicyPackConfig`).
Compliance's mandatory levels must survive it (issue 10): the pack refuses a config that lowers
one with FAILED_PRECONDITION naming the policies, and the engine then stops the update before
analysing anything (`pkg/engine/update.go`: `configuring policy pack "<name>": <message>`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from hybridctl.capture import Capture
from hybridctl.stackfile import load
from tests.engine.conftest import BY_NAME, PACK_DIR, Packs
from tests.engine.engine_host import LEVELS, EngineStopped, PolicyPack, StackContext, reconcile

FARGATE = BY_NAME["regulated-fargate"]


def test_reconcile_layers_like_the_engine(packs: Packs) -> None:
    """Defaults from GetAnalyzerInfo, then `all`, then per-policy levels and properties."""
    context = StackContext.of(load(FARGATE.stack_file), dry_run=False)
    pack = packs.get(load(FARGATE.stack_file), "up", FARGATE.pack_env())
    assert pack.stack == context
    info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
    defaults = reconcile(info, {})
    assert {name: c.enforcementLevel for name, c in defaults.items()} == {
        p.name: p.enforcementLevel for p in info.policies
    }
    layered = reconcile(
        info,
        {
            "all": "advisory",
            "log-retention": {"enforcementLevel": "disabled", "days": 30},
            "ecr-scan-on-push": "mandatory",
        },
    )
    assert layered["regulated-tasks-external-only"].enforcementLevel == LEVELS["advisory"]
    assert layered["log-retention"].enforcementLevel == LEVELS["disabled"]
    assert dict(layered["log-retention"].properties) == {"days": 30}
    assert layered["ecr-scan-on-push"].enforcementLevel == LEVELS["mandatory"]


@pytest.mark.parametrize("lowered", ["advisory", "disabled"])
def test_engine_config_cannot_lower_a_mandatory_residency_policy(
    lowered: str, packs: Packs, captures: Callable[..., Capture]
) -> None:
    """The pack refuses the Configure; the engine stops the update with the pack's message
    before analysing anything (what `pulumi up --policy-pack-config` would print)."""
    captured = captures(FARGATE, "up")
    context = StackContext.of(load(FARGATE.stack_file), dry_run=False)
    policy = "regulated-tasks-external-only"
    with PolicyPack(PACK_DIR, packs.python, packs.host, context, FARGATE.pack_env()) as pack:
        with pytest.raises(EngineStopped) as stopped:
            pack.analyze(captured, pack_config={policy: lowered})
        assert pack.process.poll() is None, "the pack refused the config, it did not crash"
    assert stopped.value.code == grpc.StatusCode.FAILED_PRECONDITION
    message = str(stopped.value)
    assert message.startswith('configuring policy pack "hybrid-residency": ')
    assert f"{policy} ({lowered})" in message
    assert "config.prod.json" in message  # compliance's file, which sets the level


def test_engine_config_may_lower_nothing_mandatory_even_for_all(
    packs: Packs, captures: Callable[..., Capture]
) -> None:
    """`"all": "advisory"` names every mandatory policy in one refusal."""
    context = StackContext.of(load(FARGATE.stack_file), dry_run=False)
    with (
        PolicyPack(PACK_DIR, packs.python, packs.host, context, FARGATE.pack_env()) as pack,
        pytest.raises(EngineStopped) as stopped,
    ):
        pack.analyze(captures(FARGATE, "up"), pack_config={"all": "advisory"})
    mandatory = [p.name for p in pack_info(packs) if p.enforcementLevel == LEVELS["mandatory"]]
    assert len(mandatory) > 10
    assert all(f"{name} (advisory)" in str(stopped.value) for name in mandatory)


def test_engine_config_may_raise_a_level(packs: Packs, captures: Callable[..., Capture]) -> None:
    """Raising is allowed: dev's public Airflow UI is advisory in dev's config, and mandatory
    once the engine's config raises it."""
    case = BY_NAME["dev"]
    context = StackContext.of(load(case.stack_file), dry_run=False)
    captured = captures(case, "up")
    policy = "mwaa-private-webserver"
    levels = {}
    for config in ({}, {policy: "mandatory"}):
        with PolicyPack(PACK_DIR, packs.python, packs.host, context, case.pack_env()) as pack:
            run = pack.analyze(captured, pack_config=config)
        levels[bool(config)] = {d.level for d in run.violations() if d.policy == policy}
    assert levels == {False: {"advisory"}, True: {"mandatory"}}


def pack_info(packs: Packs) -> list[Any]:
    pack = packs.get(load(FARGATE.stack_file), "up", FARGATE.pack_env())
    return list(pack.stub.GetAnalyzerInfo(empty_pb2.Empty()).policies)
