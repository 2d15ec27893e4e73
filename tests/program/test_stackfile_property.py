"""Property: no input makes hybridctl fail with anything but exit 2 and a message.

Three kinds of input: raw bytes, YAML documents built from the stack file's own vocabulary (and
near misses of it), and the prod stack file with random edits (lines deleted, repeated, moved,
re-indented, text spliced in). Each goes through what `hybridctl plan` does before it runs the
program: read, parse strictly, validate, warn. The result must be a valid stack or a UsageError
with at least one message; any other exception is what a user would see as a traceback. A
timer bounds every example, so a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hybridctl import cli
from tests.program.conftest import PROD

PROD_TEXT = PROD.read_text(encoding="utf-8")
PER_EXAMPLE_SECONDS = 5
SETTINGS = settings(
    max_examples=120,
    deadline=None,  # the alarm below bounds each example instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples in every CI run
)


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"one example took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(data: bytes) -> str:
    """'valid' or 'exit 2'; anything else raises (the traceback a user would see)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Pulumi.prop.yaml"
        path.write_bytes(data)
        args = argparse.Namespace(stack=None, stack_file=str(path))
        with time_limit(PER_EXAMPLE_SECONDS), contextlib.redirect_stderr(io.StringIO()):
            try:
                stack = cli.load_stack(args)
                cli.plan_warnings(stack, cli.validate(stack))
            except cli.UsageError as error:
                problems = error.problems
            else:
                return "valid"
    assert problems, "exit 2 without a message"
    assert all(isinstance(p, str) and p.strip() for p in problems)
    return "exit 2"


# --- raw bytes ---------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=4000))
@example(b"\xff\xfe\x00")
@example(b"config:\n  hybrid-airflow:sites: &a [*a]\n")
def test_raw_bytes(data: bytes) -> None:
    outcome(data)


# --- documents in the stack file's vocabulary --------------------------------------------

KEYS = [
    "aws:region",
    "hybrid-airflow:platform",
    "hybrid-airflow:sites",
    "hybrid-airflow:retiredSites",
    "hybrid-airfow:sites",
    "sites",
    "platform",
    "environment",
    "name",
    "kind",
    "residency",
    "region",
    "database",
    "password",
    "secure",
    "extracts",
    "query",
    "schedule",
    "launchType",
    "activation",
    "registrationLimit",
    "expiresInDays",
    "orchestrator",
    "minWorkers",
    "network",
    "cidr",
    "allowedRegions",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "eu-central-1",
            "munich",
            "onprem",
            "regulated",
            "SELECT 1",
            "DELETE FROM t",
            "0 25 * * *",
            "@daily",
            "EXTERNAL",
            "prod",
            "10.0.0.0/16",
            "...",
            "plant--a",
        ]
    ),
    st.text(max_size=30),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(), st.booleans()),
            children,
            max_size=5,
        ),
    ),
    max_leaves=40,
)


@SETTINGS
@given(
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.integers()), VALUES, max_size=6),
    st.booleans(),
)
def test_generated_documents(config: dict[str, Any], wrapped: bool) -> None:
    document = {"config": config} if wrapped else config
    try:
        text = yaml.safe_dump(document, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return
    outcome(text.encode("utf-8", "surrogatepass"))


# --- the prod stack file, edited at random ----------------------------------------------

LINES = PROD_TEXT.splitlines(keepends=True)
edits = st.lists(
    st.one_of(
        st.tuples(st.just("delete"), st.integers(0, len(LINES) - 1)),
        st.tuples(st.just("repeat"), st.integers(0, len(LINES) - 1)),
        st.tuples(st.just("indent"), st.integers(0, len(LINES) - 1)),
        st.tuples(st.just("dedent"), st.integers(0, len(LINES) - 1)),
        st.tuples(st.just("move"), st.integers(0, len(LINES) - 1), st.integers(0, len(LINES) - 1)),
        st.tuples(
            st.just("splice"),
            st.integers(0, len(PROD_TEXT)),
            st.text(alphabet=" \t\n:-&*!{}[]'\"#|>%@`,?\\aé0", max_size=12),
        ),
    ),
    min_size=1,
    max_size=4,
)


def apply(edit_list: list[tuple[Any, ...]]) -> str:
    lines = list(LINES)
    text_edits = []
    for edit in edit_list:
        kind, *args = edit
        if kind == "splice":
            text_edits.append(args)
            continue
        index = args[0] % len(lines)
        if kind == "delete":
            del lines[index]
        elif kind == "repeat":
            lines.insert(index, lines[index])
        elif kind == "indent":
            lines[index] = "  " + lines[index]
        elif kind == "dedent":
            lines[index] = lines[index].removeprefix("  ")
        elif kind == "move":
            lines.insert(args[1] % len(lines), lines.pop(index))
        if not lines:
            lines = [""]
    text = "".join(lines)
    for position, inserted in text_edits:
        position %= len(text) + 1
        text = text[:position] + inserted + text[position:]
    return text


@SETTINGS
@given(edits)
def test_edited_prod_stack_files(edit_list: list[tuple[Any, ...]]) -> None:
    outcome(apply(edit_list).encode("utf-8"))


def test_the_unedited_prod_file_is_valid() -> None:
    """The property's baseline: without an edit the file passes (the edits are what fails)."""
    assert outcome(PROD_TEXT.encode()) == "valid"


@pytest.mark.parametrize(
    "text",
    [
        "config:\n  hybrid-airflow:sites: []\n  hybrid-airflow:sites: []\n",
        "config:\n  x: &a [1]\n  y: *a\n",
        "config:\n  hybrid-airflow:sites:\n" + "    - " * 40 + "x\n",
    ],
)
def test_known_bad_inputs_are_exit_2(text: str) -> None:
    assert outcome(text.encode()) == "exit 2"
