"""Row packets taken apart by numpy (etl.wirebatch) give exactly what Arrow's own builders give.

The CSV and Parquet paths both read every value through these views, so a wrong inline byte,
prefix or offset would corrupt the lake quietly; Arrow's ``validate(full=True)`` and its own
``string_view`` builder are the reference.
"""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from etl import wirebatch
from etl.rows import RawBatch

NULL = object()


def length_encoded(value: bytes) -> bytes:
    """The text protocol's length-encoded string (MySQL's lenenc_str)."""
    n = len(value)
    if n < 251:
        return bytes([n]) + value
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little") + value
    return b"\xfd" + n.to_bytes(3, "little") + value


def packets(rows: list[list[object]]) -> RawBatch:
    """Rows as text-protocol row packets (4-byte header, then the columns)."""
    data = bytearray(b"junk")  # payload offsets need not start at 0
    payloads = []
    for seq, row in enumerate(rows):
        payload = b"".join(b"\xfb" if v is NULL else length_encoded(v) for v in row)  # type: ignore[arg-type]
        data += len(payload).to_bytes(3, "little") + bytes([seq % 256])
        payloads.append(len(data))
        data += payload
    return RawBatch(bytes(data), payloads, len(data) - 4)


values = st.one_of(
    st.just(NULL),
    st.binary(max_size=20),  # around the 12-byte inline limit
    st.binary(min_size=240, max_size=300),  # across the 1- to 3-byte length prefix
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.lists(values, min_size=n, max_size=n))))
def test_views_match_arrows_own_builder(rows: list[list[object]]) -> None:
    if not rows:
        return
    batch = packets(rows)
    ncols = len(rows[0])
    for col, (start, length, valid) in enumerate(wirebatch.locate(batch, ncols)):
        expected = [None if r[col] is NULL else r[col] for r in rows]
        got = wirebatch.view_array(batch.data, start, length, valid, binary=True)
        got.validate(full=True)
        assert got.to_pylist() == expected
        reference = pa.array(expected, pa.binary_view())
        mine, theirs = got.buffers()[1].to_pybytes(), reference.buffers()[1].to_pybytes()
        for i, value in enumerate(expected):
            view, want = mine[16 * i : 16 * i + 16], theirs[16 * i : 16 * i + 16]
            if value is None:
                continue
            if len(value) <= 12:
                assert view == want, f"row {i}: inline view (length, bytes, zero padding)"
            else:
                assert view[:8] == want[:8], f"row {i}: length and 4-byte prefix"


def test_string_views_cast_to_the_same_text() -> None:
    rows = [["é€😀".encode(), NULL], [b"", b"x" * 13], [b"twelve bytes", "ü".encode() * 200]]
    batch = packets(rows)  # type: ignore[arg-type]
    for col, (start, length, valid) in enumerate(wirebatch.locate(batch, 2)):
        text = wirebatch.view_array(batch.data, start, length, valid, binary=False)
        expected = [None if r[col] is NULL else r[col].decode() for r in rows]  # type: ignore[union-attr]
        assert text.cast(pa.string()).to_pylist() == expected
