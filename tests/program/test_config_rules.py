"""The mistakes of issue 11 that used to pass: each is now refused, naming site and field."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import (
    ConfigError,
    Secrets,
    parse_config,
    parse_stack_config,
)
from tests.program.test_config import PLATFORM, site

REGION = "eu-central-1"


def problems_of(sites: list[Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(REGION, PLATFORM, sites, **kwargs)
    return caught.value.problems


def extract(**overrides: Any) -> dict[str, Any]:
    return {"name": "x", "query": "SELECT 1", **overrides}


# --- names: full match, ASCII only --------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "munich\n"}, "name"),
        ({"region": "eu-central-1\n"}, "region"),
        ({"region": "eu-central-\u0661"}, "region"),  # ARABIC-INDIC DIGIT ONE
        ({"region": "eu-central-\uff11"}, "region"),  # FULLWIDTH DIGIT ONE
        ({"extracts": [extract(name="x\n")]}, "extracts[0].name"),
    ],
)
def test_names_match_in_full_and_in_ascii(overrides: dict[str, Any], field: str) -> None:
    (problem,) = problems_of([site(**overrides)])
    assert problem.startswith("sites[0] (munich")
    assert f").{field}: " in problem


def test_environment_must_match_in_full() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(REGION, {"environment": "prod\n"}, [site()])
    assert caught.value.problems[0].startswith("platform.environment: must be 2-12")


# --- collisions after normalisation -------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (
            site(name="plant-a", residency="standard"),
            site(name="plant--a", residency="standard"),
            "sites[1] (plant--a).name: collides with sites[0] (plant-a): both become IAM "
            "statement id 'RunTaskPlantA'; rename one of them",
        ),
        (
            site(name="plant-a1", residency="standard"),
            site(name="plant-a-1", residency="standard"),
            "sites[1] (plant-a-1).name: collides with sites[0] (plant-a1): both become IAM "
            "statement id 'RunTaskPlantA1'; rename one of them",
        ),
        (
            # Different schedules: one DAG per extract, etl_ab__x, which is site ab--x's DAG.
            site(
                name="ab",
                extracts=[extract(name="x"), extract(name="y", schedule="@hourly")],
            ),
            site(name="ab--x", residency="standard"),
            "sites[1] (ab--x).name: collides with sites[0] (ab): both become Airflow DAG id "
            "'etl_ab__x'; rename one of them",
        ),
    ],
)
def test_names_that_collide_after_normalisation_name_both_sites(
    first: dict[str, Any], second: dict[str, Any], expected: str
) -> None:
    assert problems_of([first, second]) == [expected]


def test_a_regulated_site_cannot_take_the_shared_clusters_name() -> None:
    assert problems_of([site(name="shared")]) == [
        "sites[0] (shared).name: its ECS cluster name 'hybrid-prod-shared' is already the "
        "shared platform's; choose another name"
    ]


def test_distinct_names_do_not_collide() -> None:
    config = parse_config(
        REGION, PLATFORM, [site(name="plant-a"), site(name="plant-b"), site(name="planta")]
    )
    assert [s.name for s in config.sites] == ["plant-a", "plant-b", "planta"]


# --- schedules as Airflow reads them ------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("0 25 * * *", "is not a cron expression Airflow accepts"),
        ("60 * * * *", "is not a cron expression Airflow accepts"),
        ("*/0 * * * *", "is not a cron expression Airflow accepts"),
        ("H * * * *", "is not a cron expression Airflow accepts"),
        ("@reboot", "is not a cron expression Airflow accepts"),
        ("0 \uff12 * * *", "is not a cron expression Airflow accepts"),
        ("* * * * * *", "has 6 fields"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_schedules_airflow_refuses_or_that_never_run_are_refused(
    schedule: str, reason: str
) -> None:
    (problem,) = problems_of([site(extracts=[extract(schedule=schedule)])])
    assert problem.startswith("sites[0] (munich).extracts[0].schedule: ")
    assert reason in problem


@pytest.mark.parametrize(
    "schedule",
    [
        None,
        "@once",
        "@continuous",
        "@daily",
        "@quarterly",
        "@midnight",
        "0 2 * * MON-FRI",
        "15 2 L * *",
    ],
)
def test_schedules_airflow_accepts_pass(schedule: str | None) -> None:
    config = parse_config(REGION, PLATFORM, [site(extracts=[extract(schedule=schedule)])])
    assert config.sites[0].extracts[0].schedule == schedule


# --- queries: the ETL's own check ---------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id FROM t WHERE note LIKE '%;%'",
        "SELECT id FROM t -- a comment; with a semicolon",
        "WITH r AS (SELECT 1 AS a) SELECT a FROM r;",
        "SELECT REPLACE(name, 'a', 'b') FROM t",
    ],
)
def test_queries_the_etl_accepts_pass(query: str) -> None:
    parse_config(REGION, PLATFORM, [site(extracts=[extract(query=query)])])


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "SELECT ... INTO"),
        ("SELECT * INTO @v FROM t", "SELECT ... INTO"),
        ("DELETE FROM t", "starts with 'DELETE'"),
        ("SELECT 1; DELETE FROM t", "only one statement"),
        ("SELECT * FROM t FOR UPDATE", "FOR UPDATE takes row locks"),
        ("SELECT /*! SLEEP(1) */ 1", "executable comments"),
    ],
)
def test_queries_the_etl_refuses_are_refused(query: str, reason: str) -> None:
    (problem,) = problems_of([site(extracts=[extract(query=query)])])
    assert problem.startswith("sites[0] (munich).extracts[0].query: the ETL would refuse it: ")
    assert reason in problem


# --- secrets ------------------------------------------------------------------------------

DATABASE = {"host": "h", "name": "d", "username": "u", "password": "hunter2"}


def test_a_plaintext_password_is_refused_with_the_exact_secret_command() -> None:
    sites = [site(name="hq", residency="standard"), site(database=DATABASE)]
    (problem,) = problems_of(sites, secrets=Secrets(paths=frozenset()), stack="prod")
    assert problem == (
        "sites[1] (munich).database.password: is plain text in the stack config; delete it and "
        "store it encrypted with: pulumi config set --secret --path "
        "'hybrid-airflow:sites[1].database.password' --stack prod  (it prompts for the value)"
    )
    assert "hunter2" not in problem


def test_a_secret_password_passes_known_by_path_or_by_key() -> None:
    by_path = Secrets(paths=frozenset({("hybrid-airflow:sites", 0, "database", "password")}))
    by_key = Secrets(keys=frozenset({"hybrid-airflow:sites"}))  # what the program knows
    for secrets in (by_path, by_key):
        config = parse_config(REGION, PLATFORM, [site(database=DATABASE)], secrets=secrets)
        assert config.sites[0].database is not None


def test_a_database_without_password_is_allowed() -> None:
    database = {k: v for k, v in DATABASE.items() if k != "password"}
    config = parse_config(REGION, PLATFORM, [site(database=database)])
    assert config.sites[0].database is not None
    assert config.sites[0].database.password is None


# --- unknown and moved keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"residncy": "regulated"},
            "sites[0] (munich).residncy: is not a known field; did you mean 'residency'?",
        ),
        (
            {"database": {"hots": "h", "host": "h", "name": "d", "username": "u"}},
            "sites[0] (munich).database.hots: is not a known field; did you mean 'host'?",
        ),
        (
            {"extracts": [extract(schedul="@daily")]},
            "sites[0] (munich).extracts[0].schedul: is not a known field; did you mean 'schedule'?",
        ),
        (
            {"activation": {"expiresIn": 3}},
            "sites[0] (munich).activation.expiresIn: is not a known field; did you mean 'expiresInDays'?",
        ),
    ],
)
def test_unknown_site_fields_get_a_did_you_mean(overrides: dict[str, Any], expected: str) -> None:
    problems = problems_of([site(**overrides)])
    assert expected in problems


def test_allowed_regions_in_the_stack_config_points_at_the_policy_config() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(REGION, {**PLATFORM, "allowedRegions": ["eu-central-1"]}, [site()])
    (problem,) = caught.value.problems
    assert problem.startswith("platform.allowedRegions: is no longer read from the stack config")
    assert "policies/config.<stack>.json" in problem


def test_unknown_platform_field_gets_a_did_you_mean() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(REGION, {**PLATFORM, "dataLakes": {}}, [site()])
    assert caught.value.problems == [
        "platform.dataLakes: is not a known field; did you mean 'dataLake'?"
    ]


def stack_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "aws:region": REGION,
        "hybrid-airflow:platform": PLATFORM,
        "hybrid-airflow:sites": [site()],
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def stack_problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    return caught.value.problems


def test_a_typo_in_the_sites_key_is_refused_not_read_as_no_sites() -> None:
    values = stack_values(**{"hybrid-airflow:sites": None, "hybrid-airflow:sties": [site()]})
    assert stack_problems(values) == [
        "hybrid-airflow:sties: is not a key the program reads; did you mean "
        "'hybrid-airflow:sites'?",
        "hybrid-airflow:sites: is required: a stack without sites says so explicitly with "
        "`sites: []` (and `pulumi up` then removes every site)",
    ]


def test_a_wrong_project_prefix_is_refused() -> None:
    values = stack_values(**{"hybrid-airflow:sites": None, "hybrid-airfow:sites": [site()]})
    problems = stack_problems(values)
    assert problems[0] == (
        "hybrid-airfow:sites: unknown namespace 'hybrid-airfow'; did you mean "
        "'hybrid-airflow:sites'?"
    )
    assert problems[1].startswith("hybrid-airflow:sites: is required")


def test_other_namespaces_are_refused_but_aws_and_pulumi_pass() -> None:
    assert stack_problems(stack_values(**{"random:seed": "1"})) == [
        "random:seed: unknown namespace 'random' (the program reads hybrid-airflow:, aws:, "
        "pulumi: keys only)"
    ]
    parse_stack_config(stack_values(**{"aws:profile": "x", "pulumi:tags": {"a": "b"}}))


def test_an_empty_stack_is_written_explicitly() -> None:
    config = parse_stack_config(stack_values(**{"hybrid-airflow:sites": []}))
    assert config.sites == ()


@pytest.mark.parametrize(
    ("retired", "expected"),
    [
        ("dublin", "retiredSites: must be a list of site names"),
        (["Dublin"], "retiredSites[0]: must be DNS-safe"),
        (["dublin", "dublin"], "retiredSites[1]: repeats 'dublin'"),
        (["munich"], "sites[0] (munich).name: is in hybrid-airflow:retiredSites"),
    ],
)
def test_retired_sites_are_names_not_in_use(retired: Any, expected: str) -> None:
    (problem,) = problems_of([site()], retired_sites=retired)
    assert problem.startswith(expected)


def test_retired_sites_are_kept_in_order() -> None:
    config = parse_config(REGION, PLATFORM, [site()], ["old-a", "old-b"])
    assert config.retired_sites == ("old-a", "old-b")
