"""Incremental extracts and the Athena settings in the stack config (issue 13): every mistake
is named by site, extract and field, and reaches hybridctl as exit 2 with its line."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, Problem, parse_config
from tests.program.test_config import PLATFORM, site
from tests.program.test_stackfile import PROD_TEXT, line_of, plan, write

REGION = "eu-central-1"
INTERVAL_QUERY = (
    "SELECT id, total, created_at FROM orders "
    "WHERE created_at >= :interval_start AND created_at < :interval_end"
)
WHERE = "sites[0] (munich).extracts[0]"


def incremental(**overrides: Any) -> dict[str, Any]:
    extract: dict[str, Any] = {
        "name": "orders",
        "query": INTERVAL_QUERY,
        "schedule": "15 2 * * *",
        "incremental": {"column": "created_at", "start": "2026-11-01"},
    }
    extract.update(overrides)
    return extract


def issues(*extracts: dict[str, Any], platform: Any = PLATFORM) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        parse_config(REGION, platform, [site(extracts=list(extracts))])
    return caught.value.issues


def test_an_incremental_extract_parses() -> None:
    config = parse_config(REGION, PLATFORM, [site(extracts=[incremental()])])
    (extract,) = config.sites[0].extracts
    assert extract.incremental is not None
    assert extract.incremental.column == "created_at"
    assert extract.incremental.start == datetime.date(2026, 11, 1)


@pytest.mark.parametrize(
    "query",
    [
        # any case, quoted, qualified; parameters in any order, a WITH, comments
        "SELECT * FROM t WHERE CREATED_AT < :interval_end AND CREATED_AT >= :interval_start",
        "SELECT * FROM t WHERE `created_at` >= :interval_start AND `created_at` < :interval_end",
        "WITH w AS (SELECT * FROM t WHERE t.created_at >= :interval_start "
        "AND t.created_at < :interval_end) SELECT * FROM w -- ':x' in a comment",
    ],
)
def test_incremental_queries_that_pass(query: str) -> None:
    parse_config(REGION, PLATFORM, [site(extracts=[incremental(query=query)])])


@pytest.mark.parametrize(
    ("extract", "expected"),
    [
        (
            {"name": "orders", "query": INTERVAL_QUERY},
            [
                (
                    "query",
                    "uses named parameters (:interval_start, :interval_end) but only an "
                    "incremental extract gets any: add `incremental: {column, start}` to bind "
                    ":interval_start and :interval_end to the run's data interval, or remove them",
                )
            ],
        ),
        (
            {"name": "orders", "query": "SELECT * FROM t WHERE id > :last_id"},
            [("query", "uses named parameters (:last_id) but only an incremental extract")],
        ),
        (
            incremental(query="SELECT * FROM t WHERE created_at >= :interval_start"),
            [("query", "both :interval_start and :interval_end; missing :interval_end")],
        ),
        (
            incremental(query="SELECT * FROM t WHERE created_at > CURRENT_DATE"),
            [("query", "missing :interval_start, :interval_end")],
        ),
        (
            incremental(query=INTERVAL_QUERY + " AND region = :region"),
            [("query", "named parameters :region have no value")],
        ),
        (
            incremental(query=INTERVAL_QUERY.replace(":interval_end", "':interval_end'")),
            [("query", "missing :interval_end")],  # quoted: a string, not a parameter
        ),
        (
            incremental(schedule=None),
            [("schedule", "an incremental extract needs a schedule")],
        ),
        (
            incremental(schedule="@once"),
            [("schedule", "'@once' makes one run with no data interval")],
        ),
        (
            incremental(schedule="@continuous"),
            [("schedule", "'@continuous' starts a run as soon as the last ends")],
        ),
        (
            incremental(incremental={"column": "updated_at", "start": "2026-11-01"}),
            [("incremental.column", "'updated_at' does not appear in the query")],
        ),
        (
            incremental(incremental={"column": "created", "start": "2026-11-01"}),
            [("incremental.column", "'created' does not appear in the query")],
        ),
        (
            incremental(incremental={"column": "created_at; DROP", "start": "2026-11-01"}),
            [("incremental.column", "must be a column name")],
        ),
        (
            incremental(incremental={"column": "created_at", "start": "2026-02-30"}),
            [("incremental.start", "'2026-02-30' is not a calendar date")],
        ),
        (
            incremental(incremental={"column": "created_at", "start": "2026-11-01T00:00:00Z"}),
            [("incremental.start", "is not a date written YYYY-MM-DD")],
        ),
        (
            incremental(incremental={"column": "created_at", "start": 20261101}),
            [("incremental.start", "must be a date written YYYY-MM-DD")],
        ),
        (
            incremental(incremental={"column": "created_at"}),
            [("incremental.start", "is required")],
        ),
        (
            incremental(incremental={"colum": "created_at", "start": "2026-11-01"}),
            [
                ("incremental.column", "is required"),
                ("incremental.colum", "is not a known field; did you mean 'column'?"),
            ],
        ),
        (
            incremental(incremental="created_at"),
            [("incremental", "must be a mapping of fields")],
        ),
        (
            # every problem of one extract at once, even with its incremental block broken
            incremental(
                query="SELECT * FROM t WHERE a >= :interval_start AND b = :b",
                schedule=None,
                incremental={"column": "created_at", "start": "tomorrow"},
            ),
            [
                ("incremental.start", "is not a date written YYYY-MM-DD"),
                ("query", "missing :interval_end"),
                ("query", "named parameters :b have no value"),
                ("schedule", "an incremental extract needs a schedule"),
                ("incremental.column", "'created_at' does not appear in the query"),
            ],
        ),
    ],
)
def test_incremental_mistakes_name_site_extract_and_field(
    extract: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    found = issues(extract)
    assert len(found) == len(expected), [str(p) for p in found]
    for problem, (field, message) in zip(found, expected, strict=True):
        assert problem.where == f"{WHERE}.{field}"
        assert message in problem.message, problem.message
        assert problem.key == "hybrid-airflow:sites"
        assert problem.path == (0, "extracts", 0, *field.split("."))


def test_a_broken_site_still_reports_its_extracts_parameters() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            REGION,
            PLATFORM,
            [site(kind="edge", extracts=[{"name": "x", "query": "SELECT :a"}])],
        )
    assert [p.where for p in caught.value.issues] == [
        "sites[0] (munich).kind",
        "sites[0] (munich).extracts[0].query",
    ]


@pytest.mark.parametrize(
    ("athena", "expected"),
    [
        ({"bytesScannedCutoffGb": 0}, "platform.athena.bytesScannedCutoffGb: must be between 1"),
        ({"bytesScannedCutoffGb": "ten"}, "platform.athena.bytesScannedCutoffGb: must be a whole"),
        (
            {"bytesScanedCutoffGb": 10},
            "platform.athena.bytesScanedCutoffGb: is not a known field; did you mean "
            "'bytesScannedCutoffGb'?",
        ),
    ],
)
def test_athena_settings_are_checked(athena: dict[str, Any], expected: str) -> None:
    (problem,) = issues(incremental(), platform={**PLATFORM, "athena": athena})
    assert str(problem).startswith(expected), str(problem)


def test_the_athena_cutoff_defaults_to_10_gb() -> None:
    config = parse_config(REGION, PLATFORM, [site()])
    assert config.platform.athena.bytes_scanned_cutoff == 10 * 10**9


# --- through hybridctl, from a stack file -------------------------------------------------


def test_hybridctl_exits_2_with_the_line_of_each_mistake(tmp_path: Path) -> None:
    text = PROD_TEXT.replace("FROM customers\n", "FROM customers WHERE id > :min_id\n", 1).replace(
        "column: created_at ", "column: created_on ", 1
    )
    assert text.count(":min_id") == 1
    assert "created_on" in text
    code, out, err = plan(write(tmp_path, text))
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    query_line = line_of(text, "query: SELECT id, name, email")
    column_line = line_of(text, "column: created_on")
    assert (
        f"line {query_line}: sites[0] (hq).extracts[0].query: uses named parameters (:min_id)"
        in err
    )
    assert (
        f"line {column_line}: sites[0] (hq).extracts[1].incremental.column: 'created_on' does "
        "not appear in the query" in err
    )
    assert "invalid stack config (2 problems)" in err
