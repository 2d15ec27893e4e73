"""Reading the typed stack config from Pulumi's config (the program's side of the contract).

The program sees every config key of the stack, not only the ones it asks for, so that a key it
would ignore (a typo in `hybrid-airflow:sites`, a wrong project prefix) fails the update instead
of reading as "no sites" and destroying every site.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import Secrets, StackConfig, parse_stack_config


def _value(raw: Any) -> Any:
    """A structured config value arrives as JSON text; plain strings stay strings."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def all_config() -> dict[str, Any]:
    """Every config key of the stack: from the engine (PULUMI_CONFIG) or set_all_config (tests).

    Read without Pulumi's "this is a secret" warning: `sites` holds database passwords as nested
    secrets; they are wrapped in `Output.secret` where they are used (components/site.py).
    """
    values = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    return {key: _value(value) for key, value in values.items()}


def secret_keys() -> frozenset[str]:
    return frozenset(runtime_config.get_config_secret_keys_env()) | frozenset(
        runtime_config._SECRET_KEYS.get()
    )


def load_stack_config() -> StackConfig:
    """Raises ConfigError naming every bad key, site and field."""
    return parse_stack_config(
        all_config(), secrets=Secrets(keys=secret_keys()), stack=pulumi.get_stack()
    )
