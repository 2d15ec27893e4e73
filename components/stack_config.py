"""Reading the typed stack config from Pulumi's config (the program's side of the contract)."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.config import PROJECT, StackConfig, parse_config


def _raw(key: str) -> Any:
    """A structured config value, read without Pulumi's 'this is a secret' warning.

    `sites` holds database passwords as nested secrets; they are wrapped in `Output.secret`
    where they are used (components/site.py), and nothing else in it is sensitive.
    """
    value = pulumi.runtime.get_config(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_stack_config() -> StackConfig:
    """Raises ConfigError naming every bad site and field."""
    return parse_config(
        region=_raw("aws:region"),
        platform=_raw(f"{PROJECT}:platform"),
        sites=_raw(f"{PROJECT}:sites"),
    )
