"""Property: whatever the site config (and whatever is edited in what the program registers),
`check` never passes a stack in which a regulated site's tasks are not EXTERNAL and pinned."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from components.config import ConfigError
from hybridctl.capture import Capture, CapturedResource, capture
from hybridctl.evaluate import evaluate
from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import StackFile, load

PROD = load(Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.prod.yaml")
PROD_CONFIG = json.loads((PACK_DIR / "config.prod.json").read_text(encoding="utf-8"))
TD = "aws:ecs/taskDefinition:TaskDefinition"
RESIDENCY_POLICIES = {spec.name for spec in hp.POLICIES if spec.group == "residency"}


def config_for(sites: list[dict[str, Any]]) -> hp.PolicyConfig:
    """Compliance's prod config, listing the generated sites as the stack config declares them."""
    listed = [
        {"name": f"site-{i}", "residency": s["residency"], "allowedRegions": [s["region"]]}
        for i, s in enumerate(sites)
    ]
    return hp.parse_config({**PROD_CONFIG, "sites": listed}, "property", hp.POLICY_NAMES)


site = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["onprem", "cloud"]),
        "residency": st.sampled_from(["standard", "regulated"]),
        "region": st.sampled_from(["eu-central-1", "eu-west-1"]),
        "launchType": st.sampled_from([None, "EXTERNAL", "FARGATE", "EC2"]),
    }
)
REGULATED_ONPREM = {
    "kind": "onprem",
    "residency": "regulated",
    "region": "eu-west-1",
    "launchType": None,
}
# What someone could do to a task definition outside the config: drop or retarget its pin.
tampering = st.sampled_from([None, "drop-pin", "pin-elsewhere", "fargate"])


def stack_of(sites: list[dict[str, Any]]) -> StackFile:
    config = dict(PROD.config)
    config["hybrid-airflow:sites"] = [
        {
            "name": f"site-{i}",
            "kind": s["kind"],
            "residency": s["residency"],
            "region": s["region"],
            **({"launchType": s["launchType"]} if s["launchType"] else {}),
            "extracts": [{"name": "t", "query": "SELECT 1", "schedule": "@daily"}],
        }
        for i, s in enumerate(sites)
    ]
    return StackFile(name="prop", path=Path("inline"), config=config, secret_keys=set())


def tamper(resource: CapturedResource, how: str) -> None:
    change: dict[str, Any] = {
        "drop-pin": {"placementConstraints": []},
        "pin-elsewhere": {
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:site == other"}]
        },
        "fargate": {"requiresCompatibilities": ["FARGATE"]},
    }[how]
    resource.inputs_struct.update(change)
    resource.outputs_struct.update(change)


def runs_at_home(resource: CapturedResource) -> bool:
    inputs = resource.raw_inputs
    pins = [c.get("expression") for c in inputs.get("placementConstraints") or []]
    return inputs.get("requiresCompatibilities") == ["EXTERNAL"] and pins == [
        f"attribute:site == {resource.site}"
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sites=st.lists(site, min_size=1, max_size=3), how=tampering, victim=st.integers(0, 2))
@example(
    sites=[{**REGULATED_ONPREM, "region": "eu-central-1", "launchType": "FARGATE"}],
    how=None,
    victim=0,
)
@example(sites=[REGULATED_ONPREM], how="drop-pin", victim=0)
@example(sites=[REGULATED_ONPREM, REGULATED_ONPREM], how="pin-elsewhere", victim=1)
def test_check_never_passes_a_regulated_site_off_its_hosts(
    sites: list[dict[str, Any]], how: str | None, victim: int
) -> None:
    stack = stack_of(sites)
    try:
        stack.typed()
    except ConfigError:
        assume(False)
    captured: Capture = capture(stack)
    regulated_tds = [
        r
        for r in captured.resources
        if r.type == TD and r.raw_inputs.get("tags", {}).get("residency") == "regulated"
    ]
    if how and regulated_tds:
        tamper(regulated_tds[victim % len(regulated_tds)], how)

    result = evaluate(captured, config_for(sites), stack_file="inline", now=dt.datetime.now(dt.UTC))

    off_home = {r.site for r in regulated_tds if not runs_at_home(r)}
    blocking_sites = {f.site for f in result.blocking if f.policy in RESIDENCY_POLICIES}
    assert off_home <= blocking_sites
    if off_home:
        assert result.exit_code == 1
    if how == "drop-pin" and regulated_tds:
        assert off_home  # the tampering took effect, so the property was really exercised
