"""The typed stack config: good configs parse, bad ones name every site and field at once."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config import ConfigError, parse_config

PLATFORM = {"environment": "prod"}


def site(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "munich",
        "kind": "onprem",
        "residency": "regulated",
        "region": "eu-central-1",
        "extracts": [{"name": "patients", "query": "SELECT 1"}],
    }
    base.update(overrides)
    return base


def problems(sites: list[Any], platform: Any = PLATFORM, region: Any = "eu-central-1") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(region, platform, sites)
    return caught.value.problems


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        (
            [
                site(),
                site(name="hq"),
                site(
                    database={
                        "host": "h",
                        "port": 70000,
                        "name": "d",
                        "username": "u",
                        "password": "p",
                    }
                ),
            ],
            [
                "sites[2] (munich).database.port: must be between 1 and 65535",
                "sites[2] (munich).name: duplicates sites[0]",
            ],
        ),
        (
            [site(name="Munich_1")],
            [
                "sites[0] (Munich_1).name: must be DNS-safe: 2-32 lowercase letters, digits and '-', starting with a letter"
            ],
        ),
        ([site(kind="edge")], ["sites[0] (munich).kind: must be 'onprem' or 'cloud'"]),
        (
            [site(residency="secret")],
            ["sites[0] (munich).residency: must be 'standard' or 'regulated'"],
        ),
        (
            [site(region="europe")],
            ["sites[0] (munich).region: 'europe' is not an AWS region name (like eu-central-1)"],
        ),
        (
            [site(launchType="ECS")],
            ["sites[0] (munich).launchType: must be 'EXTERNAL', 'FARGATE' or 'EC2'"],
        ),
        ([site(extracts=[])], ["sites[0] (munich).extracts: must not be empty"]),
        (
            [site(extracts=[{"name": "x", "query": "DELETE FROM patients"}])],
            [
                "sites[0] (munich).extracts[0].query: the ETL would refuse it: only SELECT or WITH ... SELECT statements are allowed; this one starts with 'DELETE'"
            ],
        ),
        (
            [site(extracts=[{"name": "x", "query": "SELECT 1; DROP TABLE t"}])],
            [
                "sites[0] (munich).extracts[0].query: the ETL would refuse it: only one statement is allowed; found ';' followed by more SQL (multiple statements)"
            ],
        ),
        (
            [site(extracts=[{"name": "x", "query": "SELECT 1", "schedule": "daily"}])],
            [
                "sites[0] (munich).extracts[0].schedule: 'daily' is not a cron expression Airflow accepts (Exactly 5, 6 or 7 columns has to be specified for iterator expression.); use five fields 'minute hour day-of-month month day-of-week' or a preset such as @daily"
            ],
        ),
        (
            [
                site(
                    extracts=[
                        {"name": "x", "query": "SELECT 1"},
                        {"name": "x", "query": "SELECT 2"},
                    ]
                )
            ],
            ["sites[0] (munich).extracts: extract names must be unique; repeated: x"],
        ),
        (
            [site(activation={"expiresInDays": 400})],
            ["sites[0] (munich).activation.expiresInDays: must be between 1 and 365"],
        ),
        (
            [site(activation={"registrationLimit": 0})],
            ["sites[0] (munich).activation.registrationLimit: must be between 1 and 1000"],
        ),
        (
            [site(database={"host": "h"})],
            [
                "sites[0] (munich).database.name: is required",
                "sites[0] (munich).database.username: is required",
            ],
        ),
        (
            [site(colour="blue")],
            [
                "sites[0] (munich).colour: is not a known field (known: name, kind, residency, region, database, extracts, launchType, activation)"
            ],
        ),
        (
            [site(kind="cloud", residency="standard", region="eu-west-1")],
            [
                "sites[0] (munich).region: FARGATE tasks run in the platform network in eu-central-1; use that region or launchType EXTERNAL"
            ],
        ),
        (["munich"], ["sites[0]: must be a mapping of fields"]),
    ],
)
def test_bad_sites_are_reported_by_site_and_field(sites: list[Any], expected: list[str]) -> None:
    assert sorted(problems(sites)) == sorted(expected)


def test_every_problem_of_every_site_is_reported_at_once() -> None:
    found = problems(
        [site(kind="edge"), site(name="b2", region="nowhere", extracts=[]), site(name="ok")],
        platform={
            "environment": "prod",
            "orchestrator": {"minWorkers": 3, "maxWorkers": 2},
        },
    )
    assert found == [
        "platform.orchestrator: minWorkers and maxWorkers must satisfy 1 <= min <= max <= 25",
        "sites[0] (munich).kind: must be 'onprem' or 'cloud'",
        "sites[1] (b2).region: 'nowhere' is not an AWS region name (like eu-central-1)",
        "sites[1] (b2).extracts: must not be empty",
    ]


@pytest.mark.parametrize(
    ("platform", "region", "expected"),
    [
        (None, "eu-central-1", "hybrid-airflow:platform: is required"),
        (
            PLATFORM,
            None,
            "aws:region: is required and must be an AWS region name (like eu-central-1)",
        ),
        (
            {**PLATFORM, "orchestrator": {"airflowVersion": "2.10.3"}},
            "eu-central-1",
            "platform.orchestrator.airflowVersion: must be an MWAA Airflow 3 version such as 3.3.1 (the DAGs use 3.x)",
        ),
        (
            {**PLATFORM, "network": {"cidr": "8.8.0.0/16"}},
            "eu-central-1",
            "platform.network.cidr: must be a private (RFC 1918) range",
        ),
        (
            {**PLATFORM, "logRetentionDays": 10},
            "eu-central-1",
            "platform.logRetentionDays: must be one of CloudWatch's retention periods: (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)",
        ),
    ],
)
def test_bad_platform(platform: Any, region: Any, expected: str) -> None:
    assert problems([site()], platform=platform, region=region) == [expected]


def test_launch_type_follows_kind_and_residency_unless_overridden() -> None:
    config = parse_config(
        "eu-central-1",
        PLATFORM,
        [
            site(name="office", residency="standard"),
            site(name="hq", kind="cloud", residency="standard"),
            site(name="othercloud", kind="cloud", residency="regulated", region="eu-west-1"),
            site(name="forced", launchType="FARGATE"),
        ],
    )
    launch = {s.name: s.effective_launch_type for s in config.sites}
    assert launch == {
        "office": "EXTERNAL",
        "hq": "FARGATE",
        "othercloud": "EXTERNAL",
        "forced": "FARGATE",
    }
    assert [s.name for s in config.sites if s.has_own_cluster] == ["othercloud", "forced"]


def test_queries_lose_a_trailing_semicolon_and_defaults_apply() -> None:
    raw = site(extracts=[{"name": "x", "query": "  SELECT a FROM t ;  "}])
    config = parse_config("eu-central-1", copy.deepcopy(PLATFORM), [raw])
    assert config.sites[0].extracts[0].query == "SELECT a FROM t"
    assert config.sites[0].extracts[0].schedule == "@daily"
    assert config.sites[0].activation.expires_in_days == 30
    assert config.platform.orchestrator.webserver_access_mode == "PRIVATE_ONLY"
