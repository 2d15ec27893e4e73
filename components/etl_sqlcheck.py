"""Accept exactly one read-only statement: ``SELECT ...`` or ``WITH ... SELECT ...``.

The check is lexical, not a full SQL parser. It understands MySQL quoting ('...', "...",
`...`, backslash escapes, doubled quotes) and comments (``-- ``, ``#``, ``/* */``), so
keywords and semicolons inside strings, identifiers or comments don't count. It is one layer
of three: the statement also runs in a ``READ ONLY`` transaction, over a connection without
multi-statement support, as a user that should only have ``SELECT``.

Named parameters (``:name`` outside quotes and comments, as in ``WHERE t >= :interval_start``)
are listed in ``CheckedQuery.parameters``, and every occurrence's place in ``CheckedQuery.sql``
in ``CheckedQuery.placeholders``, so that a caller can rewrite them into its driver's
placeholder style (``CheckedQuery.with_placeholders``); they are bound through the driver,
never spliced.

Standard library only and no imports from the rest of ``etl``: the stack config checks extract
queries with an identical copy (``components/etl_sqlcheck.py``), so that config and ETL accept
and refuse exactly the same statements. A test keeps the copies identical.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9_$@]+")
_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_SPACE = " \t\r\n\f\v"

# Words that never belong in a read-only SELECT (they are reserved in MySQL/MariaDB, so a
# column of that name must be quoted, and quoted names are not words here).
_FORBIDDEN = {
    "INSERT": "INSERT writes data",
    "UPDATE": "UPDATE writes data (or FOR UPDATE takes locks)",
    "DELETE": "DELETE writes data",
    "CREATE": "CREATE changes the schema",
    "DROP": "DROP changes the schema",
    "ALTER": "ALTER changes the schema",
    "TRUNCATE": "TRUNCATE deletes data",
    "RENAME": "RENAME changes the schema",
    "GRANT": "GRANT changes privileges",
    "REVOKE": "REVOKE changes privileges",
    "CALL": "CALL runs a stored procedure",
    "LOAD": "LOAD writes data",
    "HANDLER": "HANDLER is not a SELECT",
    "LOCK": "LOCK IN SHARE MODE / LOCK TABLES take locks",
    "UNLOCK": "UNLOCK is not a SELECT",
    "INTO": "SELECT ... INTO (OUTFILE, DUMPFILE or variables) writes outside the result set",
}


class QueryRejected(ValueError):
    """The query is not one read-only SELECT (the ETL exits 2, the stack config is invalid)."""


@dataclass(frozen=True)
class Placeholder:
    """One occurrence of ``:name`` in ``CheckedQuery.sql``: ``sql[start:end] == ":" + name``."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class CheckedQuery:
    original: str
    sql: str  # comments removed, trailing ';' removed: safe to wrap in a subquery
    sha256: str  # of the original text, UTF-8
    parameters: tuple[str, ...] = ()  # named parameters (:name), in order of first use
    placeholders: tuple[Placeholder, ...] = ()  # every occurrence, in order

    def with_placeholders(
        self, placeholder: Callable[[str], str], text: Callable[[str], str] = str
    ) -> str:
        """``sql`` with each ``:name`` replaced by ``placeholder(name)`` and every other piece
        of it passed through ``text`` (e.g. to double ``%`` for a driver's pyformat style)."""
        pieces, at = [], 0
        for p in self.placeholders:
            pieces += [text(self.sql[at : p.start]), placeholder(p.name)]
            at = p.end
        pieces.append(text(self.sql[at:]))
        return "".join(pieces)


@dataclass(frozen=True)
class _Token:
    kind: str  # word, quoted, punct, param
    text: str
    depth: int
    offset: int = 0  # in the comment-free text _scan returns


def _reject(reason: str) -> QueryRejected:
    return QueryRejected(f"query rejected: {reason}")


