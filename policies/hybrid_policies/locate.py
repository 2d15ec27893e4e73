"""Which policy config applies, found the same way under the engine and under hybridctl.

The engine starts the pack with the pack folder as working directory, with PULUMI_STACK set for
`pulumi preview/up` and with no stack at all for `pulumi policy analyze --file`. So:

1. `$HYBRID_POLICY_CONFIG`, if set: an absolute path as is; a relative path is looked up in the
   pack folder first (`config.prod.json`), then in the project root, the pack folder's parent
   (`policies/config.prod.json`, the form the README uses). A relative path that names two
   different files is refused, as is one that names none.
2. else `config.<stack>.json` in the pack folder, for the stack the engine names.
3. else nothing: the caller refuses to start and says which variable to set.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hybrid_policies.catalog import BY_NAME, POLICY_NAMES
from hybrid_policies.config import (
    PolicyConfig,
    PolicyConfigError,
    default_waivable,
    read_config_file,
)
from hybrid_policies.config import parse_config as parse_raw_config

CONFIG_ENV = "HYBRID_POLICY_CONFIG"
STACK_ENV = "PULUMI_STACK"
PACK_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = PACK_DIR.parent


class ConfigNotFound(Exception):
    """No policy config can be chosen; the message says what to set."""


def stack_name(environ: Mapping[str, str] | None = None) -> str | None:
    """The stack the engine runs the pack for (`org/project/stack` -> `stack`), if any."""
    environ = os.environ if environ is None else environ
    stack = environ.get(STACK_ENV, "").strip()
    return stack.rsplit("/", 1)[-1] or None


def resolve_config(environ: Mapping[str, str] | None = None) -> Path:
    """The policy config file for this process, or ConfigNotFound saying why."""
    environ = os.environ if environ is None else environ
    stack = stack_name(environ)
    given = environ.get(CONFIG_ENV, "").strip()
    if given:
        return _from_env(given)
    if stack:
        candidate = PACK_DIR / f"config.{stack}.json"
        if candidate.is_file():
            return candidate
        raise ConfigNotFound(
            f"no policy config for stack {stack}: {candidate} does not exist; add it or set "
            f"{CONFIG_ENV} to compliance's config file"
        )
    raise ConfigNotFound(
        f"no stack is known (`pulumi policy analyze` passes none): set {CONFIG_ENV} to "
        f"compliance's config file, e.g. {CONFIG_ENV}=config.prod.json (resolved against "
        f"{PACK_DIR}) or an absolute path"
    )


def _from_env(given: str) -> Path:
    path = Path(given).expanduser()
    if path.is_absolute():
        if not path.is_file():
            raise ConfigNotFound(f"{CONFIG_ENV}={given}: no such file")
        return path
    candidates = [PACK_DIR / path, PROJECT_DIR / path]
    found = [c.resolve() for c in candidates if c.is_file()]
    if not found:
        raise ConfigNotFound(
            f"{CONFIG_ENV}={given}: no such file in the pack folder ({PACK_DIR}) or the project "
            f"root ({PROJECT_DIR}); relative paths are resolved against those two, not the "
            "working directory"
        )
    if len(found) == 2 and found[0] != found[1]:
        raise ConfigNotFound(
            f"{CONFIG_ENV}={given} is ambiguous: both {found[0]} and {found[1]} exist; use an "
            "absolute path"
        )
    return found[0]


def config_path(stack: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """hybridctl's lookup: the same rules, with the stack it was given; None if there is none."""
    environ = dict(os.environ if environ is None else environ)
    if stack:
        environ[STACK_ENV] = stack
    else:
        environ.pop(STACK_ENV, None)
    try:
        return resolve_config(environ)
    except ConfigNotFound:
        return None


def _catalog_defaults() -> frozenset[str]:
    return default_waivable({name: (s.group, s.severity) for name, s in BY_NAME.items()})


def parse_config(
    raw: Any,
    source: str,
    policy_names: Iterable[str] = POLICY_NAMES,
    *,
    today: dt.date | None = None,
) -> PolicyConfig:
    """A config document checked against this pack's policies (what may be waived, levels)."""
    return parse_raw_config(
        raw, source, policy_names, defaults_waivable=_catalog_defaults(), today=today
    )


def load_config(
    path: str | Path, policy_names: Iterable[str] = POLICY_NAMES, *, today: dt.date | None = None
) -> PolicyConfig:
    return parse_config(read_config_file(path), str(path), policy_names, today=today)


__all__ = [
    "CONFIG_ENV",
    "PACK_DIR",
    "ConfigNotFound",
    "PolicyConfigError",
    "config_path",
    "load_config",
    "parse_config",
    "resolve_config",
    "stack_name",
]
