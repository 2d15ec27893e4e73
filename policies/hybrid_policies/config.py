"""The policy config compliance owns: who is regulated, regions, levels, waivers.

One JSON file per environment (`policies/config.<stack>.json`). It is deliberately separate
from the stack config: engineers edit stacks, compliance edits this, and where the two disagree
(a site's residency, its region) this file wins and the stack fails. Only the standard library
is used here, so a broken file is reported before anything else is imported.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

LEVELS = ("advisory", "mandatory", "disabled")
RESIDENCIES = ("regulated", "standard")
AWS_MAX_ACTIVATION_DAYS = 30
DEFAULT_MAX_WAIVER_DAYS = 90
MAX_WAIVER_DAYS_LIMIT = 365
SHARED = "shared"  # what reports call findings that belong to no site; a waiver may target it
_KNOWN_KEYS = {
    "$schema",
    "description",
    "allowedRegions",
    "accounts",
    "sites",
    "maxActivationDays",
    "residencyTag",
    "enforcementLevels",
    "waiverRules",
    "waivers",
}
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_SITE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")

Residency = Literal["regulated", "standard"]


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
class SiteEntry:
    """A site compliance knows: its residency and the regions its resources may be in."""

    name: str
    residency: Residency
    allowed_regions: tuple[str, ...]

    @property
    def regulated(self) -> bool:
        return self.residency == "regulated"


STACK_TYPE_PREFIX = "pulumi:pulumi:Stack$"


def canonical_urn(urn: str) -> str:
    """A URN as the engine writes it: a component registered directly under the stack has the
    type chain `hybrid:platform:Site`, where the SDK's mocks write
    `pulumi:pulumi:Stack$hybrid:platform:Site`. Waivers copied from either match both."""
    parts = urn.split("::")
    if len(parts) >= 4 and parts[2].startswith(STACK_TYPE_PREFIX):
        parts[2] = parts[2][len(STACK_TYPE_PREFIX) :]
    return "::".join(parts)


@dataclass(frozen=True)
class Waiver:
    """An accepted exception: one policy, one site (or `shared`) or one resource, until a date."""

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
            return (site or SHARED) == self.site
        if self.resource == name:
            return True
        return urn is not None and canonical_urn(self.resource or "") == canonical_urn(urn)

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
class WaiverRules:
    """Which policies compliance lets anyone waive at all, and for how long at most."""

    waivable: frozenset[str]
    max_days: int = DEFAULT_MAX_WAIVER_DAYS


@dataclass(frozen=True)
class PolicyConfig:
    allowed_regions: tuple[str, ...]
    sites: tuple[SiteEntry, ...] = ()
    accounts: tuple[str, ...] = ()  # empty: the accounts the stack's own ARNs are in
    max_activation_days: int = AWS_MAX_ACTIVATION_DAYS
    residency: ResidencyTag = field(default_factory=ResidencyTag)
    levels: Mapping[str, str] = field(default_factory=dict)
    waiver_rules: WaiverRules = field(default_factory=lambda: WaiverRules(frozenset()))
    waivers: tuple[Waiver, ...] = ()
    source: str = "(defaults)"

    def level(self, policy: str, default: str) -> str:
        return self.levels.get(policy, default)

    def site(self, name: str | None) -> SiteEntry | None:
        return self._sites.get(name or "")

    @cached_property
    def _sites(self) -> dict[str, SiteEntry]:
        return {s.name: s for s in self.sites}

    @property
    def regulated_sites(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites if s.regulated)

    def regions_for(self, site: str | None) -> tuple[str, ...]:
        """Where a site's resources may be (a site compliance does not know: nowhere of its own)."""
        entry = self.site(site)
        return entry.allowed_regions if entry is not None else self.allowed_regions

    def tag_says_regulated(self, tags: Mapping[str, Any]) -> bool:
        return tags.get(self.residency.key) == self.residency.regulated


def default_waivable(policies: Mapping[str, tuple[str, str]]) -> frozenset[str]:
    """Every policy but the critical residency ones: {name: (group, severity)}."""
    return frozenset(
        name
        for name, (group, severity) in policies.items()
        if not (group == "residency" and severity == "critical")
    )


def parse_config(
    raw: Any,
    source: str,
    policy_names: Iterable[str],
    *,
    defaults_waivable: Iterable[str] | None = None,
    today: dt.date | None = None,
) -> PolicyConfig:
    """Validate a policy config document; raise PolicyConfigError listing every problem.

    `defaults_waivable` is what may be waived when the file has no `waiverRules.waivable`
    (the catalog passes every policy but the critical residency ones).
    """
    names = set(policy_names)
    today = today or dt.datetime.now(dt.UTC).date()
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise PolicyConfigError(source, ["the document must be a JSON object"])
    problems += [f"{key}: unknown setting" for key in sorted(set(raw) - _KNOWN_KEYS)]

    regions = _regions(raw.get("allowedRegions"), "allowedRegions", problems, required=True)
    accounts = raw.get("accounts", [])
    if not isinstance(accounts, list) or not all(
        isinstance(a, str) and _ACCOUNT.match(a) for a in accounts
    ):
        problems.append("accounts: must be a list of 12-digit AWS account ids")
        accounts = []
    sites = _sites(raw.get("sites"), regions, problems)

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

    rules = _waiver_rules(
        raw.get("waiverRules", {}), names, frozenset(defaults_waivable or names), problems
    )
    known_sites = {s.name for s in sites} | {SHARED}
    waivers = _waivers(raw.get("waivers", []), names, rules, known_sites, today, problems)
    if problems:
        raise PolicyConfigError(source, problems)
    return PolicyConfig(
        allowed_regions=tuple(regions),
        sites=tuple(sites),
        accounts=tuple(accounts),
        max_activation_days=days,
        residency=residency,
        levels=dict(levels),
        waiver_rules=rules,
        waivers=tuple(waivers),
        source=source,
    )


