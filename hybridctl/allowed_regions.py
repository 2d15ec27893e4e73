"""Warn early when a site's region is one compliance does not allow.

Compliance's policy config (`policies/config.<stack>.json`, key `allowedRegions`) is the one list
of allowed regions; the stack config no longer carries its own. `hybridctl check` and the policy
pack enforce it; `plan` and `site add` only warn, naming both files, so an engineer learns it
before the check fails. The JSON is read directly: the plan does not load the policy pack.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.config import StackConfig, site_label
from hybridctl.stackfile import PROJECT_DIR, StackFile

POLICY_DIR = PROJECT_DIR / "policies"


def policy_config_path(stack: str) -> Path:
    return POLICY_DIR / f"config.{stack}.json"


def read_allowed_regions(path: Path) -> tuple[list[str] | None, str | None]:
    """(regions, None) or (None, why they could not be read)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path} does not exist: regions are not checked before `hybridctl check`"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"{path} cannot be read ({error}): regions are not checked"
    regions = document.get("allowedRegions") if isinstance(document, dict) else None
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        return None, f"{path} has no allowedRegions list: regions are not checked"
    return regions, None


def region_warnings(stack: StackFile, config: StackConfig, path: Path | None = None) -> list[str]:
    path = path or policy_config_path(stack.name)
    allowed, problem = read_allowed_regions(path)
    if allowed is None:
        return [problem] if problem else []
    shown = _display(path)
    warnings = []
    if config.region not in allowed:
        warnings.append(
            f"aws:region {config.region} ({_display(stack.path)}) is outside allowedRegions "
            f"{allowed} of {shown}: hybridctl check will fail the shared platform"
        )
    for index, site in enumerate(config.sites):
        if site.region not in allowed:
            warnings.append(
                f"{site_label(index, site.name)}.region {site.region} ({_display(stack.path)}) "
                f"is outside allowedRegions {allowed} of {shown}: hybridctl check will fail "
                "it; ask compliance, or pick an allowed region"
            )
    return warnings


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)
