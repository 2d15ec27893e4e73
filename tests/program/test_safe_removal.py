"""What outlives a removal: protected key, secret and log group; lake rules of retired sites;
and a program that refuses the config typo that would have removed every site."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hybridctl.capture import Capture, ProgramError, capture
from hybridctl.stackfile import load
from tests.program.conftest import PROD, of_type, one, stack_with

KEPT_TYPES = {
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:glue/catalogDatabase:CatalogDatabase",
}


@pytest.fixture(scope="module")
def prod_options() -> tuple[Capture, dict[str, tuple[bool, bool]]]:
    """prod, and per URN the options the engine acts on: (protect, retainOnDelete)."""
    captured = capture(load(PROD))
    options = {r.urn: (r.options.protect, r.options.retain_on_delete) for r in captured.resources}
    return captured, options


def test_a_regulated_sites_key_secret_and_log_group_are_protected_and_retained(
    prod_options: tuple[Capture, dict[str, tuple[bool, bool]]],
) -> None:
    captured, options = prod_options
    protected = {(r.site, r.type) for r in captured.custom() if options[r.urn] == (True, True)}
    assert protected == {(site, t) for site in ("munich", "dublin") for t in KEPT_TYPES}
    # Nothing else is protected or retained: the rest of a removed site is really removed.
    others = [
        r.name for r in captured.custom() if options[r.urn] not in ((True, True), (False, False))
    ]
    assert others == []


def test_the_standard_sites_resources_are_not_protected(
    prod_options: tuple[Capture, dict[str, tuple[bool, bool]]],
) -> None:
    captured, options = prod_options
    hq = [r for r in captured.custom() if r.site == "hq"]
    assert hq
    assert {options[r.urn] for r in hq} == {(False, False)}


def lifecycle_rules(captured: Capture) -> dict[str, Any]:
    rules = one(
        captured, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", None
    ).inputs["rules"]
    return {r["id"]: (r["filter"]["prefix"], r.get("expiration", {}).get("days")) for r in rules}


def test_a_retired_sites_lake_prefix_keeps_its_retention_rule() -> None:
    def retire_dublin(config: dict[str, Any]) -> None:
        sites = config["hybrid-airflow:sites"]
        config["hybrid-airflow:sites"] = [s for s in sites if s["name"] != "dublin"]
        config["hybrid-airflow:retiredSites"] = ["dublin", "old-plant"]

    captured = capture(stack_with(retire_dublin))
    assert lifecycle_rules(captured) == {
        "abort-incomplete-uploads": ("", None),
        "retain-hq": ("hq/", 365),
        "retain-munich": ("munich/", 365),
        "retain-dublin": ("dublin/", 365),
        "retain-old-plant": ("old-plant/", 365),
        "expire-athena-results": ("_athena/", 7),
    }
    assert of_type(captured, "aws:ecs/taskDefinition:TaskDefinition", "dublin") == []
    manifest = json.loads(captured.manifest_text() or "{}")
    assert [s["name"] for s in manifest["sites"]] == ["hq", "munich"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c.update({"hybrid-airflow:sties": c.pop("hybrid-airflow:sites")}),
            "hybrid-airflow:sties: is not a key the program reads; did you mean "
            "'hybrid-airflow:sites'?",
        ),
        (
            lambda c: c.update({"hybrid-airfow:sites": c.pop("hybrid-airflow:sites")}),
            "unknown namespace 'hybrid-airfow'",
        ),
        (
            lambda c: c["hybrid-airflow:sites"][1].update(
                database={"host": "h", "name": "d", "username": "u", "password": "hunter2"}
            ),
            "pulumi config set --secret --path 'hybrid-airflow:sites[1].database.password' "
            "--stack test",
        ),
    ],
)
def test_the_program_itself_refuses_what_would_destroy_or_leak(edit: Any, message: str) -> None:
    """`pulumi up` runs the program, not hybridctl: the program fails instead of deploying."""
    with pytest.raises(ProgramError) as caught:
        capture(stack_with(edit))
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_program_reads_config_from_the_engines_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under the real engine config arrives as PULUMI_CONFIG, not set_all_config."""
    from pulumi.runtime import config as runtime_config

    from components.stack_config import all_config, secret_keys

    monkeypatch.setenv(
        "PULUMI_CONFIG",
        json.dumps({"hybrid-airflow:sties": "[]", "aws:region": "eu-central-1"}),
    )
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["hybrid-airflow:sties"]))
    token = runtime_config.CONFIG.set({})
    try:
        assert all_config() == {"hybrid-airflow:sties": [], "aws:region": "eu-central-1"}
        assert "hybrid-airflow:sties" in secret_keys()
    finally:
        runtime_config.CONFIG.reset(token)
