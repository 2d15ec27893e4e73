"""The policy config compliance owns: regions, activation lifetime, levels and waivers.

One JSON file per environment (`policies/config.<stack>.json`). It is deliberately separate
from the stack config: engineers edit stacks, compliance edits this. Only the standard library
is used, because the Pulumi CLI runs the pack in a virtualenv of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEVELS = ("advisory", "mandatory", "disabled")
AWS_MAX_ACTIVATION_DAYS = 30
_KNOWN_KEYS = {
    "$schema",
    "description",
    "allowedRegions",
    "maxActivationDays",
    "residencyTag",
    "enforcementLevels",
    "waivers",
}
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


class PolicyConfigError(Exception):
    """Every problem of a policy config file, each naming the field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class ResidencyTag:
    key: str = "residency"
    regulated: str = "regulated"
    standard: str = "standard"


@dataclass(frozen=True)
class Waiver:
    """An accepted exception: one policy, one site or one resource, until a date."""

    policy: str
    reason: str
    approver: str
    expires: dt.date
    site: str | None = None
    resource: str | None = None  # resource name or URN

    def matches(self, policy: str, site: str | None, name: str | None, urn: str | None) -> bool:
        if policy != self.policy:
            return False
        if self.site is not None:
            return site == self.site
        return self.resource in (name, urn)

    def expired(self, today: dt.date) -> bool:
        """A waiver is valid through its expiry date."""
        return today > self.expires

    @property
    def target(self) -> str:
        return f"site {self.site}" if self.site else f"resource {self.resource}"

    def describe(self) -> str:
        return (
            f"waiver for {self.target} approved by {self.approver} until "
            f"{self.expires.isoformat()}: {self.reason}"
        )


@dataclass(frozen=True)
class PolicyConfig:
    allowed_regions: tuple[str, ...]
    max_activation_days: int = AWS_MAX_ACTIVATION_DAYS
    residency: ResidencyTag = field(default_factory=ResidencyTag)
    levels: Mapping[str, str] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    source: str = "(defaults)"

    def level(self, policy: str, default: str) -> str:
        return self.levels.get(policy, default)

    def is_regulated(self, tags: Mapping[str, str]) -> bool:
        return tags.get(self.residency.key) == self.residency.regulated


def parse_config(raw: Any, source: str, policy_names: Iterable[str]) -> PolicyConfig:
    """Validate a policy config document; raise PolicyConfigError listing every problem."""
    names = set(policy_names)
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise PolicyConfigError(source, ["the document must be a JSON object"])
    problems += [f"{key}: unknown setting" for key in sorted(set(raw) - _KNOWN_KEYS)]

    regions = raw.get("allowedRegions")
    if not isinstance(regions, list) or not regions:
        problems.append("allowedRegions: required, a non-empty list of AWS regions")
        regions = []
    for i, region in enumerate(regions):
        if not isinstance(region, str) or not _REGION.match(region):
            problems.append(f"allowedRegions[{i}]: {region!r} is not an AWS region")

    days = raw.get("maxActivationDays", AWS_MAX_ACTIVATION_DAYS)
    if (
        isinstance(days, bool)
        or not isinstance(days, int)
        or not 1 <= days <= AWS_MAX_ACTIVATION_DAYS
    ):
        problems.append(
            f"maxActivationDays: must be a whole number from 1 to {AWS_MAX_ACTIVATION_DAYS}"
        )
        days = AWS_MAX_ACTIVATION_DAYS

    residency = _residency(raw.get("residencyTag", {}), problems)

    levels = raw.get("enforcementLevels", {})
    if not isinstance(levels, dict):
        problems.append("enforcementLevels: must be an object of policy name -> level")
        levels = {}
    for name, level in levels.items():
        if name not in names:
            problems.append(f"enforcementLevels.{name}: no such policy")
        if level not in LEVELS:
            problems.append(
                f"enforcementLevels.{name}: {level!r} is not one of {', '.join(LEVELS)}"
            )

    waivers = _waivers(raw.get("waivers", []), names, problems)
    if problems:
        raise PolicyConfigError(source, problems)
    return PolicyConfig(
        allowed_regions=tuple(regions),
        max_activation_days=days,
        residency=residency,
        levels=dict(levels),
        waivers=tuple(waivers),
        source=source,
    )


def load_config(path: str | Path, policy_names: Iterable[str]) -> PolicyConfig:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyConfigError(str(path), ["file not found"]) from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(
            str(path), [f"not valid JSON (line {error.lineno}: {error.msg})"]
        ) from None
    return parse_config(raw, str(path), policy_names)


def _residency(raw: Any, problems: list[str]) -> ResidencyTag:
    if not isinstance(raw, dict):
        problems.append("residencyTag: must be an object with key, regulated, standard")
        return ResidencyTag()
    values = {**ResidencyTag().__dict__, **raw}
    for key in sorted(set(raw) - {"key", "regulated", "standard"}):
        problems.append(f"residencyTag.{key}: unknown setting")
    for key in ("key", "regulated", "standard"):
        if not isinstance(values[key], str) or not values[key]:
            problems.append(f"residencyTag.{key}: must be a non-empty string")
    if values["regulated"] == values["standard"]:
        problems.append("residencyTag: regulated and standard must differ")
    return ResidencyTag(str(values["key"]), str(values["regulated"]), str(values["standard"]))


def _waivers(raw: Any, names: set[str], problems: list[str]) -> list[Waiver]:
    if not isinstance(raw, list):
        problems.append("waivers: must be a list")
        return []
    waivers: list[Waiver] = []
    for i, item in enumerate(raw):
        where = f"waivers[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        unknown = sorted(
            set(item) - {"policy", "site", "resource", "reason", "approver", "expires"}
        )
        problems += [f"{where}.{key}: unknown setting" for key in unknown]
        before = len(problems)
        if item.get("policy") not in names:
            problems.append(f"{where}.policy: {item.get('policy')!r} is not a policy of this pack")
        if ("site" in item) == ("resource" in item):
            problems.append(f"{where}: name exactly one of site or resource")
        for key in ("reason", "approver"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                problems.append(f"{where}.{key}: required")
        try:
            expires = dt.date.fromisoformat(str(item.get("expires")))
        except ValueError:
            problems.append(f"{where}.expires: required, a date like 2027-03-31")
            continue
        if len(problems) == before:
            waivers.append(
                Waiver(
                    policy=item["policy"],
                    reason=item["reason"].strip(),
                    approver=item["approver"].strip(),
                    expires=expires,
                    site=item.get("site"),
                    resource=item.get("resource"),
                )
            )
    return waivers
