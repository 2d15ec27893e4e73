"""Part file formats: what the encoder thread turns batches of CSV bytes into.

An encoder makes one file at a time: ``open()`` starts it, ``write(batch)`` feeds it a batch of
rows in the ETL's CSV dialect, ``close()`` ends it; each returns the file bytes it produced so
far (possibly none). ``pending_raw`` is the batch bytes taken in but not yet reflected in
that output (a Parquet row group being gathered), so the reader can estimate file sizes.

The gzip encoder uses ISA-L (``isal``) or zlib-ng when installed, else zlib: all three release
the GIL while they compress, so compression runs beside the row reader on another core.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Protocol

from etl.rows import RawBatch

_GZIP_WBITS = 31  # deflate with gzip framing


class Encoder(Protocol):
    name: str
    extension: str
    content_type: str
    pending_raw: int
    initial_ratio: float  # encoded / raw bytes to assume until the first output
    takes_raw: bool  # accepts packet batches (write_raw) from the wire reader

    def open(self) -> bytes | bytearray: ...

    def write(self, data: bytes) -> bytes | bytearray: ...

    def write_raw(self, batch: RawBatch) -> bytes | bytearray: ...

    def close(self) -> bytes | bytearray: ...


def gzip_backend(name: str = "auto") -> tuple[str, Any]:
    """(name, compressobj factory) of the fastest gzip library present, or the one named."""
    candidates = ("isal", "zlib-ng", "zlib") if name == "auto" else (name,)
    for candidate in candidates:
        try:
            if candidate == "isal":
                from isal import isal_zlib

                return candidate, lambda level: isal_zlib.compressobj(
                    min(level, isal_zlib.ISAL_BEST_COMPRESSION), isal_zlib.DEFLATED, _GZIP_WBITS
                )
            if candidate == "zlib-ng":
                from zlib_ng import zlib_ng

                return candidate, lambda level: zlib_ng.compressobj(
                    level, zlib_ng.DEFLATED, _GZIP_WBITS
                )
        except ImportError:
            continue
        if candidate == "zlib":
            return candidate, lambda level: zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    raise ValueError(f"gzip library {name!r} is not installed")


class GzipCsvEncoder:
    """Gzip CSV: the batches as they are, after a header row; one gzip member per file."""

    extension = ".csv.gz"
    content_type = "text/csv; charset=utf-8"
    pending_raw = 0
    initial_ratio = 0.35

    def __init__(
        self,
        header: bytes,
        level: int,
        backend: str = "auto",
        *,
        ncols: int = 0,
        binary: Sequence[int] = (),
        vector: bool = False,
    ) -> None:
        self.header = header
        self.level = level
        self.backend, self._factory = gzip_backend(backend)
        self.name = f"gzip level {level} ({self.backend})"
        self._comp: Any = None
        self.ncols = ncols
        self.binary = frozenset(binary)
        # Packet batches become CSV in C++ (pyarrow's writer); needs numpy and pyarrow.
        self.takes_raw = vector
        self._csv_options: Any = None

    def open(self) -> bytes:
        self._comp = self._factory(self.level)
        return bytes(self._comp.compress(self.header))

    def write(self, data: bytes) -> bytes:
        return bytes(self._comp.compress(data))

    def write_raw(self, batch: RawBatch) -> bytes:
        """Packets -> columns (``etl.wirebatch``) -> the same CSV dialect, by pyarrow."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        from etl import wirebatch

        if self._csv_options is None:
            self._csv_options = pcsv.WriteOptions(
                include_header=False, quoting_style="all_valid", eol="\r\n"
            )
        arrays = []
        for i, (start, length, valid) in enumerate(wirebatch.locate(batch, self.ncols)):
            if i in self.binary:
                arrays.append(wirebatch.hex_array(batch.data, start, length, valid))
            else:
                view = wirebatch.view_array(batch.data, start, length, valid, binary=False)
                arrays.append(view.cast(pa.string()))
        table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(self.ncols)])
        sink = pa.BufferOutputStream()
        pcsv.write_csv(table, sink, self._csv_options)
        return bytes(self._comp.compress(sink.getvalue()))

    def close(self) -> bytes:
        out = bytes(self._comp.flush())
        self._comp = None
        return out
