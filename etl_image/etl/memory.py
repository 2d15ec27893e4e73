"""Keep the process's memory flat: what the allocators would otherwise hold on to.

glibc gives each thread that allocates its own arena (up to 8 per core), keeps freed memory in
each, and raises its mmap threshold (up to 32 MiB) each time a large block is freed, after which
the packet buffers, batches and upload parts the ETL churns through (0.25-8 MiB each) come from
the heap and fragment it instead of going back to the system. Arrow's allocator keeps freed
pages too. Neither grows without bound, but together they cost tens of MB over the data in
flight. Measured with ``benchmarks/etl_throughput.py`` (Parquet, 1M rows): 169-173 MB with
Arrow's mimalloc and glibc's dynamic threshold, 142 MB with the settings below, for a
throughput within the noise of a shared machine (etl_image/README.md, Performance).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from typing import Any

_M_MMAP_THRESHOLD = -3  # mallopt parameters (malloc.h)
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 * 1024
# Arrow's jemalloc: dirty pages back to the system after 1 s (0 s costs throughput: every free
# becomes a madvise), muzzy ones at once.
JEMALLOC_CONF = "dirty_decay_ms:1000,muzzy_decay_ms:0"


@functools.cache
def _libc() -> Any:
    """glibc, loaded once, by its soname first: ``ctypes.util.find_library`` runs
    ``ldconfig -p`` in a child process, and a fork of the whole ETL after start-up (for each
    ``trim``) costs time and shows as a doubled RSS to whoever samples the process tree."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        pass
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def tune_allocators(arenas: int = 2) -> None:
    """Call before any thread starts and before pyarrow is imported. Like MALLOC_ARENA_MAX=2
    and MALLOC_MMAP_THRESHOLD_=262144 (a fixed threshold: blocks above it are mapped and
    unmapped, never left in the heap), and Arrow on jemalloc with ``JEMALLOC_CONF``; each
    environment variable, when set, wins (ARROW_DEFAULT_MEMORY_POOL, JE_ARROW_MALLOC_CONF).

    Arrow reads both variables once, when its C++ code first asks for the default pool (the
    Parquet writer and the CSV reader do, whatever pyarrow's ``set_memory_pool`` says), hence
    the environment rather than a call after the import. A pyarrow without jemalloc warns and
    uses its own default."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    os.environ.setdefault("JE_ARROW_MALLOC_CONF", JEMALLOC_CONF)
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, arenas)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def trim() -> None:
    """Hand freed heap memory back to the system (after start-up's big temporary objects)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def release_memory() -> None:
    """Give back what the stream used, now (not after jemalloc's decay): Python's garbage,
    Arrow's unused pages, the heap's free top."""
    gc.collect()
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()
    trim()
