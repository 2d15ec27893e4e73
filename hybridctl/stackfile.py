"""Reading `stacks/Pulumi.<stack>.yaml` offline, strictly, without the Pulumi CLI or decrypting.

Every way a file can be unreadable (missing, a directory, not UTF-8, too large, YAML that
Pulumi would refuse or misread) is a StackFileError naming the file and line: hybridctl turns it
into exit code 2, never a traceback.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import (
    PROJECT,
    SITES_KEY,
    ConfigError,
    Problem,
    Secrets,
    StackConfig,
    parse_stack_config,
    render_path,
    secret_command,
    site_label,
    suggest,
)
from hybridctl import strict_yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS_DIR = PROJECT_DIR / "stacks"
MAX_BYTES = 1024 * 1024
STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
# Top-level keys Pulumi writes into a stack file.
TOP_LEVEL = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
# What Pulumi writes for a secret: base64 (service, cloud KMS) or v1:<nonce>:<data> (passphrase).
CIPHERTEXT = re.compile(r"(v1:)?[A-Za-z0-9+/=_-]{16,}(:[A-Za-z0-9+/=_-]+)*", re.ASCII)

KeyPath = tuple[str | int, ...]


class StackFileError(Exception):
    """The stack file cannot be read: a usage error (exit 2), never a traceback."""


@dataclass(frozen=True)
class StackFile:
    name: str
    path: Path
    config: dict[str, Any]  # full keys ("aws:region", "hybrid-airflow:sites") -> plain values
    secret_keys: frozenset[str] = field(default_factory=frozenset)
    # (full key, *path) of every `secure:` value; None when unknown (a stack built in memory).
    secret_paths: frozenset[KeyPath] | None = None
    lines: Mapping[KeyPath, int] = field(default_factory=dict)  # (full key, *path) -> line
    problems: tuple[Problem, ...] = ()  # found while reading, reported with the config's

    def typed(self) -> StackConfig:
        """The validated config; raises ConfigError naming every bad key, site and field."""
        secrets = Secrets(keys=frozenset(self.secret_keys), paths=self.secret_paths)
        try:
            config = parse_stack_config(self.config, secrets=secrets, stack=self.name)
        except ConfigError as error:
            raise ConfigError([*self.problems, *error.issues]) from None
        if self.problems:
            raise ConfigError(list(self.problems))
        return config

    def line_of(self, problem: Problem) -> int | None:
        """The line of the closest enclosing value the problem names."""
        path: KeyPath = (problem.key, *problem.path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def resolve(stack: str | None, stack_file: str | None) -> Path:
    if bool(stack) == bool(stack_file):
        raise StackFileError("give exactly one of --stack NAME or --stack-file PATH")
    if stack:
        known = sorted(p.name.split(".")[1] for p in STACKS_DIR.glob("Pulumi.*.yaml"))
        path = STACKS_DIR / f"Pulumi.{stack}.yaml"
        if not STACK_NAME.fullmatch(stack) or not path.is_file():
            raise StackFileError(f"no stack '{stack}' in {STACKS_DIR} (known: {', '.join(known)})")
        return path
    return Path(stack_file or "")


def stack_name(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")


def read_text(path: Path) -> str:
    """The file's text, or StackFileError saying why it cannot be a stack file."""
    try:
        if path.is_dir():
            raise StackFileError(f"{path}: is a directory; give a Pulumi.<stack>.yaml file")
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such stack file") from None
    except PermissionError:
        raise StackFileError(f"{path}: permission denied") from None
    except OSError as error:
        raise StackFileError(f"{path}: cannot be read: {error.strerror or error}") from None
    if len(data) > MAX_BYTES:
        raise StackFileError(f"{path}: larger than {MAX_BYTES // 1024} KiB: not a stack file")
    return decode(data, path)


def decode(data: bytes, path: Path | str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise StackFileError(
            f"{path}: line {line}: not UTF-8 (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}); save the file as UTF-8"
        ) from None


def load(path: Path) -> StackFile:
    """Load a stack file; `secure:` values become opaque placeholders and their keys secret."""
    return parse(read_text(path), path)


def parse(text: str, path: Path, name: str | None = None) -> StackFile:
    """A stack file from its text (read from disk, or from git for `plan --diff`)."""
    try:
        document = strict_yaml.load(text)
    except strict_yaml.YamlError as error:
        raise StackFileError(f"{path}: {error}") from None
    top = document.value
    if not isinstance(top, dict) or not isinstance(top.get("config"), dict):
        raise StackFileError(f"{path}: a stack file needs a top-level 'config:' mapping")
    for key in top:
        if key not in TOP_LEVEL:
            line = document.lines.get((key,))
            raise StackFileError(
                f"{path}: line {line}: '{key}' is not a stack file key" + suggest(key, TOP_LEVEL)
            )
    reader = _SecretReader()
    config: dict[str, Any] = {}
    lines: dict[KeyPath, int] = {}
    for key, value in top["config"].items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if full_key in config:
            raise StackFileError(
                f"{path}: line {document.lines.get(('config', key))}: '{key}' and "
                f"'{full_key}' are the same config key"
            )
        config[full_key] = reader.read(value, full_key, ())
        for yaml_path, line in document.lines.items():
            if yaml_path[:2] == ("config", key):
                lines[(full_key, *yaml_path[2:])] = line
    return StackFile(
        name=name or stack_name(path),
        path=path,
        config=config,
        secret_keys=frozenset(str(path[0]) for path in reader.paths),
        secret_paths=frozenset(reader.paths),
        lines=lines,
        problems=tuple(reader.problems(name or stack_name(path), config)),
    )


class _SecretReader:
    """Replaces every `{secure: ciphertext}` with a stable placeholder that reveals nothing."""

    def __init__(self) -> None:
        self.paths: set[KeyPath] = set()
        self.placeholders: list[KeyPath] = []

    def read(self, value: Any, key: str, path: KeyPath) -> Any:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                self.paths.add((key, *path))
                ciphertext = value["secure"]
                if not isinstance(ciphertext, str) or not CIPHERTEXT.fullmatch(ciphertext):
                    self.placeholders.append((key, *path))
                digest = hashlib.sha256(str(ciphertext).encode()).hexdigest()[:12]
                return f"[secure:{digest}]"
            return {k: self.read(v, key, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.read(v, key, (*path, i)) for i, v in enumerate(value)]
        return value

    def problems(self, stack: str, config: Mapping[str, Any]) -> list[Problem]:
        found = []
        for key, *rest in self.placeholders:
            key, path = str(key), tuple(rest)
            found.append(
                Problem(
                    _where(key, path, config),
                    "`{secure: ...}` holds no ciphertext (a placeholder?); Pulumi writes it "
                    f"with: {secret_command(key, path, stack)}",
                    key,
                    path,
                )
            )
        return found


def _where(key: str, path: KeyPath, config: Mapping[str, Any]) -> str:
    """As config problems name places: `sites[3] (lyon).database.password`."""
    if key == SITES_KEY and path and isinstance(path[0], int):
        site = config[key][path[0]]
        name = site.get("name") if isinstance(site, dict) else None
        return site_label(path[0], name) + render_path(path[1:])
    return key.removeprefix(f"{PROJECT}:") + render_path(path)


__all__ = ["ConfigError", "StackFile", "StackFileError", "load", "parse", "resolve"]
