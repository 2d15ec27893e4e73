"""Plain views of what the engine hands a policy, so rules stay pure functions.

The engine wraps props in `unknown_checking_proxy`: reading a value that is unknown during
preview raises `UnknownValueError`, which pulumi_policy turns into an *advisory* "can't run
during preview". Residency must not degrade like that, so views never raise: an unknown value is
read as an `Unknown` marker, and each rule decides. Residency rules fail closed on it (a mandatory
violation saying what could not be verified); other rules call `known()`, which raises
`UnknownValueError` as the engine expects, and so degrade to the engine's advisory note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

SITE_COMPONENT = "hybrid:platform:Site"

# Services with no regions: their resources carry no region argument and live everywhere.
GLOBAL_TYPE_PREFIXES = ("aws:iam/", "aws:organizations/", "aws:cloudfront/", "aws:route53/")
SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


@dataclass(frozen=True)
class Unknown:
    """A value the engine does not know yet (preview): computed by a provider at creation."""

    path: tuple[str, ...]
    sentinel: str = UNKNOWN_STRING_VALUE

    def __str__(self) -> str:
        return f"<unknown until apply: .{'.'.join(self.path)}>"

    def error(self) -> UnknownValueError:
        return UnknownValueError(self.sentinel, list(self.path))


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def first_unknown(value: Any) -> Unknown | None:
    """The first unknown anywhere inside a plain value, if any."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, dict):
        for item in value.values():
            found = first_unknown(item)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = first_unknown(item)
            if found is not None:
                return found
    return None


def known(value: Any) -> Any:
    """The value, or the engine's UnknownValueError (for rules that may degrade in preview)."""
    unknown = first_unknown(value)
    if unknown is not None:
        raise unknown.error()
    return value


def plain(value: Any, path: tuple[str, ...] = ()) -> Any:
    """A proxied (or plain) value as plain dicts and lists, with `Unknown` for unknowns."""
    if isinstance(value, str):
        return Unknown(path, value) if value in SENTINELS else value
    if isinstance(value, bytes):
        return value
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError as error:
                result[key] = Unknown((*path, str(key)), error.unknown_type_sentinel)
                continue
            result[key] = plain(item, (*path, str(key)))
        return result
    if isinstance(value, Sequence):
        items = []
        for i in range(len(value)):
            try:
                item = value[i]
            except UnknownValueError as error:
                items.append(Unknown((*path, str(i)), error.unknown_type_sentinel))
                continue
            items.append(plain(item, (*path, str(i))))
        return items
    return value


