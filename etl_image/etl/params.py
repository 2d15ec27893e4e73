"""Named query parameters (``:name``) bound through PyMySQL, never spliced into the SQL.

The shared SQL check finds every ``:name`` outside quotes and comments
(``CheckedQuery.placeholders``). They become PyMySQL's ``%(name)s`` placeholders, and every
other ``%`` of the query (``LIKE '5%'``, ``a % b``) is doubled, since PyMySQL formats the whole
statement with ``%``. The statement is then always executed with a (possibly empty) dict of
values, so the doubled ``%`` are undone the same way whether the query has parameters or not.
PyMySQL escapes each value as a quoted string literal for the connection's character set and
SQL mode: a value can hold quotes, backslashes, ``%`` or ``:name`` and stays one literal.
"""

from __future__ import annotations

from collections.abc import Mapping

from etl.errors import UsageError
from etl.sqlcheck import CheckedQuery


def check_params(checked: CheckedQuery, params: Mapping[str, str]) -> None:
    """The query's placeholders must be exactly the parameters given (exit 2 otherwise)."""
    wanted, given = set(checked.parameters), set(params)
    if wanted == given:
        return
    problems = []
    missing = [n for n in checked.parameters if n not in given]
    unused = sorted(given - wanted)
    if missing:
        problems.append(
            "no value for " + ", ".join(f":{n}" for n in missing) + " (give --param NAME=VALUE)"
        )
    if unused:
        problems.append(
            "--param "
            + ", ".join(unused)
            + " given but the query has no "
            + ", ".join(f":{n}" for n in unused)
        )
    raise UsageError(
        "the query's named parameters must be exactly the --param values given: "
        + "; ".join(problems)
    )


def pyformat_sql(checked: CheckedQuery) -> str:
    """The query in PyMySQL's ``pyformat`` style: ``:name`` -> ``%(name)s``, ``%`` -> ``%%``.
    Run it with ``cursor.execute(sql, params)``, ``params`` a dict (empty when there are none)."""
    return checked.with_placeholders(
        lambda name: f"%({name})s", lambda text: text.replace("%", "%%")
    )
