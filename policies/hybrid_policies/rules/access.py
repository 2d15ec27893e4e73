"""Who may touch a regulated site's tasks and data, evaluated over every principal of the stack.

`regulated-sites-isolated`: no principal may run a regulated site's task definitions on any
cluster but the site's own, nor any other task definition on it (RunTask/StartTask with the
`ecs:cluster` condition key evaluated for each cluster of the stack and for a cluster outside
it). `regulated-data-access-confined`: only the site's own roles may read its DB secret, use its
key, read its lake prefix, or read or change its Glue database, tables and partitions (the
catalog describes the site's data and points at it: it follows the same rule as the data).

Both fail closed: a principal whose policies cannot be read (unknown at preview, an AWS managed
ARN the list does not know, a policy from outside the stack) is a violation naming it, when the
stack has a regulated site.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.iam import PrefixIndex, Statement, TargetIndex, condition_holds
from hybrid_policies.principals import Principal
from hybrid_policies.rules import (
    BUCKET,
    CLUSTER,
    GLUE_DATABASE,
    KMS_ALIAS,
    KMS_KEY,
    SECRET,
    TASK_DEFINITION,
)
from hybrid_policies.views import StackResource, StackViolation, as_list

RUN_ACTIONS = ("ecs:RunTask", "ecs:StartTask")
REVISION = re.compile(r"^(arn:[^:]*:ecs:[^:]*:[^:]*:task-definition/[^:*?]+):\d+$")
FOREIGN_CLUSTER = "zz-a-cluster-outside-this-stack"
SECRET_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:ReplicateSecretToRegions",
)
KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
)
PREFIX_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
PROBE_OBJECT = "zz-any-object"
# Glue authorises each call on the catalog, the database and (for table and partition calls)
# the table; a grant on the site's database or tables is the part that singles the site out.
GLUE_DATABASE_ACTIONS = (
    "glue:GetDatabase",
    "glue:UpdateDatabase",
    "glue:DeleteDatabase",
    "glue:GetTables",
    "glue:CreateTable",
)
GLUE_TABLE_ACTIONS = (
    "glue:GetTable",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:DeleteTable",
    "glue:BatchDeleteTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
    "glue:CreatePartition",
    "glue:BatchCreatePartition",
    "glue:UpdatePartition",
    "glue:DeletePartition",
    "glue:BatchDeletePartition",
)


def unverifiable_principals(ev: Evaluation, what: str) -> Iterator[StackViolation]:
    if not ev.regulated_sites:
        return
    for principal in ev.principals:
        if principal.unverifiable:
            yield StackViolation(
                f"cannot verify {what} for {principal.label}: "
                + "; ".join(principal.unverifiable[:3])
                + " (residency fails closed: make the document known at preview, e.g. built "
                "from names the program writes)",
                principal.urn,
                principal.site,
            )


def _arn_parts(resource: StackResource) -> tuple[str, str] | None:
    """(region, account) of a resource, from its ARN or from what is known at preview."""
    arn = resource.get("arn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":")
        return parts[3], parts[4]
    return None


def task_definition_arn(ev: Evaluation, td: StackResource) -> str | None:
    """The ARN RunTask names for a task definition (a revision of its family)."""
    arn = td.get("arn")
    if isinstance(arn, str):
        return arn
    family, region, account = td.get("family"), td.region, ev.home_account
    if isinstance(family, str) and isinstance(region, str) and account:
        return f"arn:aws:ecs:{region}:{account}:task-definition/{family}:1"
    return None


def cluster_arn(ev: Evaluation, cluster: StackResource) -> str | None:
    arn = cluster.get("arn")
    if isinstance(arn, str):
        return arn
    name, region, account = cluster.get("name"), cluster.region, ev.home_account
    if isinstance(name, str) and isinstance(region, str) and account:
        return f"arn:aws:ecs:{region}:{account}:cluster/{name}"
    return None


@dataclass(frozen=True)
class Run:
    principal: Principal
    statement: Statement
    task: StackResource | None  # None: a task definition from outside the stack
    cluster: str  # the cluster ARN it may run the task on


def _listed_clusters(statement: Statement) -> set[str]:
    """Cluster ARNs an `ecs:cluster` condition names literally (probed like the stack's)."""
    listed: set[str] = set()
    for block in statement.conditions.values():
        if isinstance(block, dict):
            for key, values in block.items():
                if str(key).lower() == "ecs:cluster":
                    listed.update(str(v) for v in as_list(values) if "*" not in str(v))
    return listed


def _clusters_allowed(statement: Statement, probes: list[str]) -> list[str]:
    """The probe clusters the statement's conditions let a task run on."""
    if not any(
        str(key).lower() == "ecs:cluster"
        for block in statement.conditions.values()
        if isinstance(block, dict)
        for key in block
    ):
        return probes  # no cluster condition: any cluster
    conditions = statement.conditions
    literal = all(
        str(key).lower() == "ecs:cluster"
        and not any(c in str(v) for v in as_list(values) for c in "*?")
        for block in conditions.values()
        for key, values in block.items()
    )
    if literal and all(op in ("ArnEquals", "StringEquals") for op in conditions):
        # the usual form: a list of clusters, no wildcards (every block must hold)
        allowed = set(probes)
        for block in conditions.values():
            for values in block.values():
                allowed &= {str(v) for v in as_list(values)}
        return [c for c in probes if c in allowed]
    return [
        c
        for c in probes
        if condition_holds(statement.conditions, {"ecs:cluster": [c]}) is not False
    ]


def _any_revision(pattern: str) -> str:
    """A grant on one revision of a family (`.../F:3`) is a grant on the family's task."""
    match = REVISION.match(pattern)
    return f"{match.group(1)}:*" if match else pattern


def _runs(ev: Evaluation, clusters: list[str], foreign_task: str | None) -> Iterator[Run]:
    """Every (principal, task definition, cluster) RunTask/StartTask is allowed for."""
    tasks: TargetIndex[StackResource | None] = TargetIndex(
        [(arn, td) for td in ev.of_type(TASK_DEFINITION) if (arn := task_definition_arn(ev, td))]
        + ([(foreign_task, None)] if foreign_task else [])
    )
    for principal in ev.principals:
        for action in RUN_ACTIONS:
            allows = [
                s for s in principal.permissions.action_statements(action) if s.effect == "Allow"
            ]
            if not allows:
                continue
            denied = any(s.effect == "Deny" for s in principal.permissions.statements)
            for granted in allows:
                statement = replace(
                    granted, resources=tuple(_any_revision(r) for r in granted.resources)
                )
                probes = list(dict.fromkeys([*clusters, *sorted(_listed_clusters(statement))]))
                allowed = _clusters_allowed(statement, probes)
                if not allowed:
                    continue
                for arn, td in tasks.reached_by(statement):
                    for cluster in allowed:
                        context = {"ecs:cluster": [cluster]}
                        if denied and granted not in principal.permissions.grants(
                            action, arn, context
                        ):
                            continue
                        yield Run(principal, granted, td, cluster)


def regulated_sites_isolated(ev: Evaluation) -> Iterator[StackViolation]:
    regulated = ev.regulated_sites
    if not regulated:
        return
    yield from unverifiable_principals(ev, "which clusters regulated tasks may run on")
    clusters = [arn for c in ev.of_type(CLUSTER) if (arn := cluster_arn(ev, c))]
    region_account = next(
        (p for c in ev.of_type(CLUSTER) if (p := _arn_parts(c)) is not None), ("*", "*")
    )
    foreign = f"arn:aws:ecs:{region_account[0]}:{region_account[1]}:cluster/{FOREIGN_CLUSTER}"
    own: dict[str, set[str]] = {}
    for site in regulated:
        own_clusters = ev.own_clusters(site)
        if not own_clusters:
            yield StackViolation(
                f"regulated site {site} has no ECS cluster of its own (no cluster declared for "
                f"{site}): its hosts would share a cluster with other sites",
                ev.site_urn(site),
                site,
            )
        own[site] = {a for c in own_clusters if (a := cluster_arn(ev, c))}
        for c in own_clusters:
            if cluster_arn(ev, c) is None:
                yield StackViolation(
                    f"cannot verify which tasks may run on {site}'s cluster {c.name}: its ARN "
                    "and the account are unknown before creation (list the account in "
                    "compliance's config `accounts`)",
                    c.urn,
                    site,
                )
    cluster_site = {arn: site for site, arns in own.items() for arn in arns}
    foreign_task = (
        f"arn:aws:ecs:{region_account[0]}:{region_account[1]}:task-definition/zz-foreign:1"
    )
    reported: set[tuple[str, str, str]] = set()
    for run in _runs(ev, [foreign, *clusters], foreign_task):
        task_urn = run.task.urn if run.task is not None else foreign_task
        task_name = run.task.name if run.task is not None else "from outside this stack"
        task_sites = set(ev.memberships.get(task_urn, {})) & set(regulated)
        for site in sorted(task_sites):
            if run.cluster not in own.get(site, set()):
                key = (run.statement.label, task_urn, site)
                if key not in reported:
                    reported.add(key)
                    where = "any cluster" if run.cluster == foreign else run.cluster
                    yield StackViolation(
                        f"{run.principal.label} may run regulated site {site}'s task definition "
                        f"{task_name} on {where} ({run.statement.label}): add Condition "
                        f"ArnEquals ecs:cluster = {site}'s own cluster",
                        run.principal.urn,
                        site,
                    )
        owner = cluster_site.get(run.cluster)
        if owner is not None and owner not in task_sites:
            key = (run.statement.label, task_urn, owner)
            if key not in reported:
                reported.add(key)
                yield StackViolation(
                    f"{run.principal.label} may run task definition {task_name} on regulated "
                    f"site {owner}'s cluster ({run.statement.label})",
                    run.principal.urn,
                    owner,
                )


@dataclass(frozen=True)
class Target:
    site: str
    what: str  # "DB secret hybrid/prod/munich/db"
    actions: tuple[str, ...]
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()  # condition keys the request carries
    # Everything below an ARN prefix (a lake prefix, a database's tables), not one resource:
    # a statement reaches it if it matches any ARN that starts with the prefix.
    below: bool = False


def _probe_arn(ev: Evaluation, resource: StackResource) -> str | None:
    """The resource's ARN, or one built from what is known at preview (name, region, account):
    a policy built from names (secret `name-??????`, key aliases, bucket prefix) matches it."""
    arn = resource.get("arn")
    if isinstance(arn, str):
        return arn
    region, account = resource.region, ev.home_account
    if resource.type == BUCKET:
        name = resource.get("bucket")
        prefix = resource.get("bucketPrefix")
        if isinstance(name, str):
            return f"arn:aws:s3:::{name}"
        return f"arn:aws:s3:::{prefix}zzprobe" if isinstance(prefix, str) else None
    if not (isinstance(region, str) and account):
        return None
    if resource.type == SECRET and isinstance(name := resource.get("name"), str):
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-zzPRBE"
    if resource.type == KMS_KEY:
        return f"arn:aws:kms:{region}:{account}:key/zz-{resource.name}"
    if resource.type == GLUE_DATABASE and isinstance(name := resource.get("name"), str):
        return f"arn:aws:glue:{region}:{account}:database/{name}"
    return None


def _aliases(ev: Evaluation, key: StackResource) -> tuple[str, ...]:
    by_key = ev.cache.get("aliases_by_key")
    if by_key is None:
        by_key = defaultdict(list)
        for alias in ev.of_type(KMS_ALIAS):
            if isinstance(name := alias.get("name"), str):
                for urn in alias.depends_on("targetKeyId"):
                    by_key[urn].append(name)
        ev.cache["aliases_by_key"] = by_key
    return tuple(by_key.get(key.urn, ()))


def _targets(ev: Evaluation) -> tuple[list[tuple[str, Target]], list[str]]:
    """(ARN, target) of each regulated site's secret, key, lake prefix and Glue database and
    tables; and what is unknown."""
    found: list[tuple[str, Target]] = []
    unknown: list[str] = []
    for site in ev.regulated_sites:
        for artefact in ev.artefacts_of(site, SECRET, KMS_KEY, GLUE_DATABASE):
            resource = artefact.resource
            arn = _probe_arn(ev, resource)
            if arn is None:
                unknown.append(f"{site}'s {artefact.label}")
            elif resource.type == SECRET:
                found.append((arn, Target(site, artefact.label, SECRET_ACTIONS)))
            elif resource.type == GLUE_DATABASE:
                found.append((arn, Target(site, artefact.label, GLUE_DATABASE_ACTIONS)))
                tables = arn.replace(":database/", ":table/", 1) + "/"
                what = f"{artefact.label} tables"
                found.append((tables, Target(site, what, GLUE_TABLE_ACTIONS, below=True)))
            else:
                context = (("kms:resourcealiases", _aliases(ev, resource)),)
                found.append((arn, Target(site, artefact.label, KEY_ACTIONS, context)))
        for lake in ev.lake_buckets:
            arn = _probe_arn(ev, lake)
            if arn is None:
                unknown.append(f"the lake's name for {site}'s prefix")
                continue
            target = Target(site, f"lake prefix {site}/", PREFIX_ACTIONS, below=True)
            found.append((f"{arn}/{site}/", target))
    return found, unknown


def _owns(principal: Principal, site: str) -> bool:
    return principal.kind == "role" and principal.site == site


def regulated_data_access_confined(ev: Evaluation) -> Iterator[StackViolation]:
    if not ev.regulated_sites:
        return
    yield from unverifiable_principals(
        ev, "who may read regulated sites' secrets, keys and lake prefixes"
    )
    found, unknown = _targets(ev)
    if unknown and any(p.permissions.statements for p in ev.principals):
        yield StackViolation(
            "cannot verify who may read "
            + ", ".join(unknown[:4])
            + ": their ARNs are unknown before creation (residency fails closed)"
        )
    index = TargetIndex([(arn, t) for arn, t in found if not t.below])
    prefixes = PrefixIndex([(arn, t) for arn, t in found if t.below], PROBE_OBJECT)
    actions = list(dict.fromkeys(a for _, t in found for a in t.actions))
    for principal in ev.principals:
        yield from _reaches(principal, actions, index, prefixes)


def _reaches(
    principal: Principal,
    actions: list[str],
    index: TargetIndex[Target],
    prefixes: PrefixIndex[Target],
) -> Iterator[StackViolation]:
    """What one principal may do to other sites' regulated data: per target, the first action
    (in `actions` order) a statement grants. Each Allow statement is matched against the
    targets once, for all the actions it allows."""
    first: dict[str, tuple[int, int, str, Statement, Target]] = {}
    permissions = principal.permissions
    for order, statement in enumerate(permissions.statements):
        if statement.effect != "Allow":
            continue
        allowed = [(rank, a) for rank, a in enumerate(actions) if statement.allows_action(a)]
        if not allowed:
            continue
        for arn, target in [*index.reached_by(statement), *prefixes.reached_by(statement)]:
            if _owns(principal, target.site):
                continue
            for rank, action in allowed:
                if action not in target.actions:
                    continue
                known = first.get(target.what)
                if known is not None and (known[0], known[1]) <= (rank, order):
                    break
                if statement in permissions.grants(action, arn, dict(target.context)):
                    first[target.what] = (rank, order, action, statement, target)
                    break
    for _, _, action, statement, target in sorted(first.values(), key=lambda f: (f[0], f[1])):
        yield StackViolation(
            f"{principal.label}"
            + (f" (site {principal.site})" if principal.site else "")
            + f" may {action} on regulated site {target.site}'s {target.what} "
            f"({statement.label}): only {target.site}'s own roles may",
            principal.urn,
            target.site,
        )
