"""Plain views of what the engine hands a policy, so rules stay pure functions.

The engine wraps props in `unknown_checking_proxy`: reading an unknown raises
`UnknownValueError`, which the engine turns into "can't run during preview". Rules read only the
fields they need through `field()`, so an unknown elsewhere in a resource never stops them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SITE_COMPONENT = "hybrid:platform:Site"

# Services with no regions: their resources carry no region argument and live everywhere.
GLOBAL_TYPE_PREFIXES = ("aws:iam/", "aws:organizations/", "aws:cloudfront/", "aws:route53/")


def plain(value: Any) -> Any:
    """A proxied (or plain) value as plain dicts and lists; reading an unknown still raises."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence):
        return [plain(value[i]) for i in range(len(value))]
    return value


def field_value(props: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    """`props[path[0]][path[1]]...` as a plain value, or `default` when any step is absent."""
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return plain(value)


def json_document(value: Any) -> Any:
    """IAM policies and container definitions travel as JSON strings (or already as objects)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


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


def _region_of(provider: Any) -> str | None:
    """The region of a resource's provider, as the engine passes it (None without one)."""
    if provider is not None and "region" in provider.props:
        return plain(provider.props["region"])
    return None


class _Props:
    """Reading helpers shared by both views: tags, the site, and any field as a plain value."""

    props: Mapping[str, Any]
    parent_urn: str | None

    @property
    def tags(self) -> dict[str, str]:
        tags = field_value(self.props, "tags", default={})
        return tags if isinstance(tags, dict) else {}

    @property
    def site(self) -> str | None:
        return self.tags.get("site") or site_from_parent(self.parent_urn)

    def get(self, *path: str, default: Any = None) -> Any:
        return field_value(self.props, *path, default=default)


@dataclass(frozen=True)
class ResourceView(_Props):
    """One resource as a resource policy sees it (props are the resource's inputs)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    provider_region: str | None = None
    parent_urn: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> ResourceView:
        """From pulumi_policy's ResourceValidationArgs."""
        parent = getattr(args.opts, "parent", None) if args.opts is not None else None
        return cls(
            args.resource_type, args.name, args.urn, args.props, _region_of(args.provider), parent
        )


@dataclass(frozen=True)
class StackResource(_Props):
    """One resource as a stack policy sees it (props are the resource's outputs)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    parent_urn: str | None = None
    provider_region: str | None = None
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_policy_resource(cls, resource: Any) -> StackResource:
        """From pulumi_policy's PolicyResource."""
        return cls(
            type=resource.resource_type,
            name=resource.name,
            urn=resource.urn,
            props=resource.props,
            parent_urn=resource.parent.urn if resource.parent is not None else None,
            provider_region=_region_of(resource.provider),
            property_dependencies={
                key: tuple(dep.urn for dep in deps)
                for key, deps in (resource.property_dependencies or {}).items()
            },
        )


@dataclass(frozen=True)
class StackViolation:
    """A stack policy's finding, attributed to the resource (and site) it is about."""

    message: str
    urn: str | None = None
    site: str | None = None
