"""Stream rows from an unbuffered cursor into part files on S3 (gzip CSV or Parquet).

Three threads per process, joined by small bounded queues, so memory stays flat whatever the
size of the result:

    reader (caller's thread)  row packets -> batches of CSV bytes (``etl.rows``)
    encoder                   gzip (ISA-L/zlib-ng/zlib) or Parquet (pyarrow): off the GIL
    uploader                  S3 multipart parts of ``upload_part_bytes``, sha256 per file

The reader decides where a part file ends (``part_max_rows``, or ``part_max_bytes`` from the
encoder's output so far and its ratio), so files end at batch boundaries.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from etl.config import Tuning
from etl.encoders import Encoder
from etl.errors import Cancelled, EtlError
from etl.log import Log
from etl.rows import RawBatch, RowSource
from etl.s3sink import PartFile, PartWriter
from etl.source import redact
from etl.stop import signals_blocked


@dataclass
class ExtractResult:
    columns: list[dict[str, Any]]  # manifest entries
    parts: list[PartFile] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    raw_bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for a worker's report to its supervisor."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExtractResult:
        return cls(**{**d, "parts": [PartFile(**p) for p in d["parts"]]})


_END = ("end",)


class Extractor:
    """One stream of rows to one or more part files."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        run_prefix: str,
        tuning: Tuning,
        log: Log,
        next_part_number: Callable[[], int],
        encoder: Encoder,
        check: Callable[[], None] = lambda: None,
        grace: Callable[[], float] = lambda: 30.0,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.run_prefix = run_prefix
        self.tuning = tuning
        self.log = log
        self.next_part_number = next_part_number
        self.encoder = encoder
        # ``check`` raises (Terminated, Cancelled) when the run must stop; every wait below
        # calls it at least every 0.2 s. ``grace`` bounds the wait for the helper threads
        # once the run is stopping (the stop budget left, after a signal).
        self.check = check
        self.grace = grace
        self.raw_q: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=tuning.queue_batches)
        self.up_q: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=1)
        # One S3 part in flight (queued or uploading) while the next one fills: memory stays
        # at about two upload parts whatever the speed of S3.
        self.in_flight = threading.Semaphore(1)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self.file_bytes = 0  # compressed bytes of the current file so far
        self.file_raw_done = 0  # ... and the raw bytes they came from
        self.file_number = -1  # the file the compressor is on
        self.reader_file = -1  # the file the reader is on
        self.ratio = encoder.initial_ratio  # encoded / raw bytes, last seen
        self.total_bytes = 0
        self.parts: list[PartFile] = []

    # -- plumbing -------------------------------------------------------------------------

    def _fail(self, e: BaseException) -> None:
        with self._lock:
            if self.error is None or (
                isinstance(self.error, Cancelled) and not isinstance(e, Cancelled)
            ):
                self.error = e
        self.stop.set()

    def _safe_point(self) -> None:
        if self.stop.is_set():
            raise Cancelled("stopped after a failure elsewhere in the run")
        self.check()

    def _put(self, q: queue.Queue[tuple[Any, ...]], item: tuple[Any, ...]) -> None:
        while True:
            self._safe_point()
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _acquire_slot(self) -> None:
        while not self.in_flight.acquire(timeout=0.2):
            self._safe_point()

    def _get(self, q: queue.Queue[tuple[Any, ...]]) -> tuple[Any, ...]:
        while True:
            try:
                return q.get(timeout=0.2)
            except queue.Empty:
                self._safe_point()

    def _compressor(self) -> None:
        part_size = self.tuning.upload_part_bytes
        enc = self.encoder
        # Encoded bytes gather in a bytearray handed to the uploader as is (no join copy).
        pending = bytearray()
        try:
            while True:
                item = self._get(self.raw_q)
                kind = item[0]
                if kind in ("data", "raw"):
                    if kind == "raw":
                        out = enc.write_raw(item[1])
                        self.file_raw_done += item[1].size
                    else:
                        out = enc.write(item[1])
                        self.file_raw_done += len(item[1])
                    if out:
                        pending += out
                        self.file_bytes += len(out)
                        if len(pending) >= part_size:
                            self._acquire_slot()
                            self._put(self.up_q, ("part", pending))
                            pending = bytearray()
                elif kind == "open":
                    pending = bytearray(enc.open())
                    self.file_bytes = len(pending)
                    self.file_raw_done = 0
                    self.file_number = item[1].number
                    self._put(self.up_q, item)
                elif kind == "close":
                    out = enc.close()
                    pending += out
                    self.file_bytes += len(out)
                    if self.file_raw_done:  # the whole file's ratio, for the next file
                        self.ratio = self.file_bytes / self.file_raw_done
                    self._acquire_slot()
                    self._put(self.up_q, ("close", pending, item[1]))
                    pending = bytearray()
                else:
                    self._put(self.up_q, _END)
                    return
        except BaseException as e:
            self._fail(e)

    def _uploader(self) -> None:
        writer: PartWriter | None = None
        try:
            while True:
                item = self._get(self.up_q)
                kind = item[0]
                if kind == "part":
                    assert writer is not None
                    writer.upload(item[1])
                    self.in_flight.release()
                elif kind == "open":
                    writer = PartWriter(self.s3, self.bucket, item[1], self.encoder.content_type)
                elif kind == "close":
                    assert writer is not None
                    part = writer.finish(item[1], item[2])
                    self.in_flight.release()
                    writer = None
                    self.total_bytes += part.bytes
                    self.parts.append(part)
                    self.log.info(
                        "part", key=part.key, rows=part.rows, bytes=part.bytes, sha256=part.sha256
                    )
                else:
                    return
        except BaseException as e:
            self._fail(e)
            if writer is not None:
                writer.abort()

    def _estimated_size(self, raw_in_file: int) -> float:
        """Compressed size of the current file once what is queued is compressed too."""
        if self.file_number != self.reader_file:  # the compressor is still on the last file
            return raw_in_file * self.ratio
        # Raw bytes whose encoded form is out (a Parquet row group in the making is not).
        done_raw = self.file_raw_done - self.encoder.pending_raw
        done = self.file_bytes
        if done_raw > 0 and done:
            self.ratio = done / done_raw
        return done + max(0, raw_in_file - done_raw) * self.ratio

    def _join(self, threads: list[threading.Thread]) -> None:
        """Wait for the helper threads: as long as they work while the run goes on (the last
        upload), at most ``grace()`` seconds once it is stopping. A thread still stuck in an S3
        call then is left behind (daemon); the run's cleanup sweeps after it."""
        deadline: float | None = None
        while any(t.is_alive() for t in threads):
            if deadline is None:
                try:
                    self._safe_point()
                except BaseException as e:
                    self._fail(e)
                if self.stop.is_set():
                    deadline = time.monotonic() + self.grace()
            elif time.monotonic() >= deadline:
                self.log.warning(
                    "threads_abandoned", threads=[t.name for t in threads if t.is_alive()]
                )
                return
            for t in threads:
                t.join(timeout=0.1)

    # -- reader ---------------------------------------------------------------------------

    def _open_file(self) -> None:
        number = self.next_part_number()
        self.reader_file = number
        key = f"{self.run_prefix}part-{number:05d}{self.encoder.extension}"
        self._put(self.raw_q, ("open", PartFile(number=number, key=key)))

    def run(self, rows: RowSource) -> ExtractResult:
        """Stream everything ``rows`` yields; raise the first error of any thread."""
        result = ExtractResult(columns=[])
        threads = [
            threading.Thread(target=self._compressor, name="etl-compress", daemon=True),
            threading.Thread(target=self._uploader, name="etl-upload", daemon=True),
        ]
        with signals_blocked():  # stop signals go to the main thread, whose reads they interrupt
            for t in threads:
                t.start()
        started = time.monotonic()
        next_progress = started + self.tuning.progress_seconds
        fetch_size = self.tuning.fetch_size
        max_rows = self.tuning.part_max_rows
        max_bytes = self.tuning.part_max_bytes
        rows_in_file = raw_in_file = 0
        next_raw = getattr(rows, "next_raw", None) if self.encoder.takes_raw else None
        try:
            self._open_file()  # even an empty result gets a file (CSV header, Parquet schema)
            file_open = True
            while True:
                self._safe_point()
                n = min(fetch_size, max_rows - rows_in_file) if max_rows else fetch_size
                got = next_raw(n) if next_raw else rows.next_batch(n)
                if got is None:
                    break
                if isinstance(got, RawBatch):  # packets: the encoder takes them apart
                    item: tuple[Any, ...] = ("raw", got)
                    size, count = got.size, got.rows
                else:
                    item = ("data", got[0])
                    size, count = len(got[0]), got[1]
                if file_open is False:
                    self._open_file()
                    file_open = True
                result.raw_bytes += size
                self._put(self.raw_q, item)
                rows_in_file += count
                raw_in_file += size
                result.rows += count
                if (max_rows and rows_in_file >= max_rows) or self._estimated_size(
                    raw_in_file
                ) >= max_bytes:
                    self._put(self.raw_q, ("close", rows_in_file))
                    rows_in_file = raw_in_file = 0
                    file_open = False  # the next file opens with the next row
                now = time.monotonic()
                if now >= next_progress:
                    next_progress = now + self.tuning.progress_seconds
                    elapsed = now - started
                    self.log.info(
                        "progress",
                        rows=result.rows,
                        raw_bytes=result.raw_bytes,
                        bytes=self.total_bytes + self.file_bytes,
                        seconds=round(elapsed, 3),
                        rows_per_s=round(result.rows / elapsed) if elapsed else None,
                    )
            if file_open:
                self._put(self.raw_q, ("close", rows_in_file))
            self._put(self.raw_q, _END)
        except BaseException as e:
            self._fail(e)
        self._join(threads)
        if self.error is not None:
            err = self.error
            if not isinstance(err, EtlError):  # quoted literals may be row values
                raise EtlError(f"internal error: {redact(f'{type(err).__name__}: {err}')}")
            raise err
        result.parts = sorted(self.parts, key=lambda p: p.number)
        result.bytes = sum(p.bytes for p in result.parts)
        result.seconds = time.monotonic() - started
        return result
