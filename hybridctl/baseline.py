"""What `plan --diff` compares with: the stack file at a git ref, or a saved state file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from components.config import PLATFORM_KEY
from hybridctl.diff import Snapshot, SnapshotError, from_state
from hybridctl.stackfile import StackFile, StackFileError, decode, parse

# Keys an older stack file may still carry that the current rules moved elsewhere; dropped from
# the base (it is what was deployed, not what is being written) so the diff can still run.
MIGRATED = {PLATFORM_KEY: ("allowedRegions",)}


class BaselineError(Exception):
    """The base cannot be read: exit 2 with the reason."""


def is_state_file(base: str) -> bool:
    return Path(base).is_file()


def load_state(path: Path) -> Snapshot:
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{path}: cannot be read: {error}") from None
    except ValueError as error:
        raise BaselineError(f"{path}: not JSON: {error}") from None
    try:
        return from_state(document, str(path))
    except SnapshotError as error:
        raise BaselineError(str(error)) from None


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise BaselineError("git is not installed: pass --diff STATE.json (a --state-out file)")
    return subprocess.run([git, *args], cwd=cwd, capture_output=True, check=False, timeout=60)


def stack_at_ref(stack: StackFile, ref: str) -> StackFile | None:
    """The same stack file as committed at `ref`; None if it did not exist there."""
    folder = stack.path.resolve().parent
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise BaselineError(
            f"{stack.path} is not in a git repository: pass --diff STATE.json (a --state-out file)"
        )
    root = Path(top.stdout.decode().strip())
    relative = stack.path.resolve().relative_to(root).as_posix()
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise BaselineError(f"'{ref}' is not a git commit, branch or tag here")
    shown = _git(root, "show", f"{ref}:{relative}")
    if shown.returncode != 0:
        return None
    try:
        base = parse(
            decode(shown.stdout, f"{ref}:{relative}"), Path(f"{ref}:{relative}"), stack.name
        )
    except StackFileError as error:
        raise BaselineError(f"the stack file at {ref} cannot be read: {error}") from None
    return _migrated(base)


def _migrated(stack: StackFile) -> StackFile:
    config = dict(stack.config)
    for key, moved in MIGRATED.items():
        value = config.get(key)
        if isinstance(value, dict) and any(name in value for name in moved):
            config[key] = {k: v for k, v in value.items() if k not in moved}
    return StackFile(
        name=stack.name,
        path=stack.path,
        config=config,
        secret_keys=stack.secret_keys,
        secret_paths=stack.secret_paths,
        lines=stack.lines,
        problems=stack.problems,
    )
