"""Where a finding points in the repository: the stack file, relative to the repository root, and
the line of the site (or the setting) a finding is about.

Reports are read on other machines (code scanning, a reviewer's laptop), so paths are relative to
the repository root, never the absolute path of the machine that ran the check. A file outside
the repository keeps the path it was given.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import PROJECT, SITES_KEY
from hybridctl.stackfile import PROJECT_DIR, KeyPath, StackFile

PLATFORM_KEY = f"{PROJECT}:platform"

# The setting of a site a policy's finding is about, most specific first (the site's own line
# when none of them is in the file).
SITE_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "resources-in-allowed-regions": (("region",),),
    "activation-expiry": (("activation", "expiresInDays"), ("activation",)),
    "regulated-tasks-external-only": (("launchType",), ("kind",)),
    "regulated-tasks-pinned-to-site": (("launchType",),),
    "regulated-workloads-on-site": (("launchType",),),
    "regulated-sites-complete": (("launchType",), ("residency",)),
    "manifest-routes-regulated-external": (("launchType",), ("region",)),
    "sites-known-to-compliance": (("residency",),),
    "regulated-secrets-cmk": (("residency",),),
    "regulated-sites-isolated": (("residency",),),
}
# Findings of no site: the platform setting that decides them.
PLATFORM_FIELDS: dict[str, tuple[str, ...]] = {
    "mwaa-private-webserver": ("orchestrator", "webserverAccessMode"),
    "log-retention": ("logRetentionDays",),
    "lake-encrypted-kms": ("dataLake",),
    "lake-public-access-blocked": ("dataLake",),
    "lake-tls-only": ("dataLake",),
    "lake-versioned": ("dataLake",),
    "ecr-scan-on-push": ("etlImageTag",),
    "ecr-immutable-tags": ("etlImageTag",),
}


def _git_root(folder: Path) -> Path | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        found = subprocess.run(
            [git, "rev-parse", "--show-toplevel"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None


def repository_root(path: Path | None = None) -> Path:
    """The git work tree holding `path` (this project's, by default); the project folder
    when git cannot tell."""
    if path is not None:
        found = _git_root(path.resolve().parent)
        if found is not None:
            return found
    return _git_root(PROJECT_DIR) or PROJECT_DIR


def relative_path(path: Path | str, root: Path | None = None) -> str:
    """`path` relative to the repository root, in POSIX form; as given when outside it."""
    given = Path(path)
    root = root or repository_root(given if given.exists() else None)
    try:
        return given.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return given.as_posix()


@dataclass(frozen=True)
class Location:
    path: str  # repository-relative
    line: int | None


@dataclass(frozen=True)
class StackLocator:
    """Lines of the stack file's sites and settings, as the strict loader recorded them."""

    path: str
    lines: Mapping[KeyPath, int] = field(default_factory=dict)
    site_index: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, stack: StackFile, path: str) -> StackLocator:
        sites: Any = stack.config.get(SITES_KEY)
        index = {
            str(site["name"]): i
            for i, site in enumerate(sites if isinstance(sites, list) else [])
            if isinstance(site, dict) and isinstance(site.get("name"), str)
        }
        return cls(path, dict(stack.lines), index)

    def _line(self, *path: str | int) -> int | None:
        return self.lines.get(tuple(path))

    def site_line(self, site: str | None) -> int | None:
        if site is None or site not in self.site_index:
            return None
        return self._line(SITES_KEY, self.site_index[site])

    def locate(self, policy: str, site: str | None) -> Location:
        """The line a finding of `policy` about `site` points at: the site's setting the
        policy is about, else the site's entry; for findings of no site, the platform
        setting that decides them; the start of the config when nothing closer exists."""
        if site is not None and site in self.site_index:
            i = self.site_index[site]
            for fields in SITE_FIELDS.get(policy, ()):
                line = self._line(SITES_KEY, i, *fields)
                if line is not None:
                    return Location(self.path, line)
            return Location(self.path, self._line(SITES_KEY, i))
        if site is None and policy in PLATFORM_FIELDS:
            line = self._line(PLATFORM_KEY, *PLATFORM_FIELDS[policy])
            if line is not None:
                return Location(self.path, line)
        if site is not None:  # a site the program builds that the stack file does not list
            return Location(self.path, self._line(SITES_KEY))
        return Location(self.path, min(self.lines.values(), default=None))
