"""The pack started as the engine starts it (`python -m pulumi.policy <engine> <pack dir>`, the
pack folder as working directory, the port on stdout) and driven over gRPC: its config is found,
compliance's levels cannot be lowered, and one AnalyzeStack builds one evaluation."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pulumi_policy.policy
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from benchmarks.check_scale import analyze_stack_request, pack_servicer, run_pack
from hybridctl.capture import Capture
from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp
from tests.policies.conftest import prod_config

MANDATORY, ADVISORY, DISABLED = analyzer_pb2.MANDATORY, analyzer_pb2.ADVISORY, analyzer_pb2.DISABLED


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PULUMI_STACK", hp.CONFIG_ENV)}
    return {**env, **extra}


@contextmanager
def pack(**env: str) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)],
        cwd=PACK_DIR,
        env=_environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port:
            raise AssertionError(process.communicate(timeout=30)[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=30)


def failed_start(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)],
        cwd=PACK_DIR,
        env=_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert result.stdout == ""  # no port: the engine reports the error
    return result.stderr


def configure(levels: dict[str, int]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    return analyzer_pb2.ConfigureAnalyzerRequest(
        policyConfig={
            name: analyzer_pb2.PolicyConfig(enforcementLevel=level)
            for name, level in levels.items()
        }
    )


def test_the_engine_cannot_lower_compliance_levels() -> None:
    with pack(PULUMI_STACK="prod") as stub:
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
        assert len(info.policies) == len(hp.POLICIES)
        levels = {p.name: p.enforcementLevel for p in info.policies}
        assert levels["regulated-sites-isolated"] == MANDATORY
        with pytest.raises(grpc.RpcError) as error:
            stub.Configure(
                configure(
                    {
                        **levels,
                        "regulated-sites-isolated": ADVISORY,
                        "regulated-data-egress": DISABLED,
                    }
                )
            )
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "regulated-data-egress (disabled), regulated-sites-isolated (advisory)" in (
            error.value.details()
        )
        assert "config.prod.json" in error.value.details()
        # Raising a level and disabling an advisory policy are fine.
        stub.Configure(
            configure({**levels, "ecr-scan-on-push": DISABLED, "log-retention": MANDATORY})
        )
        # The refused Configure changed nothing: a regulated FARGATE task is still mandatory.
        response = stub.Analyze(regulated_fargate_task())
        [diagnostic] = [
            d for d in response.diagnostics if d.policyName == "regulated-tasks-external-only"
        ]
        assert diagnostic.enforcementLevel == MANDATORY


def regulated_fargate_task() -> analyzer_pb2.AnalyzeRequest:
    props = struct_pb2.Struct()
    props.update(
        {
            "family": "hybrid-prod-munich-etl",
            "requiresCompatibilities": ["FARGATE"],
            "tags": {"site": "munich", "residency": "regulated"},
            "region": "eu-central-1",
        }
    )
    urn = (
        "urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site$"
        "aws:ecs/taskDefinition:TaskDefinition::hybrid-prod-munich-etl"
    )
    return analyzer_pb2.AnalyzeRequest(
        type="aws:ecs/taskDefinition:TaskDefinition",
        properties=props,
        urn=urn,
        name="hybrid-prod-munich-etl",
        options=analyzer_pb2.AnalyzerResourceOptions(
            parent="urn:pulumi:prod::hybrid-airflow::hybrid:platform:Site::munich"
        ),
    )


def test_the_readme_form_of_the_variable_works_from_the_pack_folder() -> None:
    with pack(**{hp.CONFIG_ENV: "policies/config.prod.json"}) as stub:
        response = stub.Analyze(regulated_fargate_task())
        assert {d.policyName for d in response.diagnostics} >= {"regulated-tasks-external-only"}


def test_policy_analyze_without_a_stack_needs_the_variable() -> None:
    stderr = failed_start()
    assert f"set {hp.CONFIG_ENV}" in stderr
    assert "Traceback" not in stderr


def test_a_broken_config_stops_the_pack_naming_the_field(tmp_path: Any) -> None:
    broken = tmp_path / "c.json"
    broken.write_text('{"allowedRegions": ["eu-west-1"]}', encoding="utf-8")
    stderr = failed_start(**{hp.CONFIG_ENV: str(broken)})
    assert "sites: required" in stderr
    assert "Traceback" not in stderr


def test_one_analyze_stack_builds_one_evaluation(prod_capture: Capture) -> None:
    """pulumi_policy calls each stack policy with freshly deserialised resources; the session
    still builds one evaluation per AnalyzeStack, and a new one for the next."""
    servicer, session = pack_servicer(prod_config())
    diagnostics, _ = run_pack(servicer, prod_capture)
    assert diagnostics == 0
    assert session.created == 1
    servicer.AnalyzeStack(analyze_stack_request(prod_capture), None)
    assert session.created == 2
    # pulumi_policy's own servicer deserialises the stack again for every stack policy: the
    # session still recognises one evaluation.
    stock = servicer._servicer
    stock.AnalyzeStack(analyze_stack_request(prod_capture), None)
    assert session.created == 3


def test_the_pack_servicer_reports_what_pulumi_policys_reports(prod_capture: Capture) -> None:
    """Same diagnostics, levels and texts as pulumi_policy's servicer, request by request."""
    from benchmarks.check_scale import analyze_requests
    from tests.policies.conftest import run_program
    from tests.policies.test_preview import hq_policy_from_a_secret_arn

    # A first preview with unknowns in it: fail-closed violations and advisory notes.
    captured = run_program(hq_policy_from_a_secret_arn, mode="preview")
    servicer, _ = pack_servicer(prod_config())

    def seen(response: Any) -> list[tuple[str, str, int, str]]:
        return sorted(
            (d.policyName, d.message, d.enforcementLevel, d.urn) for d in response.diagnostics
        )

    requests = list(analyze_requests(captured))
    assert requests
    for request in requests:
        assert seen(servicer.Analyze(request, None)) == seen(
            servicer._servicer.Analyze(request, None)
        )
    stack = analyze_stack_request(captured)
    ours = seen(servicer.AnalyzeStack(stack, None))
    assert ours
    assert ours == seen(servicer._servicer.AnalyzeStack(stack, None))


def test_the_server_is_built_as_pulumi_policy_builds_it() -> None:
    """serve() repeats PolicyPack.__init__ with the servicer wrapped: fail loudly on an upgrade
    of pulumi_policy that changes how it builds and serves its servicer."""
    source = inspect.getsource(pulumi_policy.policy.PolicyPack.__init__)
    assert "servicer = _PolicyAnalyzerServicer(" in source
    assert "add_AnalyzerServicer_to_server(" in source
    assert 'add_insecure_port(address="127.0.0.1:0")' in source
    assert "options=_GRPC_CHANNEL_OPTIONS" in source
    parameters = list(inspect.signature(pulumi_policy.policy._PolicyAnalyzerServicer).parameters)
    assert parameters == [
        "name",
        "version",
        "policies",
        "enforcement_level",
        "initial_config",
        "description",
        "display_name",
        "readme",
        "provider",
        "tags",
        "repository",
    ]
