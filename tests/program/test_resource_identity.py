"""Deployed resources keep their identity: same URNs, same inputs, for prod and dev.

A refactor of the components must not rename (replace) or silently change anything `pulumi up`
has deployed. The golden files were captured from the program before the components took
`(name, args, opts)`; regenerate them only for a change that is meant to alter resources:

    .venv/bin/python -m tests.program.test_resource_identity --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from hybridctl.capture import Capture, capture
from hybridctl.stackfile import PROJECT_DIR, STACKS_DIR, load

GOLDEN_DIR = Path(__file__).parent / "golden"
STACKS = ("prod", "dev")
# Computed at run time from "now" (and ignored by the program: ignore_changes), not config.
VOLATILE = {"aws:ssm/activation:Activation": {"expirationDate"}}
# The DAG files are uploaded one object each: dags/ may gain or lose files on its own.
DAG_FILE_UPLOAD = (
    "hybrid:platform:Orchestrator$aws:s3/bucketObjectv2:BucketObjectv2::orchestrator-dags/"
)


def canonical_urn(urn: str) -> str:
    """The URN without the stack root in the type chain (mocks may add it, the engine does not)."""
    head, sep, rest = urn.partition("::hybrid-airflow::")
    return head + sep + rest.removeprefix("pulumi:pulumi:Stack$")


def _portable(value: Any) -> Any:
    """File assets by their path inside the repository, wherever the clone is."""
    if isinstance(value, dict):
        if set(value) == {"asset"} and isinstance(value["asset"], str):
            return {"asset": Path(value["asset"]).relative_to(PROJECT_DIR).as_posix()}
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    return value


def identity(captured: Capture) -> dict[str, dict[str, Any]]:
    """URN -> inputs of every resource the program registers (secrets already redacted)."""
    out: dict[str, dict[str, Any]] = {}
    for resource in captured.resources:
        if resource.type.startswith("pulumi:") or DAG_FILE_UPLOAD in resource.urn:
            continue
        inputs = {
            k: v for k, v in resource.inputs.items() if k not in VOLATILE.get(resource.type, ())
        }
        out[canonical_urn(resource.urn)] = _portable(inputs)
    return dict(sorted(out.items()))


def golden_path(stack: str) -> Path:
    return GOLDEN_DIR / f"resources.{stack}.json"


@pytest.mark.parametrize("stack", STACKS)
def test_urns_and_inputs_are_unchanged(stack: str) -> None:
    expected = json.loads(golden_path(stack).read_text(encoding="utf-8"))
    actual = identity(capture(load(STACKS_DIR / f"Pulumi.{stack}.yaml")))
    assert sorted(actual) == sorted(expected), "resources added, removed or renamed"
    changed = [urn for urn in expected if actual[urn] != expected[urn]]
    assert changed == [], f"inputs changed: {changed}"


def main(argv: list[str]) -> int:
    if argv != ["--update"]:
        print(__doc__)
        return 2
    GOLDEN_DIR.mkdir(exist_ok=True)
    for stack in STACKS:
        document = identity(capture(load(STACKS_DIR / f"Pulumi.{stack}.yaml")))
        golden_path(stack).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        print(f"wrote {golden_path(stack)} ({len(document)} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
