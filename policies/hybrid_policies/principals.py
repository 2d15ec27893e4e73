"""Who in the stack can do what: every IAM principal with every policy that reaches it.

A policy reaches a principal in many ways, and residency checks must see all of them: a role's
`inlinePolicies` and `managedPolicyArns`, `RolePolicy`, `RolePolicyAttachment`, the
multi-principal `PolicyAttachment`, users' and groups' policies and attachments, group
membership (a user gets its groups' policies), customer managed `aws:iam/policy:Policy`
documents, and AWS managed policies by ARN. Targets are matched by the engine's property
dependency (known at preview) or by name. A document that is unknown (preview) or an AWS managed
ARN the list does not know is recorded as unverifiable: residency rules then fail closed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hybrid_policies.iam import Permissions, aws_managed_document, statements_of
from hybrid_policies.rules import (
    GROUP,
    GROUP_MEMBERSHIP,
    GROUP_POLICY,
    GROUP_POLICY_ATTACHMENT,
    MANAGED_POLICY,
    POLICY_ATTACHMENT,
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    USER,
    USER_GROUP_MEMBERSHIP,
    USER_POLICY,
    USER_POLICY_ATTACHMENT,
)
from hybrid_policies.views import StackResource, Unknown, as_list, is_unknown, json_document

if TYPE_CHECKING:
    from hybrid_policies.evaluation import Evaluation


@dataclass
class Principal:
    kind: str  # role | user | group | unattributed
    name: str
    resource: StackResource | None
    site: str | None  # the site it is declared for (tag or Site ancestor)
    permissions: Permissions = field(default_factory=Permissions)
    unverifiable: list[str] = field(default_factory=list)  # what could not be read, and why

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def urn(self) -> str | None:
        return self.resource.urn if self.resource is not None else None

    @property
    def arn(self) -> str | None:
        arn = self.resource.get("arn") if self.resource is not None else None
        return arn if isinstance(arn, str) else None

    def add_document(self, document: Any, source: str) -> None:
        if is_unknown(document):
            self.unverifiable.append(f"{source} is unknown until apply")
            return
        parsed = json_document(document)
        if isinstance(parsed, Unknown):
            self.unverifiable.append(f"{source} is unknown until apply")
        else:
            self.permissions.statements.extend(statements_of(parsed, source))


def _name(resource: StackResource) -> str:
    name = resource.get("name")
    return name if isinstance(name, str) else resource.name


class _Builder:
    def __init__(self, ev: Evaluation) -> None:
        self.ev = ev
        self.principals: dict[str, Principal] = {}  # URN -> principal
        self.by_kind_name: dict[tuple[str, str], Principal] = {}
        self.group_members: dict[str, set[str]] = defaultdict(set)  # group URN -> user URNs
        self.policies: dict[str, StackResource] = {}  # customer managed policy URN/ARN -> it
        for kind, resource_type in (("role", ROLE), ("user", USER), ("group", GROUP)):
            for r in ev.of_type(resource_type):
                principal = Principal(kind, _name(r), r, ev.declared_site(r))
                self.principals[r.urn] = principal
                for key in ("name", "arn", "id", "uniqueId"):
                    value = r.get(key)
                    if isinstance(value, str):
                        self.by_kind_name[(kind, value)] = principal
        for policy in ev.of_type(MANAGED_POLICY):
            self.policies[policy.urn] = policy
            arn = policy.get("arn")
            if isinstance(arn, str):
                self.policies[arn] = policy

    def target(self, kind: str, resource: StackResource, key: str, value: Any) -> Principal:
        """The principal `resource.<key>` names, or an unattributed stand-in."""
        for urn in resource.depends_on(key):
            found = self.principals.get(urn)
            if found is not None and found.kind == kind:
                return found
        if isinstance(value, str):
            found = self.by_kind_name.get((kind, value)) or self.by_kind_name.get(
                (kind, value.rsplit("/", 1)[-1])
            )
            if found is not None:
                return found
        shown = value if isinstance(value, str) else "(unknown)"
        key_ = f"unattributed:{resource.urn}:{shown}"
        if key_ not in self.principals:
            self.principals[key_] = Principal(
                "unattributed", f"{kind} {shown} of {resource.name}", resource, None
            )
        return self.principals[key_]

    def attach(self, principal: Principal, arn: Any, deps: tuple[str, ...], where: str) -> None:
        """Attach a managed policy (by ARN, or by the dependency when the ARN is unknown)."""
        if isinstance(arn, str) and arn in self.policies:
            policy = self.policies[arn]
            principal.add_document(policy.get("policy"), f"managed policy {_name(policy)}")
        elif isinstance(arn, str) and arn.startswith("arn:aws:iam::aws:policy/"):
            document = aws_managed_document(arn)
            if document is None:
                principal.unverifiable.append(
                    f"AWS managed policy {arn} is not in the list of AWS managed policies"
                )
            else:
                principal.add_document(document, f"AWS managed policy {arn.rsplit('/', 1)[-1]}")
        elif is_unknown(arn):
            policies = [self.policies[urn] for urn in deps if urn in self.policies]
            for policy in policies:
                principal.add_document(policy.get("policy"), f"managed policy {_name(policy)}")
            if not policies:
                principal.unverifiable.append(f"the policy ARN {where} is unknown until apply")
        else:
            principal.unverifiable.append(f"{where} attaches {arn}, a policy outside this stack")

    def build(self) -> list[Principal]:
        ev = self.ev
        for principal in list(self.principals.values()):
            r = principal.resource
            if r is None or principal.kind != "role":
                continue
            for i, inline in enumerate(as_list(r.get("inlinePolicies"))):
                if isinstance(inline, dict):
                    principal.add_document(
                        inline.get("policy"),
                        f"{principal.label} inline policy {inline.get('name')}",
                    )
                elif is_unknown(inline):
                    principal.unverifiable.append(f"inline policy #{i + 1} of {principal.label}")
            managed = r.get("managedPolicyArns")
            if is_unknown(managed):
                principal.unverifiable.append(f"managedPolicyArns of {principal.label}")
            for arn in as_list(managed):
                self.attach(
                    principal, arn, r.depends_on("managedPolicyArns"), f"of {principal.label}"
                )
        documents = ((ROLE_POLICY, "role"), (USER_POLICY, "user"), (GROUP_POLICY, "group"))
        for resource_type, kind in documents:
            for doc in ev.of_type(resource_type):
                principal = self.target(kind, doc, kind, doc.get(kind))
                principal.add_document(doc.get("policy"), f"{kind} policy {doc.name}")
        attachments = (
            (ROLE_POLICY_ATTACHMENT, "role"),
            (USER_POLICY_ATTACHMENT, "user"),
            (GROUP_POLICY_ATTACHMENT, "group"),
        )
        for resource_type, kind in attachments:
            for attachment in ev.of_type(resource_type):
                principal = self.target(kind, attachment, kind, attachment.get(kind))
                self.attach(
                    principal,
                    attachment.get("policyArn"),
                    attachment.depends_on("policyArn"),
                    f"of {attachment.name}",
                )
        for attachment in ev.of_type(POLICY_ATTACHMENT):
            for key, kind in (("roles", "role"), ("users", "user"), ("groups", "group")):
                for value in as_list(attachment.get(key)):
                    self.attach(
                        self.target(kind, attachment, key, value),
                        attachment.get("policyArn"),
                        attachment.depends_on("policyArn"),
                        f"of {attachment.name}",
                    )
        self._memberships()
        return list(self.principals.values())

    def _memberships(self) -> None:
        """Users get the policies of their groups."""
        pairs: list[tuple[Principal, Principal]] = []
        for membership in self.ev.of_type(GROUP_MEMBERSHIP):
            group = self.target("group", membership, "group", membership.get("group"))
            for user in as_list(membership.get("users")):
                pairs.append((self.target("user", membership, "users", user), group))
        for membership in self.ev.of_type(USER_GROUP_MEMBERSHIP):
            user = self.target("user", membership, "user", membership.get("user"))
            for group in as_list(membership.get("groups")):
                pairs.append((user, self.target("group", membership, "groups", group)))
        for user, group in pairs:
            user.permissions.statements.extend(group.permissions.statements)
            user.unverifiable.extend(f"via group {group.name}: {u}" for u in group.unverifiable)


def principals_of(ev: Evaluation) -> list[Principal]:
    return _Builder(ev).build()


def unverifiable(principals: Iterable[Principal]) -> list[Principal]:
    return [p for p in principals if p.unverifiable]
