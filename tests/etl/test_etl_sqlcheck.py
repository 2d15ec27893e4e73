"""The SQL gate: one read-only SELECT, with a clear reason for everything else."""

from __future__ import annotations

import pytest

from etl.sqlcheck import QueryRejected, check_query

ACCEPTED = [
    ("SELECT 1", "SELECT 1"),
    ("select * from customers", "select * from customers"),
    ("SELECT * FROM customers;", "SELECT * FROM customers"),
    ("  SELECT id FROM t ;  -- trailing comment\n", "SELECT id FROM t"),
    ("-- leading comment\nSELECT 1", "SELECT 1"),
    ("# hash comment\nSELECT 1", "SELECT 1"),
    ("/* block */ SELECT /* inline */ 1", "SELECT   1"),
    ("WITH a AS (SELECT 1 AS x) SELECT x FROM a", None),
    (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n<5) SELECT * FROM r",
        None,
    ),
    ("(SELECT 1) UNION ALL (SELECT 2)", None),
    ("SELECT 'a;b', \"c;d\", `e;f` FROM t", None),
    ("SELECT 'it''s; fine', 'back\\'slash; too' FROM t", None),
    ("SELECT 'DELETE FROM x; DROP TABLE y' AS s", None),
    ("SELECT REPLACE(name, 'a', 'b') FROM t", None),
    ("SELECT `update`, `delete`, `into` FROM t", None),
    ("SELECT a--b FROM t", "SELECT a--b FROM t"),
    ("SELECT * FROM t FOR SYSTEM_TIME AS OF '2024-01-01'", None),
    ("SELECT CAST(x AS CHAR CHARACTER SET utf8mb4) FROM t", None),
    (
        "SELECT * FROM a JOIN b ON a.id = b.id WHERE a.x IN (SELECT y FROM c) ORDER BY 1 LIMIT 5",
        None,
    ),
]

REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("-- only a comment", "only comments"),
    ("DELETE FROM customers", "starts with 'DELETE'"),
    ("INSERT INTO t VALUES (1)", "starts with 'INSERT'"),
    ("UPDATE t SET a = 1", "starts with 'UPDATE'"),
    ("DROP TABLE t", "starts with 'DROP'"),
    ("SHOW TABLES", "starts with 'SHOW'"),
    ("SET @a = 1", "starts with 'SET'"),
    ("CALL p()", "starts with 'CALL'"),
    ("SELECT 1; SELECT 2", "multiple statements"),
    ("SELECT 1; DROP TABLE t", "multiple statements"),
    ("SELECT 1;;", "multiple statements"),
    ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "INTO"),
    ("SELECT * INTO DUMPFILE '/tmp/x' FROM t", "INTO"),
    ("SELECT id INTO @v FROM t", "INTO"),
    ("SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
    ("SELECT * FROM t for share", "FOR SHARE"),
    ("SELECT * FROM t LOCK IN SHARE MODE", "LOCK IN SHARE MODE"),
    ("WITH a AS (SELECT 1) DELETE FROM a", "DELETE"),
    ("WITH a AS (SELECT 1) UPDATE t SET x = 1", "UPDATE"),
    ("/*! DROP TABLE t */ SELECT 1", "executable comments"),
    ("SELECT 1 /*M!100000 , SLEEP(10) */", "executable comments"),
    ("SELECT 'unterminated", "unterminated"),
    ("SELECT 1 /* unterminated", "unterminated"),
    ("SELECT (1", "unbalanced"),
    ("SELECT 1)", "unbalanced"),
    ("REPLACE INTO t VALUES (1)", "REPLACE"),
    ("SELECT 1 -- hidden\n; DROP TABLE t", "multiple statements"),
]


@pytest.mark.parametrize(("sql", "normalized"), ACCEPTED)
def test_accepted(sql: str, normalized: str | None) -> None:
    checked = check_query(sql)
    assert checked.original == sql
    assert len(checked.sha256) == 64
    assert not checked.sql.endswith(";")
    if normalized is not None:
        assert checked.sql == normalized


@pytest.mark.parametrize(("sql", "reason"), REJECTED)
def test_rejected_with_reason(sql: str, reason: str) -> None:
    with pytest.raises(QueryRejected, match="query rejected") as info:
        check_query(sql)
    assert reason.lower() in str(info.value).lower()


def test_sha256_is_of_the_original_text() -> None:
    import hashlib

    sql = "SELECT 1 -- ü\n"
    assert check_query(sql).sha256 == hashlib.sha256(sql.encode()).hexdigest()


@pytest.mark.parametrize(
    ("sql", "parameters"),
    [
        ("SELECT * FROM t", ()),
        (
            "SELECT * FROM t WHERE at >= :interval_start AND at < :interval_end",
            ("interval_start", "interval_end"),
        ),
        ("SELECT :a, :b, :a FROM t", ("a", "b")),
        # Not parameters: inside strings, identifiers and comments, times, := assignments.
        ("SELECT ':no', `:no`, \"a:no\" FROM t -- :no\n", ()),
        ("SELECT '12:30' AS t, @x := 1 /* :no */", ()),
        ("SELECT a::b FROM t", ()),
    ],
)
def test_named_parameters_are_found_outside_quotes_and_comments(
    sql: str, parameters: tuple[str, ...]
) -> None:
    assert check_query(sql).parameters == parameters


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a = :a", "SELECT * FROM t WHERE a = %(a)s"),
        # every other % is doubled: PyMySQL formats the whole statement with %
        (
            "SELECT a % 2, '50%' FROM t WHERE b LIKE '%:x%' AND c = :x OR d = :x;",
            "SELECT a %% 2, '50%%' FROM t WHERE b LIKE '%%:x%%' AND c = %(x)s OR d = %(x)s",
        ),
        # comments go, and the positions still point at the placeholders
        ("/* :no */ -- :no\n  SELECT :a, :b # :no\n", "SELECT %(a)s, %(b)s"),
        ("SELECT 1", "SELECT 1"),
    ],
)
def test_placeholders_can_be_rewritten(sql: str, expected: str) -> None:
    checked = check_query(sql)
    assert all(checked.sql[p.start : p.end] == f":{p.name}" for p in checked.placeholders)
    rewritten = checked.with_placeholders(lambda n: f"%({n})s", lambda t: t.replace("%", "%%"))
    assert rewritten == expected