def read_config_file(path: str | Path) -> Any:
    """The raw JSON document of a policy config file, or PolicyConfigError."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyConfigError(str(path), ["file not found"]) from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(
            str(path), [f"not valid JSON (line {error.lineno}: {error.msg})"]
        ) from None


def _regions(raw: Any, where: str, problems: list[str], *, required: bool) -> list[str]:
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: required, a non-empty list of AWS regions")
        return []
    regions = []
    for i, region in enumerate(raw):
        if not isinstance(region, str) or not _REGION.match(region):
            problems.append(f"{where}[{i}]: {region!r} is not an AWS region")
        else:
            regions.append(region)
    return regions


def _sites(raw: Any, platform_regions: list[str], problems: list[str]) -> list[SiteEntry]:
    if not isinstance(raw, list):
        problems.append(
            "sites: required, the list of sites compliance knows "
            '([{"name": ..., "residency": "regulated"|"standard", "allowedRegions": [...]}])'
        )
        return []
    sites: list[SiteEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"sites[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        before = len(problems)
        problems += [
            f"{where}.{key}: unknown setting"
            for key in sorted(set(item) - {"name", "residency", "allowedRegions", "note"})
        ]
        name = item.get("name")
        if not isinstance(name, str) or not _SITE_NAME.match(name):
            problems.append(f"{where}.name: required, a site name like munich")
            name = f"#{i}"
        elif name == SHARED:
            problems.append(f"{where}.name: {SHARED!r} is reserved for findings of no site")
        elif name in seen:
            problems.append(f"{where}.name: {name} is listed twice")
        seen.add(name)
        where = f"sites[{i}] ({name})"
        residency = item.get("residency")
        if residency not in RESIDENCIES:
            problems.append(f"{where}.residency: required, one of {', '.join(RESIDENCIES)}")
        regions = _regions(
            item.get("allowedRegions"),
            f"{where}.allowedRegions",
            problems,
            required=residency == "regulated",
        )
        for region in regions:
            if platform_regions and region not in platform_regions:
                problems.append(
                    f"{where}.allowedRegions: {region} is not in the top-level allowedRegions"
                )
        if len(problems) == before:
            sites.append(
                SiteEntry(
                    name=name,
                    residency="regulated" if residency == "regulated" else "standard",
                    allowed_regions=tuple(regions or platform_regions),
                )
            )
    return sites


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


def _waiver_rules(
    raw: Any, names: set[str], default: frozenset[str], problems: list[str]
) -> WaiverRules:
    if not isinstance(raw, dict):
        problems.append("waiverRules: must be an object with waivable and maxDays")
        return WaiverRules(default)
    problems += [
        f"waiverRules.{key}: unknown setting" for key in sorted(set(raw) - {"waivable", "maxDays"})
    ]
    waivable = default
    if "waivable" in raw:
        listed = raw["waivable"]
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            problems.append("waiverRules.waivable: must be a list of policy names")
        else:
            problems += [
                f"waiverRules.waivable: {name!r} is not a policy of this pack"
                for name in listed
                if name not in names
            ]
            waivable = frozenset(listed)
    max_days = raw.get("maxDays", DEFAULT_MAX_WAIVER_DAYS)
    if (
        isinstance(max_days, bool)
        or not isinstance(max_days, int)
        or not 1 <= max_days <= MAX_WAIVER_DAYS_LIMIT
    ):
        problems.append(
            f"waiverRules.maxDays: must be a whole number from 1 to {MAX_WAIVER_DAYS_LIMIT}"
        )
        max_days = DEFAULT_MAX_WAIVER_DAYS
    return WaiverRules(waivable, max_days)


def _waivers(
    raw: Any,
    names: set[str],
    rules: WaiverRules,
    known_sites: set[str],
    today: dt.date,
    problems: list[str],
) -> list[Waiver]:
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
        policy = item.get("policy")
        if policy not in names:
            problems.append(f"{where}.policy: {policy!r} is not a policy of this pack")
        elif policy not in rules.waivable:
            problems.append(
                f"{where}.policy: {policy} may not be waived (compliance's waiverRules.waivable "
                "does not list it; critical residency policies are not waivable by default)"
            )
        if ("site" in item) == ("resource" in item):
            problems.append(f"{where}: name exactly one of site or resource")
        elif "site" in item and item["site"] not in known_sites:
            problems.append(
                f"{where}.site: {item['site']!r} is not a site of this config "
                f"(or {SHARED!r} for findings of no site)"
            )
        for key in ("reason", "approver"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                problems.append(f"{where}.{key}: required")
        approver = str(item.get("approver", "")).strip()
        if approver and not _EMAIL.match(approver):
            problems.append(f"{where}.approver: {approver!r} is not an e-mail address")
        try:
            expires = dt.date.fromisoformat(str(item.get("expires")))
        except ValueError:
            problems.append(f"{where}.expires: required, a date like 2027-03-31")
            continue
        if (expires - today).days > rules.max_days:
            problems.append(
                f"{where}.expires: {expires.isoformat()} is more than {rules.max_days} days away "
                f"(waiverRules.maxDays); renew the waiver instead"
            )
        if len(problems) == before:
            waivers.append(
                Waiver(
                    policy=item["policy"],
                    reason=item["reason"].strip(),
                    approver=approver,
                    expires=expires,
                    site=item.get("site"),
                    resource=item.get("resource"),
                )
            )
    return waivers
