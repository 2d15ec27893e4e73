"""Outputs of the program that users rely on: install commands (secret) and the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pulumi
from pulumi.runtime.sync_await import _sync_await

from components.orchestrator import dag_files
from components.platform import Platform, build_platform
from hybridctl.capture import Capture, _reset_runtime, capture
from hybridctl.mocks import PlatformMocks
from hybridctl.stackfile import PROJECT_DIR, load
from tests.program.conftest import PROD, of_type, one, stack_with

SCHEMA = json.loads((PROJECT_DIR / "docs" / "sites-manifest.schema.json").read_text())
NETWORK_SCHEMA = json.loads((PROJECT_DIR / "docs" / "sites-network.schema.json").read_text())


def build_prod() -> tuple[Platform, dict[str, Any]]:
    """Build the platform directly (not through __main__) and resolve the outputs under test."""
    _reset_runtime()
    pulumi.runtime.set_mocks(
        PlatformMocks("eu-central-1"), project="hybrid-airflow", stack="prod", preview=False
    )
    built: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        platform = build_platform(load(PROD).typed(), PROJECT_DIR / "dags")
        built["platform"] = platform
        munich = platform.sites["munich"]
        assert munich.install_command is not None
        return pulumi.Output.all(munich.install_command, munich.activation_expires).apply(
            lambda values: built.update(command=values[0], expires=values[1])
        )

    program()
    _reset_runtime()
    return built["platform"], built


def test_install_command_is_a_secret_with_everything_an_admin_needs() -> None:
    platform, built = build_prod()
    munich = platform.sites["munich"]
    assert munich.install_command is not None
    assert _sync_await(munich.install_command.is_secret()) is True
    command = built["command"]
    assert "ecs-anywhere-install.sh --region eu-central-1 --cluster hybrid-prod-munich " in command
    assert "--activation-id " in command
    assert "--activation-code offline-" in command
    assert """ECS_INSTANCE_ATTRIBUTES={"site":"munich"}""" in command
    assert "--replace" in built["expires"]
    assert platform.sites["hq"].install_command is None


def test_prod_manifest_content(prod: Capture) -> None:
    text = prod.manifest_text()
    assert text is not None
    manifest = json.loads(text)
    jsonschema.validate(manifest, SCHEMA)
    assert {k: v for k, v in manifest.items() if k != "sites"} == {
        "version": 2,
        "environment": "prod",
        "region": "eu-central-1",
        "cluster": "hybrid-prod-shared",
        "dags": {"pausedOnCreation": False},
    }
    sites = {s["name"]: s for s in manifest["sites"]}
    assert list(sites) == ["hq", "munich", "dublin"]
    munich = sites["munich"]
    assert munich == {
        "name": "munich",
        "kind": "onprem",
        "residency": "regulated",
        "region": "eu-central-1",
        "cluster": "hybrid-prod-munich",
        "launchType": "EXTERNAL",
        "taskDefinitionFamily": "hybrid-prod-munich-etl",
        "containerName": "etl",
        "logs": {
            "group": "/hybrid/prod/munich/etl",
            "region": "eu-central-1",
            "streamPrefix": "etl/etl",
        },
        "secretId": one(prod, "aws:secretsmanager/secret:Secret", "munich").inputs["name"],
        "lakePrefix": "munich",
        "glueDatabase": "hybrid_prod_munich",
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:site == munich"}],
        "extracts": [
            {
                "name": "patients",
                "query": "SELECT id, ward, admitted_at, discharged_at FROM admissions",
                "schedule": "0 3 * * *",
                "keyPrefix": "munich/patients",
                "incremental": None,
            }
        ],
    }
    assert sites["dublin"]["region"] == "eu-west-1"
    assert sites["dublin"]["cluster"] == "hybrid-prod-dublin"
    hq = sites["hq"]
    assert hq["launchType"] == "FARGATE"
    assert hq["placementConstraints"] == []
    assert [e["keyPrefix"] for e in hq["extracts"]] == ["hq/customers", "hq/orders"]
    assert [e["incremental"] for e in hq["extracts"]] == [
        None,
        {"column": "created_at", "start": "2026-11-01"},
    ]
    assert hq["extracts"][1]["query"] == (
        "SELECT id, customer_id, total, currency, created_at FROM orders "
        "WHERE created_at >= :interval_start AND created_at < :interval_end"
    )
    assert {s["glueDatabase"] for s in sites.values()} == {
        one(prod, "aws:glue/catalogDatabase:CatalogDatabase", name).inputs["name"] for name in sites
    }


def test_manifest_holds_only_values_the_program_writes(prod: Capture) -> None:
    """No provider-computed value (ARN, id, auto-name) in the manifest: it is known at preview."""
    computed = {
        str(value)
        for r in prod.resources
        for key, value in {**r.outputs, "id": r.id}.items()
        if (key in ("id", "arn", "arnWithoutRevision", "keyId") or key not in r.inputs)
        and value not in r.inputs.values()  # e.g. a log group's id is its name, an input
        and isinstance(value, str)
    } - {"", prod.region}
    text = prod.manifest_text()
    assert text is not None
    leaked = sorted(value for value in computed if len(value) > 8 and value in text)
    assert leaked == []


def test_network_file_carries_the_fargate_network(prod: Capture) -> None:
    text = prod.network_text()
    assert text is not None
    network = json.loads(text)
    jsonschema.validate(network, NETWORK_SCHEMA)
    private_subnets = sorted(
        r.id for r in of_type(prod, "aws:ec2/subnet:Subnet") if "-private-" in r.name
    )
    etl_sg = next(
        r.id
        for r in of_type(prod, "aws:ec2/securityGroup:SecurityGroup")
        if r.name.endswith("-etl")
    )
    vpc = network["awsvpcConfiguration"]
    assert sorted(vpc["subnets"]) == private_subnets
    assert len(private_subnets) == 2
    assert vpc["securityGroups"] == [etl_sg]
    assert vpc["assignPublicIp"] == "DISABLED"


def test_manifest_and_dags_are_uploaded_beside_each_other(prod: Capture) -> None:
    objects = {
        r.inputs["key"]: r
        for r in prod.resources
        if r.type == "aws:s3/bucketObjectv2:BucketObjectv2"
    }
    assert "dags/sites-manifest.json" in objects
    assert "dags/sites-network.json" in objects
    assert "requirements.txt" in objects
    for path in dag_files(PROJECT_DIR / "dags"):
        assert f"dags/{path.relative_to(PROJECT_DIR / 'dags').as_posix()}" in objects
    mwaa = one(prod, "aws:mwaa/environment:Environment", None)
    assert mwaa.inputs["dagS3Path"] == "dags"
    assert (
        mwaa.inputs["requirementsS3ObjectVersion"]
        == objects["requirements.txt"].outputs["versionId"]
    )


def test_dag_files_skip_caches_docs_and_a_local_manifest(tmp_path: Path) -> None:
    for name in (
        "hybrid_sites.py",
        "lib/manifest.py",
        "README.md",
        "requirements.txt",
        "sites-manifest.json",
        "__pycache__/x.pyc",
        ".airflowignore",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in dag_files(tmp_path)] == [
        ".airflowignore",
        "hybrid_sites.py",
        "lib/manifest.py",
    ]


def test_dags_paused_on_creation_follows_the_stack_config() -> None:
    def pause(config: dict[str, Any]) -> None:
        config["hybrid-airflow:platform"]["orchestrator"]["dagsPausedOnCreation"] = True

    text = capture(stack_with(pause)).manifest_text()
    assert text is not None
    assert json.loads(text)["dags"] == {"pausedOnCreation": True}
