"""How many sites a stack can have before the Pulumi CLI cannot start the pack (nor the program).

The Python language host passes the whole stack config in one environment variable,
PULUMI_CONFIG, to the program (`Run`) and to a policy pack (`RunPlugin`); Linux refuses to start
a process with one environment string over 128 KiB (E2BIG). The harness starts the pack with the
environment the language host gives it, so the limit shows here as it does under the CLI.
README "Deploying for real" gives the numbers `benchmarks/engine_analyze.py` measures.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf import empty_pb2

from benchmarks.stacks import stack_with_sites
from hybridctl.stackfile import StackFile
from tests.engine.conftest import PACK_DIR, PROD_CONFIG, Packs
from tests.engine.engine_host import (
    LINUX_MAX_ENV_STRING,
    PackStartError,
    PolicyPack,
    StackContext,
)

VARIABLE = "PULUMI_CONFIG"


def variable_bytes(stack: StackFile) -> int:
    """The PULUMI_CONFIG string the language host sets, NAME=value and its NUL."""
    value = StackContext.of(stack, dry_run=True).environment()[VARIABLE]
    return len(f"{VARIABLE}={value}".encode()) + 1


def most_sites(fits: Callable[[int], bool]) -> int:
    low, high = 1, 2000
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def test_a_stack_config_over_linuxs_limit_cannot_start_the_pack(packs: Packs) -> None:
    largest = most_sites(lambda n: variable_bytes(stack_with_sites(n)) <= LINUX_MAX_ENV_STRING)
    assert 100 < largest < 2000
    env = {"HYBRID_POLICY_CONFIG": str(PROD_CONFIG)}
    just_fits = StackContext.of(stack_with_sites(largest), dry_run=True)
    with PolicyPack(PACK_DIR, packs.python, packs.host, just_fits, env) as pack:
        assert pack.stub.GetAnalyzerInfo(empty_pb2.Empty()).name == "hybrid-residency"
    one_more = StackContext.of(stack_with_sites(largest + 1), dry_run=True)
    with pytest.raises(PackStartError, match="Argument list too long") as raised:
        PolicyPack(PACK_DIR, packs.python, packs.host, one_more, env).close()
    assert f"{LINUX_MAX_ENV_STRING:,}-byte limit" in str(raised.value)
