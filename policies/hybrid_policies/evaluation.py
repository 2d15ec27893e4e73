"""One evaluation of a stack: the resources made plain once, and every lookup the stack rules
share (sites, who belongs to which site, principals and what they may do).

The adapter creates one `Evaluation` per AnalyzeStack and hands it to every stack rule, so
nothing is computed twice and nothing outlives the evaluation. Everything is lazy: a rule pays
only for the lookups it uses.

Site membership is by relationship, because the point is to hold when the program's labels are
wrong. A resource belongs to a site if it is tagged so, is a descendant of the site's `Site`
component, or references one of the site's artefacts: its DB secret, key, task or execution
role, log group, task family, own cluster, Glue database or lake prefix. References are read
from what the engine knows at preview (dependency and property-dependency URNs, names the
program writes) and, when known, from the values themselves (ARNs, container definitions).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import (
    BUCKET,
    BUCKET_OBJECT,
    BUCKET_OBJECT_V1,
    CAPACITY_PROVIDER,
    CLUSTER,
    CLUSTER_CAPACITY_PROVIDERS,
    GLUE_DATABASE,
    KMS_ALIAS,
    KMS_KEY,
    LOG_GROUP,
    MANIFEST_KEY,
    NETWORK_KEY,
    ROLE,
    SECRET,
    SERVICE,
    TASK_DEFINITION,
    TASK_SET,
)
from hybrid_policies.views import (
    SITE_COMPONENT,
    StackResource,
    Unknown,
    as_list,
    is_unknown,
    json_document,
)

ARTEFACT_KINDS = {
    SECRET: "DB secret",
    KMS_KEY: "key",
    KMS_ALIAS: "key alias",
    ROLE: "role",
    LOG_GROUP: "log group",
    CLUSTER: "cluster",
    TASK_DEFINITION: "task definition",
    GLUE_DATABASE: "Glue database",
}
_KIND_ORDER = {resource_type: rank for rank, resource_type in enumerate(ARTEFACT_KINDS)}
WORKLOAD_TYPES = (TASK_DEFINITION, SERVICE, TASK_SET, CLUSTER_CAPACITY_PROVIDERS, CAPACITY_PROVIDER)
LAKE_PURPOSE = "data-lake"


@dataclass(frozen=True)
class Artefact:
    site: str
    kind: str
    resource: StackResource

    @property
    def label(self) -> str:
        name = self.resource.get("name") if self.resource.type != KMS_KEY else None
        shown = name if isinstance(name, str) else self.resource.name
        return f"{self.kind} {shown}"


@dataclass
class Membership:
    """Why a resource belongs to a site (each reason a short phrase for the message)."""

    reasons: list[str] = field(default_factory=list)
    declared: bool = False  # by its own tag or its Site ancestor

    def add(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)


@dataclass(frozen=True)
class ObjectContent:
    """A bucket object's text: the string, Unknown, or None when it has no readable content."""

    resource: StackResource
    text: str | Unknown | None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _last(value: str, sep: str) -> str:
    return value.rsplit(sep, 1)[-1]


