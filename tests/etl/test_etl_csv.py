"""The CSV dialect: NULL and "" differ; any text round-trips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from etl.rows import CsvEncoder
from tests.support.etl_output import parse_csv

values = st.one_of(st.none(), st.text(max_size=20))


def roundtrip(rows: list[tuple[str | None, ...]]) -> list[list[str | None]]:
    enc = CsvEncoder(len(rows[0]))
    return parse_csv(enc.encode(rows).decode("utf-8"))


def test_null_and_empty_string_differ() -> None:
    data = CsvEncoder(3).encode([(None, "", "x"), ("", None, None)])
    assert data == b',"","x"\r\n"",,\r\n'


def test_single_column_null_is_an_empty_line() -> None:
    data = CsvEncoder(1).encode([(None,), ("",), ("a",)])
    assert data == b'\r\n""\r\n"a"\r\n'
    assert parse_csv(data.decode()) == [[None], [""], ["a"]]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5).flatmap(lambda n: st.lists(st.tuples(*[values] * n), min_size=1, max_size=10))
)
def test_roundtrip(rows: list[tuple[str | None, ...]]) -> None:
    assert roundtrip(rows) == [list(r) for r in rows]
