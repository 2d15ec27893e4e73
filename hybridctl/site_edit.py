"""Editing the sites of a stack file in place, keeping its comments, order and quoting.

A round-trip YAML parse (ruamel.yaml) changes only the entry added or removed: the rest of the
file is written back byte for byte. The edit works on text and returns text; the caller
validates the result with the strict loader before anything is written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from components.config import PROJECT, RETIRED_KEY, SITES_KEY

RETIRED_COMMENT = (
    "Removed sites (hybridctl site remove): their lake prefixes keep a retention rule,\n"
    "and a new site may not reuse their names."
)


class EditError(ValueError):
    """The stack file cannot be edited as asked (exit 2)."""


@dataclass(frozen=True)
class Extract:
    name: str
    schedule: str | None
    query: str


@dataclass(frozen=True)
class NewSite:
    name: str
    kind: str
    residency: str
    region: str
    extracts: tuple[Extract, ...]
    launch_type: str | None = None
    database: dict[str, Any] | None = None  # host, port, name, username: never a password
    registration_limit: int | None = None
    expires_in_days: int | None = None

    def entry(self) -> CommentedMap:
        """The site as the stack file holds it, fields in the README's order."""
        entry = CommentedMap()
        entry["name"] = self.name
        entry["kind"] = self.kind
        entry["residency"] = self.residency
        entry["region"] = self.region
        if self.launch_type:
            entry["launchType"] = self.launch_type
        if self.database:
            entry["database"] = CommentedMap(self.database)
        if self.registration_limit is not None or self.expires_in_days is not None:
            activation = CommentedMap()
            if self.registration_limit is not None:
                activation["registrationLimit"] = self.registration_limit
            if self.expires_in_days is not None:
                activation["expiresInDays"] = self.expires_in_days
            entry["activation"] = activation
        extracts = CommentedSeq()
        for extract in self.extracts:
            item = CommentedMap()
            item["name"] = extract.name
            item["query"] = extract.query
            if extract.schedule:
                item["schedule"] = DoubleQuotedScalarString(extract.schedule)
            extracts.append(item)
        entry["extracts"] = extracts
        return entry


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=2, sequence=4, offset=2)  # the stacks' style: "    - name: ..."
    yaml.width = 4096
    yaml.preserve_quotes = True
    return yaml


def _load(text: str) -> Any:
    try:
        return _yaml().load(text)
    except YAMLError as error:
        raise EditError(f"not valid YAML: {error}") from None


def _dump(document: Any) -> str:
    out = io.StringIO()
    _yaml().dump(document, out)
    return out.getvalue()


def _key(config: CommentedMap, full_key: str) -> str | None:
    """The key as written: `hybrid-airflow:sites` or the short `sites`."""
    short = full_key.removeprefix(f"{PROJECT}:")
    for candidate in (full_key, short):
        if candidate in config:
            return candidate
    return None


def _config(document: Any) -> CommentedMap:
    config = document.get("config") if isinstance(document, CommentedMap) else None
    if not isinstance(config, CommentedMap):
        raise EditError("a stack file needs a top-level 'config:' mapping")
    return config


def _sites(config: CommentedMap) -> CommentedSeq:
    key = _key(config, SITES_KEY)
    if key is None:
        raise EditError(f"the stack file has no {SITES_KEY} list")
    sites = config[key]
    if sites is None:
        sites = config[key] = CommentedSeq()
    if not isinstance(sites, CommentedSeq):
        raise EditError(f"{SITES_KEY} is not a list")
    return sites


def add_site(text: str, site: NewSite) -> tuple[str, int]:
    """The text with the site appended to the sites list, and its index there."""
    document = _load(text)
    sites = _sites(_config(document))
    if any(isinstance(s, dict) and s.get("name") == site.name for s in sites):
        raise EditError(f"a site named '{site.name}' already exists")
    sites.append(site.entry())
    return _dump(document), len(sites) - 1


def remove_site(text: str, name: str) -> tuple[str, int]:
    """The text without the site, its name added to retiredSites, and the index it had."""
    document = _load(text)
    config = _config(document)
    sites = _sites(config)
    names = [s.get("name") if isinstance(s, dict) else None for s in sites]
    if name not in names:
        known = ", ".join(str(n) for n in names if n) or "none"
        raise EditError(f"no site named '{name}' (sites: {known})")
    index = names.index(name)
    del sites[index]
    key = _key(config, RETIRED_KEY)
    if key is None:
        retired = CommentedSeq()
        retired.fa.set_block_style()
        position = list(config).index(_key(config, SITES_KEY)) + 1
        config.insert(position, RETIRED_KEY, retired, comment=None)
        config.yaml_set_comment_before_after_key(RETIRED_KEY, before=RETIRED_COMMENT, indent=2)
    else:
        retired = config[key]
        if retired is None:
            retired = config[key] = CommentedSeq()
        if not isinstance(retired, list):
            raise EditError(f"{RETIRED_KEY} is not a list")
    if name not in retired:
        retired.append(name)
    return _dump(document), index