def field_value(props: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    """`props[path[0]][path[1]]...` as a plain value (`Unknown` if unknown), or `default`."""
    value: Any = props
    walked: tuple[str, ...] = ()
    for key in path:
        walked = (*walked, key)
        if isinstance(value, Unknown):
            return value
        if not isinstance(value, Mapping):
            return default
        try:  # `key in proxy` reads the value too, so an unknown raises here
            if key not in value:
                return default
            value = value[key]
        except UnknownValueError as error:
            return Unknown(walked, error.unknown_type_sentinel)
    return plain(value, walked)


def json_document(value: Any) -> Any:
    """IAM policies and container definitions travel as JSON strings (or already as objects).

    An unknown stays unknown; text that is not JSON reads as None.
    """
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def urn_name(urn: str | None) -> str | None:
    return urn.rsplit("::", 1)[-1] if urn else None


def urn_type(urn: str | None) -> str | None:
    """The resource's own type of a URN (`...::parent$child::name` -> child)."""
    if not urn:
        return None
    parts = urn.split("::")
    return parts[-2].rsplit("$", 1)[-1] if len(parts) >= 2 else None


def site_from_parent(parent_urn: str | None) -> str | None:
    """Per-site resources are children of a Site component named after the site."""
    return urn_name(parent_urn) if urn_type(parent_urn) == SITE_COMPONENT else None


def _region_of(provider: Any) -> Any:
    """The region of a resource's provider, as the engine passes it (None without one)."""
    if provider is None:
        return None
    return field_value(provider.props, "region")


class _Props:
    """Reading helpers shared by both views: tags, the declared site, any field as plain."""

    props: Mapping[str, Any]
    parent_urn: str | None

    @cached_property
    def tags(self) -> dict[str, Any]:
        tags = self.get("tags", default={})
        return tags if isinstance(tags, dict) else {}

    @property
    def tagged_site(self) -> str | None:
        site = self.tags.get("site")
        return site if isinstance(site, str) else None

    @property
    def site(self) -> str | None:
        """The site the resource declares (its tag, else its Site parent)."""
        return self.tagged_site or site_from_parent(self.parent_urn)

    def get(self, *path: str, default: Any = None) -> Any:
        raise NotImplementedError


class ResourceView(_Props):
    """One resource as a resource policy sees it (props are the resource's inputs, proxied).

    Built once per Analyze request and shared by the resource policies; each field is read
    from the engine's proxy once.
    """

    def __init__(
        self,
        type: str,
        name: str,
        urn: str,
        props: Mapping[str, Any],
        provider: Any = None,
        parent_urn: str | None = None,
    ) -> None:
        self.type = type
        self.name = name
        self.urn = urn
        self.props = props
        self.provider = provider
        self.parent_urn = parent_urn
        self._read: dict[tuple[str, ...], Any] = {}

    @classmethod
    def from_args(cls, args: Any) -> ResourceView:
        """From pulumi_policy's ResourceValidationArgs."""
        parent = getattr(args.opts, "parent", None) if args.opts is not None else None
        return cls(args.resource_type, args.name, args.urn, args.props, args.provider, parent)

    @cached_property
    def provider_region(self) -> Any:
        return _region_of(self.provider)

    def get(self, *path: str, default: Any = None) -> Any:
        if path not in self._read:
            self._read[path] = field_value(self.props, *path, default=_ABSENT)
        value = self._read[path]
        return default if value is _ABSENT else value


_ABSENT = object()


@dataclass(eq=False)
class StackResource(_Props):
    """One resource as a stack policy sees it: its state, made plain once per evaluation."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    parent_urn: str | None = None
    provider_region: Any = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_policy_resource(cls, resource: Any) -> StackResource:
        """From pulumi_policy's PolicyResource (props read once, unknowns marked)."""
        return cls(
            type=resource.resource_type,
            name=resource.name,
            urn=resource.urn,
            props=plain(resource.props),
            parent_urn=resource.parent.urn
            if resource.parent is not None
            else resource_parent(resource),
            provider_region=_region_of(resource.provider),
            dependencies=tuple(dep.urn for dep in resource.dependencies or ()),
            property_dependencies={
                key: tuple(dep.urn for dep in deps)
                for key, deps in (resource.property_dependencies or {}).items()
            },
        )

    def get(self, *path: str, default: Any = None) -> Any:
        """Props are plain already: a dict walk."""
        value: Any = self.props
        for key in path:
            if isinstance(value, Unknown):
                return value
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value

    @cached_property
    def all_dependencies(self) -> frozenset[str]:
        found = set(self.dependencies)
        for deps in self.property_dependencies.values():
            found.update(deps)
        return frozenset(found)

    def depends_on(self, key: str) -> tuple[str, ...]:
        return self.property_dependencies.get(key, ())

    @property
    def region(self) -> Any:
        """Its own region argument, else its provider's."""
        own = self.get("region")
        return own if own is not None else self.provider_region


def resource_parent(resource: Any) -> str | None:
    """The parent URN from the options when the parent resource is not in the list."""
    opts = getattr(resource, "opts", None)
    return getattr(opts, "parent", None) if opts is not None else None


@dataclass(frozen=True)
class StackViolation:
    """A stack policy's finding, attributed to the resource (and site) it is about."""

    message: str
    urn: str | None = None
    site: str | None = None
