"""The captured resources in `pulumi stack export` format (deployment version 3).

So that `pulumi policy analyze`-style tooling can run where the CLI exists. Secret values keep
their secret marker but never their value: the plaintext is replaced by "[secret]".
"""

from __future__ import annotations

import json
from typing import Any

from hybridctl.capture import ASSET_SIG, SECRET_SIG, SIG_KEY, Capture

PULUMI_VERSION = "v3.272.0"


def _state_value(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps("[secret]")}
        if value.get(SIG_KEY) == ASSET_SIG:
            return {k: v for k, v in value.items() if k != "text"}
        return {k: _state_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_state_value(v) for v in value]
    return value


def export(capture: Capture, generated_at: str) -> dict[str, Any]:
    provider_name = "default_7_51_1"
    provider_urn = (
        f"urn:pulumi:{capture.stack}::hybrid-airflow::pulumi:providers:aws::{provider_name}"
    )
    provider_id = "00000000-0000-0000-0000-000000000000"
    stack = next((r for r in capture.resources if r.type == "pulumi:pulumi:Stack"), None)
    resources: list[dict[str, Any]] = []
    if stack:
        resources.append({"urn": stack.urn, "custom": False, "type": stack.type})
    resources.append(
        {
            "urn": provider_urn,
            "custom": True,
            "id": provider_id,
            "type": "pulumi:providers:aws",
            "inputs": {"region": capture.region, "version": "7.51.1"},
            "outputs": {"region": capture.region, "version": "7.51.1"},
            **({"parent": stack.urn} if stack else {}),
        }
    )
    for r in capture.resources:
        if r.type == "pulumi:pulumi:Stack":
            continue
        entry: dict[str, Any] = {
            "urn": r.urn,
            "custom": r.custom,
            "type": r.type,
            "inputs": _state_value(r.raw_inputs),
            "outputs": _state_value(
                json.loads(json.dumps(r.outputs, default=str)) if r.custom else {}
            ),
        }
        if r.custom:
            entry["id"] = r.id
            entry["provider"] = f"{provider_urn}::{provider_id}"
        if r.parent:
            entry["parent"] = r.parent
        if r.dependencies:
            entry["dependencies"] = r.dependencies
        if r.property_dependencies:
            entry["propertyDependencies"] = r.property_dependencies
        resources.append(entry)
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": generated_at, "magic": "", "version": PULUMI_VERSION},
            "resources": resources,
        },
    }