class Evaluation:
    """Lookups over one stack, built lazily and shared by the stack rules of one evaluation."""

    def __init__(self, resources: Sequence[StackResource], ctx: RuleContext) -> None:
        self.resources = list(resources)
        self.ctx = ctx
        self.config = ctx.config
        self.by_urn: dict[str, StackResource] = {r.urn: r for r in self.resources}
        self._by_type: dict[str, list[StackResource]] = defaultdict(list)
        for r in self.resources:
            self._by_type[r.type].append(r)
        # Names and ARNs of workloads found to be members, so later ones can reference them.
        self._member_names: dict[str, str] = {}
        self.cache: dict[str, Any] = {}  # what a rule module indexes once per evaluation

    def of_type(self, *types: str) -> list[StackResource]:
        if len(types) == 1:
            return self._by_type.get(types[0], [])
        return [r for t in types for r in self._by_type.get(t, [])]

    # --- sites ----------------------------------------------------------------------------

    @cached_property
    def site_components(self) -> dict[str, StackResource]:
        return {r.name: r for r in self.of_type(SITE_COMPONENT)}

    @cached_property
    def _ancestor_sites(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}

        def walk(resource: StackResource) -> str | None:
            if resource.urn in found:
                return found[resource.urn]
            found[resource.urn] = None  # cycles: none expected, never loop
            parent = self.by_urn.get(resource.parent_urn or "")
            if parent is None:
                site = None
            elif parent.type == SITE_COMPONENT:
                site = parent.name
            else:
                site = walk(parent)
            found[resource.urn] = site
            return site

        for r in self.resources:
            walk(r)
        return found

    def ancestor_site(self, resource: StackResource) -> str | None:
        """The Site component the resource is under, at any depth."""
        return self._ancestor_sites.get(resource.urn)

    def declared_site(self, resource: StackResource) -> str | None:
        """The site a resource declares: its `site` tag, else its Site ancestor."""
        return resource.tagged_site or self.ancestor_site(resource)

    @cached_property
    def built_sites(self) -> list[str]:
        """Every site the program builds: Site components, site tags, manifest entries."""
        sites = set(self.site_components)
        sites.update(r.tagged_site for r in self.resources if r.tagged_site)
        for _, manifest in self.manifests:
            if isinstance(manifest, dict):
                for entry in as_list(manifest.get("sites")):
                    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                        sites.add(entry["name"])
        return sorted(sites)

    @cached_property
    def label_regulated_sites(self) -> set[str]:
        """Sites the program itself labels regulated (tags or manifest)."""
        sites = {
            site
            for r in self.resources
            if self.config.tag_says_regulated(r.tags) and (site := self.declared_site(r))
        }
        for _, manifest in self.manifests:
            if isinstance(manifest, dict):
                for entry in as_list(manifest.get("sites")):
                    if isinstance(entry, dict) and entry.get("residency") == "regulated":
                        sites.add(str(entry.get("name")))
        return sites

    @cached_property
    def regulated_sites(self) -> list[str]:
        """Regulated per compliance's config, plus any the program labels regulated."""
        built = set(self.built_sites)
        regulated = {s for s in built if self.ctx.is_regulated_site(s)}
        return sorted(regulated | (self.label_regulated_sites & built))

    def site_urn(self, site: str) -> str | None:
        component = self.site_components.get(site)
        return component.urn if component is not None else None

    # --- artefacts and membership ----------------------------------------------------------

    @cached_property
    def artefacts(self) -> dict[str, Artefact]:
        """URN -> the site artefact it is (a declared secret, key, role, log group, ...)."""
        found = {}
        for resource_type, kind in ARTEFACT_KINDS.items():
            for r in self.of_type(resource_type):
                site = self.declared_site(r)
                if site:
                    found[r.urn] = Artefact(site, kind, r)
        return found

    @cached_property
    def artefact_names(self) -> dict[str, Artefact]:
        """Literal strings (names, ARNs, families, key ids) -> the artefact they name."""
        found: dict[str, Artefact] = {}
        keys = ("name", "arn", "family", "arnWithoutRevision", "keyId", "id")
        for artefact in self.artefacts.values():
            for key in keys:
                value = artefact.resource.get(key)
                if isinstance(value, str) and value:
                    found.setdefault(value, artefact)
        return found

    def artefact_named(self, value: Any) -> Artefact | None:
        """The artefact a literal reference names (ARN, name, `family:rev`, secret ref...)."""
        if not isinstance(value, str) or not value:
            return None
        names = self.artefact_names
        if value in names:
            return names[value]
        if value.startswith("arn:"):
            parts = value.split(":")
            if len(parts) > 7 and parts[2] == "secretsmanager":  # secret ARN + :json-key::
                return names.get(":".join(parts[:7]))
            if parts[2] == "ecs" and ":task-definition/" in value:
                return names.get(value.rsplit(":", 1)[0]) or names.get(
                    _last(value, "/").split(":", 1)[0]
                )
            if parts[2] == "iam":
                return names.get(_last(value, "/"))
            if (
                parts[2] == "glue"
                and len(parts) > 5
                and parts[5].startswith(("database/", "table/"))
            ):
                return names.get(parts[5].split("/")[1])
            return None
        if ":" in value:  # family:revision
            return names.get(value.split(":", 1)[0])
        return None

    @cached_property
    def lake_prefix_sites(self) -> set[str]:
        return set(self.built_sites)

    def _literal_references(self, resource: StackResource) -> Iterator[tuple[Artefact | str, str]]:
        """(artefact or site, what) for each literal reference a workload's known props make."""
        if resource.type == TASK_DEFINITION:
            for key in ("taskRoleArn", "executionRoleArn", "family"):
                artefact = self.artefact_named(resource.get(key))
                if artefact is not None and artefact.resource is not resource:
                    yield artefact, key
            containers = json_document(resource.get("containerDefinitions"))
            for container in containers if isinstance(containers, list) else []:
                if not isinstance(container, dict):
                    continue
                for variable in as_list(container.get("environment")):
                    if not isinstance(variable, dict):
                        continue
                    name, value = str(variable.get("name")), variable.get("value")
                    artefact = self.artefact_named(value)
                    if artefact is not None:
                        yield artefact, f"environment {name}"
                    if name == "ETL_SITE" and value in self.lake_prefix_sites:
                        yield str(value), "lake prefix (ETL_SITE)"
                    if name == "ETL_KEY_PREFIX" and isinstance(value, str):
                        site = value.strip("/").split("/", 1)[0]
                        if site in self.lake_prefix_sites:
                            yield site, f"lake prefix {site}/ (ETL_KEY_PREFIX)"
                for secret in as_list(container.get("secrets")):
                    if isinstance(secret, dict):
                        artefact = self.artefact_named(secret.get("valueFrom"))
                        if artefact is not None:
                            yield artefact, f"container secret {secret.get('name')}"
                options = (container.get("logConfiguration") or {}).get("options") or {}
                artefact = self.artefact_named(options.get("awslogs-group"))
                if artefact is not None:
                    yield artefact, "awslogs-group"
        elif resource.type in (SERVICE, TASK_SET):
            for key in ("cluster", "taskDefinition", "service"):
                value = resource.get(key)
                artefact = self.artefact_named(value)
                if artefact is not None:
                    yield artefact, key
                elif isinstance(value, str) and value in self._member_names:
                    yield self._member_names[value], key
        elif resource.type == CLUSTER_CAPACITY_PROVIDERS:
            artefact = self.artefact_named(resource.get("clusterName"))
            if artefact is not None:
                yield artefact, "clusterName"

    def _reason_order(self, urn: str) -> tuple[int, str]:
        """Dependencies in the order ARTEFACT_KINDS lists their kinds (the DB secret first), so
        the reasons a message shows first are the telling ones."""
        artefact = self.artefacts.get(urn)
        kind = artefact.resource.type if artefact is not None else ""
        return (_KIND_ORDER.get(kind, len(_KIND_ORDER)), urn)

    @cached_property
    def memberships(self) -> dict[str, dict[str, Membership]]:
        """URN of each ECS workload (task definition, service, task set, capacity provider) ->
        site -> why it belongs there. Computed in dependency order, so a service that runs a
        member task definition is a member too."""
        result: dict[str, dict[str, Membership]] = {}
        member_urns: dict[str, str] = {}  # member URN -> site (first found), for edges

        def record(resource: StackResource) -> None:
            sites: dict[str, Membership] = defaultdict(Membership)
            tagged = resource.tagged_site
            if tagged:
                sites[tagged].declared = True
                sites[tagged].add(f"tagged site={tagged}")
            ancestor = self.ancestor_site(resource)
            if ancestor:
                sites[ancestor].declared = True
                sites[ancestor].add(f"declared under Site {ancestor}")
            for urn in sorted(resource.all_dependencies, key=self._reason_order):
                artefact = self.artefacts.get(urn)
                if artefact is not None and artefact.resource is not resource:
                    sites[artefact.site].add(f"uses {artefact.site}'s {artefact.label}")
                elif urn in member_urns and urn != resource.urn:
                    other = self.by_urn[urn]
                    sites[member_urns[urn]].add(
                        f"uses {other.type.rsplit(':', 1)[-1]} {other.name}"
                    )
            for target, key in self._literal_references(resource):
                if isinstance(target, Artefact):
                    sites[target.site].add(f"names {target.site}'s {target.label} ({key})")
                else:
                    sites[target].add(f"writes {target}'s {key}")
            if sites:
                result[resource.urn] = dict(sites)
                first = sorted(sites, key=lambda s: not self.ctx.is_regulated_site(s))[0]
                member_urns[resource.urn] = first
                for key in ("name", "arn", "family", "arnWithoutRevision"):
                    value = resource.get(key)
                    if isinstance(value, str):
                        self._member_names.setdefault(value, first)

        for resource_type in (TASK_DEFINITION, SERVICE, TASK_SET, CLUSTER_CAPACITY_PROVIDERS):
            for resource in self.of_type(resource_type):
                record(resource)
        self._capacity_providers(result)
        return result

    def _capacity_providers(self, result: dict[str, dict[str, Membership]]) -> None:
        """A capacity provider belongs to the sites whose cluster or services use it."""
        users: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for attachment in self.of_type(CLUSTER_CAPACITY_PROVIDERS):
            for site in result.get(attachment.urn, {}):
                for name in as_list(attachment.get("capacityProviders")):
                    users[str(name)].append((site, f"attached to {site}'s cluster"))
        for service in self.of_type(SERVICE, TASK_SET):
            for site in result.get(service.urn, {}):
                for strategy in as_list(service.get("capacityProviderStrategies")):
                    if isinstance(strategy, dict):
                        users[str(strategy.get("capacityProvider"))].append(
                            (site, f"used by {site}'s {service.name}")
                        )
        for provider in self.of_type(CAPACITY_PROVIDER):
            sites: dict[str, Membership] = defaultdict(Membership)
            declared = self.declared_site(provider)
            if declared:
                sites[declared].declared = True
                sites[declared].add(f"tagged or declared for {declared}")
            name = provider.get("name")
            for site, why in users.get(str(name), []):
                sites[site].add(why)
            if sites:
                result[provider.urn] = dict(sites)

    @cached_property
    def _members_by_site(self) -> dict[str, list[tuple[StackResource, Membership]]]:
        found: dict[str, list[tuple[StackResource, Membership]]] = defaultdict(list)
        for urn, sites in self.memberships.items():
            for site, membership in sites.items():
                found[site].append((self.by_urn[urn], membership))
        return found

    def members(self, site: str) -> list[tuple[StackResource, Membership]]:
        return self._members_by_site.get(site, [])

    @cached_property
    def _artefacts_by_site(self) -> dict[tuple[str, str], list[Artefact]]:
        found: dict[tuple[str, str], list[Artefact]] = defaultdict(list)
        for artefact in self.artefacts.values():
            found[(artefact.site, artefact.resource.type)].append(artefact)
        return found

    def artefacts_of(self, site: str, *types: str) -> list[Artefact]:
        """The site's declared artefacts of these types."""
        return [a for t in types for a in self._artefacts_by_site.get((site, t), [])]

    def own_clusters(self, site: str) -> list[StackResource]:
        return [a.resource for a in self.artefacts_of(site, CLUSTER)]

    def is_own_cluster(self, site: str, resource: StackResource, key: str) -> bool | None:
        """Whether `resource.<key>` names one of the site's own clusters (None: unknown)."""
        own = self.own_clusters(site)
        if any(c.urn in resource.depends_on(key) for c in own):
            return True
        value = resource.get(key)
        if is_unknown(value):
            return None if not resource.depends_on(key) else False
        names = {v for c in own for k in ("name", "arn") if isinstance(v := c.get(k), str)}
        return value in names

    # --- accounts, buckets, objects -------------------------------------------------------

    @cached_property
    def own_accounts(self) -> frozenset[str]:
        """The stack's accounts: compliance's list, else the accounts of the stack's own ARNs."""
        if self.config.accounts:
            return frozenset(self.config.accounts)
        accounts = set()
        for r in self.resources:
            arn = r.get("arn")
            if isinstance(arn, str) and arn.startswith("arn:"):
                parts = arn.split(":")
                if len(parts) > 4 and parts[4].isdigit():
                    accounts.add(parts[4])
        return frozenset(accounts)

    @cached_property
    def home_account(self) -> str | None:
        """The account an ARN the provider has not computed yet is built in (the lowest of
        `own_accounts`, so every rule and report builds the same one)."""
        return min(self.own_accounts, default=None)

    @cached_property
    def lake_buckets(self) -> list[StackResource]:
        return [b for b in self.of_type(BUCKET) if b.tags.get("purpose") == LAKE_PURPOSE]

    def bucket_of(self, setting: StackResource) -> StackResource | None:
        """The bucket a bucket-level resource (policy, replication, ...) configures."""
        for urn in setting.depends_on("bucket"):
            bucket = self.by_urn.get(urn)
            if bucket is not None and bucket.type == BUCKET:
                return bucket
        name = setting.get("bucket")
        if isinstance(name, str):
            for bucket in self.of_type(BUCKET):
                if name in (bucket.get("bucket"), bucket.get("id")):
                    return bucket
        return None

    def objects_named(self, basename: str) -> Iterator[tuple[StackResource, bool | None]]:
        """Bucket objects whose key ends in `basename` (True), or whose key is unknown (None)."""
        for obj in self.of_type(BUCKET_OBJECT, BUCKET_OBJECT_V1):
            key = obj.get("key")
            if is_unknown(key):
                yield obj, None
            elif isinstance(key, str) and posixpath.basename(key) == basename:
                yield obj, True

    @staticmethod
    def content_of(obj: StackResource) -> str | Unknown | None:
        content = obj.get("content")
        if isinstance(content, str | Unknown):
            return content
        source = obj.props.get("source")
        text = getattr(source, "text", None)
        return text if isinstance(text, str) else None

    def documents_named(
        self, basename: str, *, dicts_only: bool
    ) -> list[tuple[StackResource, Any]]:
        """Every object named `basename`, with its parsed JSON content: `Unknown` at preview, or
        None when it cannot be read or parsed (or, with `dicts_only`, is not an object)."""
        found: list[tuple[StackResource, Any]] = []
        for obj, named in self.objects_named(basename):
            if named is None:
                continue
            content = self.content_of(obj)
            if isinstance(content, Unknown):
                found.append((obj, content))
                continue
            parsed = json_document(content) if content is not None else None
            found.append((obj, None if dicts_only and not isinstance(parsed, dict) else parsed))
        return found

    @cached_property
    def manifests(self) -> list[tuple[StackResource, Any]]:
        """Every object named like the sites manifest (decoys included)."""
        return self.documents_named(MANIFEST_KEY, dicts_only=True)

    @cached_property
    def network_objects(self) -> list[tuple[StackResource, Any]]:
        return self.documents_named(NETWORK_KEY, dicts_only=False)

    # --- IAM ------------------------------------------------------------------------------

    @cached_property
    def principals(self) -> list[Any]:
        from hybrid_policies.principals import principals_of

        return principals_of(self)

    @cached_property
    def roles_by_key(self) -> dict[str, Any]:
        """Role principals by URN, ARN and name (what a task definition's role may say)."""
        return {
            key: p
            for p in self.principals
            if p.resource is not None and p.resource.type == ROLE
            for key in (p.resource.urn, p.arn, p.name)
            if key
        }
