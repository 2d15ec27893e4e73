"""Which policy config applies: $HYBRID_POLICY_CONFIG, else config.<stack>.json of the pack."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CONFIG_ENV = "HYBRID_POLICY_CONFIG"
PACK_DIR = Path(__file__).resolve().parent.parent


def config_path(stack: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    if stack:
        candidate = PACK_DIR / f"config.{stack}.json"
        if candidate.exists():
            return candidate
    return None
