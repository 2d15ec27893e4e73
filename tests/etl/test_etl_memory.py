"""The allocator tuning (etl.memory) starts no process: a fork of the whole ETL mid-run (as
``ctypes.util.find_library`` does, running ``ldconfig -p``) costs time and shows as a doubled
RSS to whoever samples the process tree (benchmarks/etl_throughput.py saw 251 MB once)."""

from __future__ import annotations

import subprocess
import sys

from tests.etl.conftest import ETL_DIR

PROBE = """
import ctypes.util, os, subprocess
def refuse(*a, **k):
    raise AssertionError("a process was started")
subprocess.Popen = refuse
os.fork = refuse
os.posix_spawn = refuse
from etl import memory
memory.tune_allocators()
memory.trim()
memory.release_memory()
assert memory._libc() is not None
print("trimmed")
"""


def test_trimming_memory_starts_no_process() -> None:
    res = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ETL_DIR, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "trimmed"
