"""hybridctl's private use of the Pulumi SDK is pinned: an SDK upgrade that renames or changes
any of it fails here, naming what changed, before it silently changes what `hybridctl check`
sees. Everything private is reached through hybridctl/sdk_internals.py."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import mocks, rpc
from pulumi.runtime import stack as runtime_stack

from hybridctl import sdk_internals
from hybridctl.capture import SECRET_SIG, SIG_KEY, capture
from hybridctl.stackfile import StackFile
from hybridctl.wire import is_unknown


def test_the_sdk_still_has_everything_hybridctl_uses() -> None:
    found = sdk_internals.problems()
    assert found == [], "Pulumi SDK changed under hybridctl:\n" + "\n".join(found)


def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpc, "_special_secret_sig", "changed")
    monkeypatch.delattr(runtime_stack, "run_in_stack")
    monkeypatch.setattr(mocks.MockMonitor, "make_urn", lambda self, parent, type_, name, x: "")
    found = sdk_internals.problems()
    assert (
        "pulumi.runtime.rpc._special_secret_sig is 'changed', expected "
        "'1b47061264138c4ac30d75fd1eb44270'" in found
    )
    assert "pulumi.runtime.stack.run_in_stack is gone" in found
    assert "MockMonitor.make_urn(...) now takes ['self', 'parent', 'type_', 'name', 'x']" in found


class Part(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Part", name, None, None)
        self.secret = pulumi.Output.secret("s3cr3t")
        self.register_outputs({"secret": self.secret})


def program() -> None:
    part = Part("part")
    import pulumi_aws as aws

    group = aws.cloudwatch.LogGroup(
        "logs",
        name="logs",
        region="eu-central-1",
        tags={"token": part.secret},
        opts=pulumi.ResourceOptions(parent=part),
    )
    aws.cloudwatch.LogStream("stream", log_group_name=group.arn, region="eu-central-1")
    pulumi.export("group", group.name)


def test_what_the_private_parts_do_for_hybridctl() -> None:
    """The behaviour capture relies on: run in a root stack (exports registered), engine URNs
    through make_urn, secrets marked on the wire, unknowns in preview, repeatable runs."""
    stack = StackFile("pins", Path("inline"), {"aws:region": "eu-central-1"})
    for _ in range(2):  # the runtime resets between runs
        up = capture(stack, program=program)
        by_name = {r.name: r for r in up.resources}
        assert by_name["logs"].urn == (
            "urn:pulumi:pins::hybrid-airflow::test:index:Part$"
            "aws:cloudwatch/logGroup:LogGroup::logs"
        )
        assert by_name["part"].urn == "urn:pulumi:pins::hybrid-airflow::test:index:Part::part"
        assert by_name["logs"].raw_inputs["tags"]["token"][SIG_KEY] == SECRET_SIG
        assert by_name["part"].raw_outputs["secret"][SIG_KEY] == SECRET_SIG
        assert up.root is not None
        assert up.root.raw_outputs == {"group": "logs"}
    preview = capture(stack, program=program, mode="preview")
    stream = next(r for r in preview.resources if r.name == "stream")
    assert is_unknown(stream.raw_inputs["logGroupName"])
