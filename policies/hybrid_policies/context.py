"""What every rule receives besides the resources: compliance's config and the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybrid_policies.config import PolicyConfig


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RuleContext:
    config: PolicyConfig
    now: dt.datetime = field(default_factory=_utcnow)

    def is_regulated_site(self, site: str | None) -> bool:
        """Compliance's word: the config lists the site as regulated."""
        entry = self.config.site(site)
        return entry is not None and entry.regulated

    def is_regulated(self, tags: Mapping[str, Any], site: str | None = None) -> bool:
        """Regulated if compliance says so for its site, or if the program labels it so.

        Compliance's config is authoritative; a program label can only make a resource stricter
        (and `sites-known-to-compliance` reports the disagreement).
        """
        return self.is_regulated_site(site or _tag(tags, "site")) or self.config.tag_says_regulated(
            tags
        )


def _tag(tags: Mapping[str, Any], key: str) -> str | None:
    value = tags.get(key)
    return value if isinstance(value, str) else None
