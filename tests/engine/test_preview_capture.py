"""The preview capture holds what a first `pulumi preview` knows, and nothing more.

What the engine does (pulumi/pulumi): during a preview a resource to be created gets no ID (the
SDK resolves an empty ID as unknown); the provider plans the inputs it was given and leaves every
property it computes unknown; an input built from an unknown output is itself unknown (the SDK
sends UNKNOWN); invokes run, so their results are known; the default provider's ID is the unknown
ID in every provider reference. The preview capture is made by running the real program under
the SDK's mocks with preview=True (hybridctl.capture.PreviewMocks), not by editing an up capture;
these tests hold it to those rules against the up capture of the same stack, and against a
second up capture whose provider-computed values differ (`salt`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from hybridctl.capture import Capture, CapturedResource, capture
from hybridctl.stackfile import StackFile, load
from hybridctl.wire import UNKNOWN_BY_TYPE, is_unknown
from tests.engine.conftest import CASES, Case

UNKNOWN_ID = UNKNOWN_BY_TYPE["string"]
# Time-dependent inputs the program computes from the clock (a few seconds apart between runs).
CLOCK_INPUTS = {("aws:ssm/activation:Activation", "expirationDate")}


def contains_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return is_unknown(value)


def salted(case: Case) -> Capture:
    """The up capture again, with every value the offline provider makes up (ids, random
    suffixes, generated names) changed: an input that differs from the first up capture was
    built from a provider-computed value, one that does not was not, whatever it looks like (an
    ARN the program writes from a name equals the ARN the provider reports)."""
    return capture(load(case.stack_file), mode="up", salt="-salted")


def pairs(
    case: Case, captures: Callable[..., Capture]
) -> list[tuple[CapturedResource, CapturedResource]]:
    up, preview = captures(case, "up"), captures(case, "preview")
    by_urn = preview.by_urn()
    assert set(by_urn) == {r.urn for r in up.resources}, "both modes register the same resources"
    return [(r, by_urn[r.urn]) for r in up.resources]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_no_id_is_known_and_providers_are_referenced_by_the_unknown_id(
    case: Case, captures: Callable[..., Capture]
) -> None:
    preview = captures(case, "preview")
    for resource in preview.custom():
        assert resource.id == "", resource.urn
        assert resource.provider.endswith("::" + UNKNOWN_ID), resource.urn


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_what_the_provider_computes_is_unknown(
    case: Case, captures: Callable[..., Capture]
) -> None:
    for up, preview in pairs(case, captures):
        if not up.custom or up.is_provider:
            continue
        computed = set(up.raw_outputs) - set(up.raw_inputs) - {"region"}
        outputs = preview.raw_outputs
        for key in computed:
            assert is_unknown(outputs.get(key)), f"{up.urn}: {key}"
        assert outputs.get("region") == up.raw_outputs.get("region"), "planned from the provider"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_inputs_built_from_computed_values_are_unknown_and_the_rest_are_known(
    case: Case, captures: Callable[..., Capture]
) -> None:
    other = salted(case).by_urn()
    unknown_inputs = 0
    for up, preview in pairs(case, captures):
        before, elsewhere, during = up.raw_inputs, other[up.urn].raw_inputs, preview.raw_inputs
        assert set(during) == set(before), up.urn
        for key, value in before.items():
            if (up.type, key) in CLOCK_INPUTS:
                continue
            if elsewhere[key] != value:  # carries a provider-computed value
                assert contains_unknown(during[key]), f"{up.urn}: {key} is known at preview"
                unknown_inputs += 1
            else:
                assert during[key] == value, f"{up.urn}: {key} differs at preview"
    # key ids and ARNs (aliases, encryption, secrets), network ids, roles of task definitions
    assert unknown_inputs > 10


@pytest.mark.parametrize("case", CASES[:1], ids=lambda c: c.name)
def test_components_and_the_stack_expose_their_registered_outputs(
    case: Case, captures: Callable[..., Capture]
) -> None:
    up, preview = captures(case, "up"), captures(case, "preview")
    assert up.root is not None
    assert preview.root is not None
    exported = up.root.raw_outputs
    assert {"sitesManifest", "lakeBucket", "sites", "installCommands"} <= set(exported)
    # The lake is named by the program (from the account, an invoke); the URL is the provider's.
    assert preview.root.raw_outputs["lakeBucket"] == exported["lakeBucket"]
    assert is_unknown(preview.root.raw_outputs["etlRepositoryUrl"])
    site = up.by_urn()["urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site::munich"]
    assert site.raw_outputs["taskDefinitionArn"].startswith("arn:aws:ecs:")


def test_invoke_results_stay_known_at_preview() -> None:
    """get_caller_identity runs during a preview: what the program builds from it is known."""

    def program() -> None:
        account = aws.get_caller_identity_output().account_id
        aws.iam.Role(
            "reader",
            name="reader",
            assume_role_policy=account.apply(
                lambda a: json.dumps({"Principal": {"AWS": f"arn:aws:iam::{a}:root"}})
            ),
        )
        pulumi.export("account", account)

    stack = StackFile("invoke", Path("inline"), {"aws:region": "eu-central-1"})
    captured = capture(stack, program=program, mode="preview")
    role = next(r for r in captured.resources if r.name == "reader")
    assert "123456789012" in role.raw_inputs["assumeRolePolicy"]
    assert captured.root is not None
    assert captured.root.raw_outputs["account"] == "123456789012"
    assert is_unknown(role.raw_outputs["arn"])
