"""What every rule receives besides the resource: the policy config and the clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hybrid_policies.config import PolicyConfig


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RuleContext:
    config: PolicyConfig
    now: dt.datetime = field(default_factory=_utcnow)

    def is_regulated(self, tags: dict[str, str]) -> bool:
        return self.config.is_regulated(tags)
