"""Reading `stacks/Pulumi.<stack>.yaml` offline, without the Pulumi CLI and without decrypting."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import PROJECT, ConfigError, StackConfig, parse_config

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS_DIR = PROJECT_DIR / "stacks"


class StackFileError(Exception):
    """The stack file cannot be read: a usage error (exit 2), never a traceback."""


@dataclass(frozen=True)
class StackFile:
    name: str
    path: Path
    config: dict[str, Any]  # full keys ("aws:region", "hybrid-airflow:sites") -> plain values
    secret_keys: frozenset[str] = field(default_factory=frozenset)

    def typed(self) -> StackConfig:
        """The validated config; raises ConfigError naming every bad site and field."""
        return parse_config(
            region=self.config.get("aws:region"),
            platform=self.config.get(f"{PROJECT}:platform"),
            sites=self.config.get(f"{PROJECT}:sites"),
        )


def resolve(stack: str | None, stack_file: str | None) -> Path:
    if bool(stack) == bool(stack_file):
        raise StackFileError("give exactly one of --stack NAME or --stack-file PATH")
    if stack:
        path = STACKS_DIR / f"Pulumi.{stack}.yaml"
        if not path.is_file():
            known = sorted(p.name.split(".")[1] for p in STACKS_DIR.glob("Pulumi.*.yaml"))
            raise StackFileError(f"no stack '{stack}' in {STACKS_DIR} (known: {', '.join(known)})")
        return path
    return Path(stack_file or "")


def load(path: Path) -> StackFile:
    """Load a stack file; `secure:` values become opaque placeholders and their keys secret."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such stack file") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise StackFileError(f"{path}: a stack file needs a top-level 'config:' mapping")
    secret_keys: set[str] = set()
    config: dict[str, Any] = {}
    for key, value in document["config"].items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        plain, secret = _opaque_secrets(value)
        config[full_key] = plain
        if secret:
            secret_keys.add(full_key)
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    return StackFile(name=name, path=path, config=config, secret_keys=frozenset(secret_keys))


def _opaque_secrets(value: Any) -> tuple[Any, bool]:
    """Replace every `{secure: ciphertext}` with a stable placeholder that reveals nothing."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            digest = hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:12]
            return f"[secure:{digest}]", True
        found = False
        out = {}
        for k, v in value.items():
            out[k], secret = _opaque_secrets(v)
            found |= secret
        return out, found
    if isinstance(value, list):
        items = [_opaque_secrets(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


__all__ = ["ConfigError", "StackFile", "StackFileError", "load", "resolve"]
