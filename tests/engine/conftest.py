"""Session fixtures of the engine-protocol tests: the pack's virtualenv (built once), the engine
host, pack processes (one per stack and mode, kept for the session), captures and reports."""

from __future__ import annotations

import atexit
import io
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hybridctl.capture import Capture, Mode, capture
from hybridctl.cli import main
from hybridctl.stackfile import PROJECT_DIR, STACKS_DIR, StackFile, load
from tests.engine.engine_host import EngineHost, EngineRun, PolicyPack, StackContext
from tests.engine.pack_venv import ensure_pack_venv
from tests.policies.violating_stacks import write_violating_stacks

PACK_DIR = PROJECT_DIR / "policies"
# The violating stacks of tests/policies, written once per test process (removed at exit).
VIOLATING_DIR = Path(tempfile.mkdtemp(prefix="hybrid-violating-stacks-"))
atexit.register(shutil.rmtree, VIOLATING_DIR, ignore_errors=True)
VIOLATING = write_violating_stacks(VIOLATING_DIR)
PROD_CONFIG = PACK_DIR / "config.prod.json"


@dataclass(frozen=True)
class Case:
    """A stack the pack and `hybridctl check` must agree on."""

    name: str
    stack_file: Path
    policy_config: Path | None  # None: the pack finds config.<stack>.json by the stack's name

    def check_args(self) -> list[str]:
        args = ["--stack-file", str(self.stack_file)]
        return [*args, "--policy-config", str(self.policy_config)] if self.policy_config else args

    def pack_env(self) -> dict[str, str]:
        return {"HYBRID_POLICY_CONFIG": str(self.policy_config)} if self.policy_config else {}


CASES = [
    Case("prod", STACKS_DIR / "Pulumi.prod.yaml", None),
    Case("dev", STACKS_DIR / "Pulumi.dev.yaml", None),
    *(
        Case(path.name.removeprefix("Pulumi.").removesuffix(".yaml"), path, PROD_CONFIG)
        for path in sorted(VIOLATING.values())
    ),
]
BY_NAME = {case.name: case for case in CASES}


@pytest.fixture(scope="session")
def pack_python() -> Path:
    """The pack's own virtualenv (policies/venv), built from policies/requirements.txt once."""
    return ensure_pack_venv(PACK_DIR)


@pytest.fixture(scope="session")
def engine_host() -> Iterator[EngineHost]:
    host = EngineHost()
    yield host
    host.stop()


class Packs:
    """Pack processes by (stack, mode, environment): each started once, all stopped at the end."""

    def __init__(self, python: Path, host: EngineHost) -> None:
        self.python = python
        self.host = host
        self._started: dict[str, PolicyPack] = {}

    def get(self, stack: StackFile, mode: Mode, env: Mapping[str, str] | None = None) -> PolicyPack:
        context = StackContext.of(stack, dry_run=mode == "preview")
        key = json.dumps([context.environment(), dict(env or {})], sort_keys=True)
        if key not in self._started:
            self._started[key] = PolicyPack(PACK_DIR, self.python, self.host, context, env)
        return self._started[key]

    def close(self) -> None:
        for pack in self._started.values():
            pack.close()


@pytest.fixture(scope="session")
def packs(pack_python: Path, engine_host: EngineHost) -> Iterator[Packs]:
    started = Packs(pack_python, engine_host)
    yield started
    started.close()


@pytest.fixture(scope="session")
def captures() -> Callable[[Case, Mode], Capture]:
    made: dict[tuple[str, str], Capture] = {}

    def get(case: Case, mode: Mode) -> Capture:
        if (case.name, mode) not in made:
            made[(case.name, mode)] = capture(load(case.stack_file), mode=mode)
        return made[(case.name, mode)]

    return get


@pytest.fixture(scope="session")
def engine_runs(
    packs: Packs, captures: Callable[[Case, Mode], Capture]
) -> Callable[..., EngineRun]:
    done: dict[tuple[str, str], EngineRun] = {}

    def get(case: Case, mode: Mode) -> EngineRun:
        if (case.name, mode) not in done:
            pack = packs.get(load(case.stack_file), mode, case.pack_env())
            done[(case.name, mode)] = pack.analyze(captures(case, mode))
        return done[(case.name, mode)]

    return get


def run_check(*argv: str) -> tuple[int, dict[str, Any]]:
    """`hybridctl check ... --format json`, as a user runs it."""
    out = io.StringIO()
    code = main(["check", *argv, "--format", "json"], out=out)
    return code, json.loads(out.getvalue())


@pytest.fixture(scope="session")
def check_reports() -> Callable[[Case], dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}

    def get(case: Case) -> dict[str, Any]:
        if case.name not in done:
            _, done[case.name] = run_check(*case.check_args())
        return done[case.name]

    return get
