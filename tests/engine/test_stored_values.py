"""Stored values: with `ignore_changes=["expirationDate"]` the engine checks, analyses and keeps
the activation's *stored* expiry on an existing stack. Given the stack's export, hybridctl
does the same, and the served pack agrees with it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from hybridctl.capture import Capture, capture
from hybridctl.evaluate import evaluate
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import load
from hybridctl.state_export import export
from hybridctl.stored_state import NOT_GIVEN, StoredState, StoredStateError, describe
from tests.engine.agreement import engine_findings
from tests.engine.conftest import BY_NAME, PACK_DIR, Packs

ACTIVATION = (
    "urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site$"
    "aws:ssm/activation:Activation::hybrid-prod-munich-activation"
)


def stored_with_expiry(up: Capture, expires: dt.datetime) -> StoredState:
    document = export(up, "2026-11-28T00:00:00+00:00")
    for resource in document["deployment"]["resources"]:
        if resource["urn"] == ACTIVATION:
            resource["inputs"]["expirationDate"] = expires.isoformat().replace("+00:00", "Z")
    return StoredState.parse(json.loads(json.dumps(document)), "export.json")


def expiry_findings(result: Any) -> list[tuple[str, str | None]]:
    return [(f.urn, f.site) for f in result.findings if f.policy == "activation-expiry"]


def test_the_stored_expiry_is_what_the_policies_see(
    captures: Callable[..., Capture], packs: Packs
) -> None:
    case = BY_NAME["prod"]
    stack_file = case.stack_file
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    config = hp.load_config(PACK_DIR / "config.prod.json", hp.POLICY_NAMES)
    stack = load(stack_file)
    fresh = evaluate(captures(case, "up"), config, stack_file=str(stack_file), now=now)
    assert expiry_findings(fresh) == []  # the program asks for 14 days: allowed

    stored = stored_with_expiry(captures(case, "up"), now + dt.timedelta(days=60))
    kept = capture(stack, stored=stored)
    activation = kept.by_urn()[ACTIVATION]
    assert activation.raw_inputs["expirationDate"].startswith(
        str((now + dt.timedelta(days=60)).date())
    )
    [value] = [v for v in kept.stored_values if v.urn == ACTIVATION]
    assert (value.urn, value.key) == (ACTIVATION, "expirationDate")
    assert value.program_value != value.stored_value
    # The program's outputs carry the stored expiry too (the provider keeps it).
    assert kept.root is not None
    sites = kept.root.raw_outputs["sites"]
    assert sites["munich"]["activationExpires"].startswith(value.stored_value)

    result = evaluate(kept, config, stack_file=str(stack_file), now=now)
    assert expiry_findings(result) == [(ACTIVATION, "munich")]

    run = packs.get(stack, "up").analyze(kept)
    assert {f for f in engine_findings(run.violations(), kept) if f[0] == "activation-expiry"} == {
        ("activation-expiry", ACTIVATION, "munich", "mandatory")
    }


def test_a_stored_expiry_within_the_limit_passes(captures: Callable[..., Capture]) -> None:
    case = BY_NAME["prod"]
    now = dt.datetime.now(dt.UTC)
    stored = stored_with_expiry(captures(case, "up"), now + dt.timedelta(days=3))
    kept = capture(load(case.stack_file), stored=stored)
    config = hp.load_config(PACK_DIR / "config.prod.json", hp.POLICY_NAMES)
    assert expiry_findings(evaluate(kept, config, stack_file="prod", now=now)) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"version": 2}, "not a `pulumi stack export` document"),
        ({"version": 3, "deployment": {"resources": {}}}, "deployment.resources is not a list"),
        ({"version": 3, "deployment": {"resources": [{"type": "x"}]}}, "has no urn"),
    ],
)
def test_a_bad_export_is_refused_with_a_reason(document: Any, message: str) -> None:
    with pytest.raises(StoredStateError, match=message):
        StoredState.parse(document, "export.json")


def test_check_can_say_which_values_are_stored(captures: Callable[..., Capture]) -> None:
    stored = stored_with_expiry(
        captures(BY_NAME["prod"], "up"), dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    )
    kept = capture(load(BY_NAME["prod"].stack_file), stored=stored)
    lines = describe(kept.stored_values)
    assert any(
        line.startswith(
            'hybrid-prod-munich-activation: expirationDate is the stored "2027-03-01T00:00:00Z"'
        )
        for line in lines
    )
    assert "--stored-state" in NOT_GIVEN
