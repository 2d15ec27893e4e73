"""Row packets to Arrow columns without a Python step per value.

A batch is a buffer of complete text-protocol row packets and the offset of each packet's
payload (found by the row reader, one Python step per row). Each column is then located in all
rows at once with numpy: the length byte of column ``k`` of every row, the value's start and
length, NULL where the length byte is 0xFB, and the position of column ``k + 1``. The values
become an Arrow ``string_view``/``binary_view`` array pointing into the batch buffer (no copy of
long values), which pyarrow casts to the column's type or writes as CSV in C++.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from etl.rows import RawBatch

_NULL, _LEN2, _LEN3, _LEN8 = 251, 252, 253, 254
_HEX = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), np.uint8).reshape(256, 2)


def locate(batch: RawBatch, ncols: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(starts, lengths, valid) of every column, each an array over the batch's rows."""
    b = np.frombuffer(batch.data, np.uint8)
    p = np.array(batch.payloads, np.int64)
    out = []
    for _ in range(ncols):
        first = b[p].astype(np.int64)
        valid = first != _NULL
        length = np.where(first < _NULL, first, 0)
        start = p + 1
        if (first > _NULL).any():  # values of 251 bytes or more: a 2, 3 or 8 byte length
            for code, size in ((_LEN2, 2), (_LEN3, 3), (_LEN8, 8)):
                rows = np.flatnonzero(first == code)
                if rows.size:
                    n = np.zeros(rows.size, np.int64)
                    for i in range(size):
                        n |= b[p[rows] + 1 + i].astype(np.int64) << (8 * i)
                    length[rows] = n
                    start[rows] = p[rows] + 1 + size
        out.append((start, length, valid))
        p = start + length
    return out


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    if valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def view_array(
    data: bytes, start: np.ndarray, length: np.ndarray, valid: np.ndarray, *, binary: bool
) -> pa.Array:
    """The values as a ``string_view`` (or ``binary_view``) array over ``data``."""
    b = np.frombuffer(data, np.uint8)
    rows = start.size
    views = np.zeros((rows, 16), np.uint8)
    words = views.view(np.int32)
    words[:, 0] = length
    # Bytes 4-16: the value when it fits in 12 bytes (zero-padded), else its 4-byte prefix.
    # Whole-column gathers, one per byte position up to the longest value: no boolean masks
    # (they cost half the CSV encoder's time) and no temporary larger than one column.
    shortest, longest = (int(length.min()), min(int(length.max()), 12)) if rows else (0, 0)
    last = max(len(b) - 1, 0)
    for j in range(longest):
        if j < shortest:  # every value has byte j
            views[:, 4 + j] = b[start + j]
        else:
            views[:, 4 + j] = np.where(length > j, b[np.minimum(start + j, last)], 0)
    long = length > 12
    if long.any():
        words[long, 2] = 0  # buffer 0: the batch
        words[long, 3] = start[long]
    typ = pa.binary_view() if binary else pa.string_view()
    return pa.Array.from_buffers(
        typ, rows, [_validity(valid), pa.py_buffer(views), pa.py_buffer(data)]
    )


def hex_array(data: bytes, start: np.ndarray, length: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Binary values as lowercase hex text (the CSV form)."""
    b = np.frombuffer(data, np.uint8)
    length = np.where(valid, length, 0)
    total = int(length.sum())
    ends = np.cumsum(length)
    if total:
        # index of every value byte: the value's start, then +1, +2, ...
        idx = np.repeat(start - (ends - length), length) + np.arange(total, dtype=np.int64)
        text = _HEX[b[idx]].reshape(-1)
    else:
        text = np.zeros(0, np.uint8)
    offsets = np.zeros(start.size + 1, np.int64)
    offsets[1:] = ends * 2
    return pa.Array.from_buffers(
        pa.large_string(),
        start.size,
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(text)],
    )