def _scan(sql: str) -> tuple[str, list[_Token]]:
    out: list[str] = []
    tokens: list[_Token] = []
    i, n, depth = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in "'\"`":
            j = i + 1
            while True:
                if j >= n:
                    what = "identifier" if c == "`" else "string"
                    raise _reject(f"unterminated quoted {what} starting at offset {i}")
                d = sql[j]
                if d == "\\" and c != "`":
                    j += 2
                    continue
                if d == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            tokens.append(_Token("quoted", sql[i : j + 1], depth))
            i = j + 1
        elif c == "#" or (sql.startswith("--", i) and (i + 2 == n or sql[i + 2] in _SPACE)):
            j = sql.find("\n", i)
            i = n if j == -1 else j
            out.append(" ")
        elif sql.startswith("/*", i):
            if sql.startswith("/*!", i) or sql.startswith("/*M!", i):
                raise _reject(
                    "executable comments (/*! ... */, /*M! ... */) are not allowed: the server "
                    "runs their content"
                )
            j = sql.find("*/", i + 2)
            if j == -1:
                raise _reject(f"unterminated /* comment starting at offset {i}")
            i = j + 2
            out.append(" ")
        elif c in _SPACE:
            out.append(c)
            i += 1
        elif (
            c == ":"
            and (param := _PARAM.match(sql, i))
            and not (i > 0 and (sql[i - 1] == ":" or _WORD.match(sql[i - 1])))
        ):
            tokens.append(_Token("param", param.group(1), depth, sum(map(len, out))))
            out.append(param.group())
            i = param.end()
        else:
            m = _WORD.match(sql, i)
            if m:
                out.append(m.group())
                tokens.append(_Token("word", m.group().upper(), depth))
                i = m.end()
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    raise _reject("unbalanced parentheses")
            tokens.append(_Token("punct", c, depth))
            out.append(c)
            i += 1
    if depth != 0:
        raise _reject("unbalanced parentheses")
    return "".join(out), tokens


def check_query(text: str) -> CheckedQuery:
    """Return the query to run, or raise ``QueryRejected`` saying why it is not allowed."""
    if not text or not text.strip():
        raise _reject("the query is empty")
    stripped, tokens = _scan(text)
    semis = [k for k, t in enumerate(tokens) if t.kind == "punct" and t.text == ";"]
    if semis:
        if semis != [len(tokens) - 1]:
            raise _reject(
                "only one statement is allowed; found ';' followed by more SQL "
                "(multiple statements)"
            )
        tokens = tokens[:-1]
        stripped = stripped.rstrip()
        assert stripped.endswith(";")
        stripped = stripped[:-1]
    sql = stripped.strip()
    if not tokens:
        raise _reject("the query is empty (only comments)")

    word_at = [k for k, t in enumerate(tokens) if t.kind == "word"]
    words = [tokens[k] for k in word_at]
    first = next((t for t in tokens if not (t.kind == "punct" and t.text == "(")), None)
    if first is None or first.kind != "word" or first.text not in ("SELECT", "WITH"):
        got = first.text if first is not None else ""
        raise _reject(
            f"only SELECT or WITH ... SELECT statements are allowed; this one starts with {got!r}"
        )

    for k, t in enumerate(words):
        nxt = words[k + 1].text if k + 1 < len(words) else ""
        if t.text == "FOR" and nxt in ("UPDATE", "SHARE"):
            raise _reject(f"FOR {nxt} takes row locks; the ETL only reads")
        if t.text == "LOCK" and nxt == "IN":
            raise _reject("LOCK IN SHARE MODE takes row locks; the ETL only reads")
        if t.text == "REPLACE":
            idx = word_at[k]
            follows = tokens[idx + 1] if idx + 1 < len(tokens) else None
            if follows is None or follows.text != "(":
                raise _reject("REPLACE writes data")  # REPLACE(...) the function is fine
        elif t.text in _FORBIDDEN:
            raise _reject(_FORBIDDEN[t.text])

    if first.text == "WITH":
        base = first.depth
        main = next(
            (
                t
                for t in words[1:]
                if t.depth == base and t.text in ("SELECT", "TABLE", "VALUES", "DO", "SET")
            ),
            None,
        )
        if main is None or main.text != "SELECT":
            raise _reject("WITH must be followed by a SELECT")

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    lead = len(stripped) - len(stripped.lstrip())  # what strip() took off the front
    placeholders = tuple(
        Placeholder(t.text, t.offset - lead, t.offset - lead + 1 + len(t.text))
        for t in tokens
        if t.kind == "param"
    )
    assert all(sql[p.start : p.end] == ":" + p.name for p in placeholders)
    return CheckedQuery(
        original=text,
        sql=sql,
        sha256=digest,
        parameters=tuple(dict.fromkeys(p.name for p in placeholders)),
        placeholders=placeholders,
    )
