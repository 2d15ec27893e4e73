"""Where each regulated site's data is *stored*, under which key, and who can read it.

Derived from the captured resources with the policy pack's own evaluation (site membership by
relationship, every IAM principal with every policy that reaches it, evaluated as AWS does):

- a site's extracts land where its ETL task roles may `s3:PutObject` (the task roles of every
  task definition that belongs to the site, by tag, Site parent or reference), in a bucket of
  the stack, below the prefix the grant allows;
- the bucket's region and its SSE-KMS key come from the bucket and its encryption settings;
- readers are the stack's principals the IAM evaluator lets `s3:GetObject` an object below that
  prefix (and whether they may `kms:Decrypt` under its key), plus bucket policy statements;
- the site's DB credentials: its secret, the secret's key, and who may `GetSecretValue`.

Nothing here comes from the sites manifest or the stack config: both are claims the program
writes; the resources and their policies are what AWS enforces.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.iam import Statement, literal_prefix, statements_of
from hybrid_policies.principals import Principal
from hybrid_policies.rules import (
    BUCKET,
    BUCKET_POLICY,
    BUCKET_SSE,
    KMS_ALIAS,
    KMS_KEY,
    KMS_KEY_POLICY,
    SECRET,
    TASK_DEFINITION,
)
from hybrid_policies.rules.access import PROBE_OBJECT
from hybrid_policies.rules.keys import is_aws_managed_key, key_named, stack_key
from hybrid_policies.rules.storage import settings_of
from hybrid_policies.views import StackResource, as_list, is_unknown, json_document
from hybridctl.engine import PolicyInputs
from hybridctl.policy_pack import hybrid_policies as hp

WRITE_ACTION = "s3:PutObject"
READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
SECRET_READ = "secretsmanager:GetSecretValue"  # noqa: S105 (an IAM action)
DECRYPT = "kms:Decrypt"


def pack_evaluation(inputs: PolicyInputs, config: hp.PolicyConfig, now: dt.datetime) -> Evaluation:
    """The pack's evaluation of the captured stack, as its stack policies see it."""
    views = [StackResource.from_policy_resource(r) for r in inputs.stack_resources]
    return Evaluation(views, hp.RuleContext(config, now))


@dataclass(frozen=True)
class Access:
    """What one principal may do to one stored item, and the statements that allow it."""

    principal: str  # "role hybrid-prod-munich-task"
    site: str | None  # the site the principal is declared for
    actions: tuple[str, ...]
    statements: tuple[str, ...]
    decrypt: bool | None = None  # may it decrypt under the item's key (None: no key to ask)


@dataclass(frozen=True)
class KeyInfo:
    urn: str
    name: str  # its first alias, else the resource name
    arn: str | None
    region: str | None
    aliases: tuple[str, ...]
    rotation: bool | None
    policy: str  # who the key policy lets use it, in a sentence
    shared_with: tuple[str, ...] = ()  # other sites whose data it also encrypts


@dataclass(frozen=True)
class DataLocation:
    kind: str  # "extracts" | "DB credentials"
    uri: str  # s3://bucket/prefix/ or secretsmanager:name
    resource_urn: str
    region: str | None
    key: KeyInfo | None
    key_note: str  # "customer-managed key of this stack", "AWS managed key", ...
    writers: tuple[Access, ...]
    readers: tuple[Access, ...]
    resource_policy: tuple[str, ...]  # bucket policy statements about reading it
    outside_allowed: bool  # stored outside the site's allowed regions
    bucket: str | None = None
    prefix: str | None = None


@dataclass(frozen=True)
class SiteStorage:
    site: str
    residency: str
    allowed_regions: tuple[str, ...]
    locations: tuple[DataLocation, ...]
    notes: tuple[str, ...]
    unverifiable: tuple[str, ...]  # principals whose policies cannot be read (preview)


# --- shared derivations (the residency map uses them too) ------------------------------------


@dataclass(frozen=True)
class Write:
    bucket: StackResource
    bucket_arn: str
    prefix: str  # "" = anywhere in the bucket
    principal: Principal
    statement: Statement


def holders(ev: Evaluation, action: str) -> list[Principal]:
    """The principals with an Allow statement naming `action` (indexed once per evaluation):
    the only ones worth asking the evaluator about it."""
    key = f"hybridctl:holders:{action}"
    if key not in ev.cache:
        ev.cache[key] = [
            p
            for p in ev.principals
            if any(s.effect == "Allow" for s in p.permissions.action_statements(action))
        ]
    found: list[Principal] = ev.cache[key]
    return found


def site_task_definitions(ev: Evaluation, site: str) -> list[StackResource]:
    """Every task definition that belongs to the site, however it is declared."""
    return [r for r, _ in ev.members(site) if r.type == TASK_DEFINITION]


def role_of(ev: Evaluation, resource: StackResource, key: str) -> Principal | None:
    """The role principal `resource.<key>` names: by dependency, ARN or name."""
    roles: dict[str, Principal] = ev.roles_by_key
    for urn in resource.depends_on(key):
        if urn in roles:
            return roles[urn]
    value = resource.get(key)
    if isinstance(value, str):
        return roles.get(value) or roles.get(value.rsplit("/", 1)[-1])
    return None


def bucket_arn(bucket: StackResource) -> str | None:
    arn = bucket.get("arn")
    if isinstance(arn, str):
        return arn
    name = bucket.get("bucket")
    return f"arn:aws:s3:::{name}" if isinstance(name, str) else None


def bucket_name(bucket: StackResource) -> str:
    name = bucket.get("bucket")
    return name if isinstance(name, str) else bucket.name


def writes(ev: Evaluation, principal: Principal) -> Iterator[Write]:
    """Where in the stack's buckets the principal may put objects, as the IAM evaluator says."""
    statements = [
        s for s in principal.permissions.action_statements(WRITE_ACTION) if s.effect == "Allow"
    ]
    if not statements:
        return
    for bucket in ev.of_type(BUCKET):
        arn = bucket_arn(bucket)
        if arn is None:
            continue
        found: dict[str, Statement] = {}
        for statement in statements:
            patterns = statement.resources if statement.not_resources is None else ("*",)
            for pattern in patterns:
                literal = literal_prefix(pattern)
                if literal.startswith(f"{arn}/"):
                    prefix = literal[len(arn) + 1 :]
                elif f"{arn}/".startswith(literal):
                    prefix = ""  # a wildcard that covers the whole bucket
                else:
                    continue
                probe = f"{arn}/{prefix}{PROBE_OBJECT}"
                if statement in principal.permissions.grants(WRITE_ACTION, probe):
                    found.setdefault(prefix, statement)
        for prefix, statement in sorted(found.items()):
            if any(prefix.startswith(p) for p in found if p != prefix):
                continue  # a narrower prefix inside one already allowed
            yield Write(bucket, arn, prefix, principal, statement)


def site_writes(ev: Evaluation, site: str) -> list[tuple[StackResource, Write]]:
    """(task definition, write) for every place the site's ETL task roles may write."""
    key = f"hybridctl:site-writes:{site}"
    if key not in ev.cache:
        found: list[tuple[StackResource, Write]] = []
        for td in site_task_definitions(ev, site):
            role = role_of(ev, td, "taskRoleArn")
            if role is not None:
                found.extend((td, w) for w in writes(ev, role))
        ev.cache[key] = found
    cached: list[tuple[StackResource, Write]] = ev.cache[key]
    return cached


def aliases_of(ev: Evaluation, key: StackResource) -> tuple[str, ...]:
    names = []
    for alias in ev.of_type(KMS_ALIAS):
        target = alias.get("targetKeyId")
        if key.urn in alias.depends_on("targetKeyId") or target in (
            key.get("keyId"),
            key.get("arn"),
        ):
            name = alias.get("name")
            if isinstance(name, str):
                names.append(name)
    return tuple(sorted(names))


def bucket_key(ev: Evaluation, bucket: StackResource) -> tuple[StackResource | None, str]:
    """The KMS key of the stack a bucket's objects are encrypted under, and in words."""
    for sse in settings_of(ev, bucket, BUCKET_SSE):
        for rule in as_list(sse.get("rules")):
            default = (
                rule.get("applyServerSideEncryptionByDefault") if isinstance(rule, dict) else None
            )
            if not isinstance(default, dict):
                continue
            named = default.get("kmsMasterKeyId")
            if is_aws_managed_key(named) or (default.get("sseAlgorithm") == "AES256"):
                return None, "an AWS managed key (not a key of this stack)"
            key = stack_key(ev, sse, "rules") if is_unknown(named) else None
            if not isinstance(key, StackResource):
                found = key_named(ev, named)
                key = found if isinstance(found, StackResource) else None
            if key is not None:
                return key, "customer-managed key of this stack"
            return None, f"a key outside this stack ({named})"
    return None, "no SSE-KMS setting (S3 managed encryption)"


def _principal_text(principal: Any) -> str:
    if principal == "*" or principal == {"AWS": "*"}:
        return "everyone (*)"
    return json.dumps(principal, sort_keys=True, separators=(", ", ": "))


def _resource_statements(document: Any, source: str) -> Iterator[tuple[Statement, Any]]:
    """Each statement of a resource policy with its Principal (statements_of drops it)."""
    if not isinstance(document, dict):
        return
    for i, raw in enumerate(as_list(document.get("Statement"))):
        if not isinstance(raw, dict):
            continue
        raw = {**raw, "Sid": raw.get("Sid") or f"#{i + 1}"}
        for statement in statements_of({"Statement": [raw]}, source):
            yield statement, raw.get("Principal", raw.get("NotPrincipal"))


def key_policy(ev: Evaluation, key: StackResource, account: str | None) -> str:
    documents = [(key.get("policy"), f"key policy of {key.name}")]
    for policy in ev.of_type(KMS_KEY_POLICY):
        if key.urn in policy.depends_on("keyId") or policy.get("keyId") in (
            key.get("keyId"),
            key.get("arn"),
        ):
            documents.append((policy.get("policy"), f"key policy {policy.name}"))
    who = []
    for document, source in documents:
        parsed = json_document(document)
        if is_unknown(parsed):
            who.append(f"{source} is unknown until apply")
        for statement, principal in _resource_statements(parsed, source):
            if statement.effect == "Allow" and statement.allows_action(DECRYPT):
                who.append(f"{_principal_text(principal)} ({statement.label})")
    if not who:
        root = f"arn:aws:iam::{account}:root" if account else "the account's root"
        return (
            f"default key policy: {root}, so the IAM policies of the account decide "
            "(within this stack: the principals listed)"
        )
    return "allows kms:Decrypt to " + "; ".join(who)


def key_info(ev: Evaluation, key: StackResource) -> KeyInfo:
    aliases = aliases_of(ev, key)
    rotation = key.get("enableKeyRotation")
    arn = key.get("arn")
    region = key.region
    account = ev.home_account
    return KeyInfo(
        urn=key.urn,
        name=aliases[0] if aliases else key.name,
        arn=arn if isinstance(arn, str) else None,
        region=region if isinstance(region, str) else None,
        aliases=aliases,
        rotation=rotation if isinstance(rotation, bool) else None,
        policy=key_policy(ev, key, account),
    )


def _decrypts(principal: Principal, key: KeyInfo | None) -> bool | None:
    if key is None or key.arn is None:
        return None
    context = {"kms:resourcealiases": list(key.aliases)}
    return bool(principal.permissions.grants(DECRYPT, key.arn, context))


def _access(
    ev: Evaluation, actions: Sequence[str], arn: str, key: KeyInfo | None
) -> tuple[Access, ...]:
    found = []
    candidates = {id(p): p for a in actions for p in holders(ev, a)}
    for principal in candidates.values():
        granted = {a: principal.permissions.grants(a, arn) for a in actions}
        granted = {a: s for a, s in granted.items() if s}
        if granted:
            found.append(
                Access(
                    principal.label,
                    principal.site,
                    tuple(sorted(granted)),
                    tuple(sorted({s.label for ss in granted.values() for s in ss})),
                    _decrypts(principal, key),
                )
            )
    return tuple(sorted(found, key=lambda a: a.principal))


def _bucket_policy_lines(ev: Evaluation, bucket: StackResource, probe: str) -> tuple[str, ...]:
    lines = []
    for policy in settings_of(ev, bucket, BUCKET_POLICY):
        document = json_document(policy.get("policy"))
        if is_unknown(document):
            lines.append(f"bucket policy {policy.name} is unknown until apply")
            continue
        for statement, principal in _resource_statements(document, f"bucket policy {policy.name}"):
            if not any(statement.applies(a, probe, {}) is not False for a in READ_ACTIONS):
                continue
            verb = "allows" if statement.effect == "Allow" else "denies"
            when = (
                " when " + json.dumps(dict(statement.conditions), sort_keys=True)
                if statement.conditions
                else ""
            )
            lines.append(f"{statement.label} {verb} {_principal_text(principal)} reading{when}")
    return tuple(lines)


def _lake_location(
    ev: Evaluation, site: str, allowed: Sequence[str], tds_writes: list[tuple[StackResource, Write]]
) -> list[DataLocation]:
    by_place: dict[tuple[str, str], list[tuple[StackResource, Write]]] = defaultdict(list)
    for td, write in tds_writes:
        by_place[(write.bucket.urn, write.prefix)].append((td, write))
    locations = []
    for (_, prefix), items in sorted(by_place.items(), key=lambda kv: kv[0][1]):
        bucket, arn = items[0][1].bucket, items[0][1].bucket_arn
        region = bucket.region if isinstance(bucket.region, str) else None
        key_resource, key_note = bucket_key(ev, bucket)
        key = key_info(ev, key_resource) if key_resource is not None else None
        probe = f"{arn}/{prefix}{PROBE_OBJECT}"
        writers = {}
        for td, write in items:
            writers[write.principal.label] = Access(
                write.principal.label,
                write.principal.site,
                (WRITE_ACTION,),
                (f"{write.statement.label} (task role of {td.name})",),
                _decrypts(write.principal, key),
            )
        locations.append(
            DataLocation(
                kind="extracts",
                uri=f"s3://{bucket_name(bucket)}/{prefix}",
                resource_urn=bucket.urn,
                region=region,
                key=key,
                key_note=key_note,
                writers=tuple(writers[k] for k in sorted(writers)),
                readers=_access(ev, READ_ACTIONS, probe, key),
                resource_policy=_bucket_policy_lines(ev, bucket, probe),
                outside_allowed=region is not None and region not in allowed,
                bucket=bucket_name(bucket),
                prefix=prefix,
            )
        )
    return locations


def _secret_locations(ev: Evaluation, site: str, allowed: Sequence[str]) -> list[DataLocation]:
    locations = []
    account = ev.home_account
    for artefact in ev.artefacts_of(site, SECRET):
        secret = artefact.resource
        name = secret.get("name")
        arn = secret.get("arn")
        region = secret.region if isinstance(secret.region, str) else None
        if not isinstance(arn, str) and isinstance(name, str) and region and account:
            arn = f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-zzPRBE"
        found = stack_key(ev, secret, "kmsKeyId")
        key = key_info(ev, found) if isinstance(found, StackResource) else None
        note = (
            "customer-managed key of this stack"
            if key
            else "the AWS managed key aws/secretsmanager"
            if secret.get("kmsKeyId") in (None, "") or is_aws_managed_key(secret.get("kmsKeyId"))
            else "a key outside this stack"
        )
        readers = _access(ev, (SECRET_READ,), arn, key) if isinstance(arn, str) else ()
        locations.append(
            DataLocation(
                kind="DB credentials",
                uri=f"secretsmanager:{name if isinstance(name, str) else secret.name}",
                resource_urn=secret.urn,
                region=region,
                key=key,
                key_note=note,
                writers=(),
                readers=readers,
                resource_policy=(),
                outside_allowed=region is not None and region not in allowed,
            )
        )
    return locations


def storage_view(ev: Evaluation) -> list[SiteStorage]:
    """One `SiteStorage` per regulated site (compliance's, plus any the program labels)."""
    views = []
    key_sites: dict[str, set[str]] = defaultdict(set)
    for site in ev.regulated_sites:
        entry = ev.config.site(site)
        allowed = tuple(ev.config.regions_for(site))
        lake = _lake_location(ev, site, allowed, site_writes(ev, site))
        secrets = _secret_locations(ev, site, allowed)
        notes = []
        if not lake:
            notes.append(
                f"no task role of {site} may write to a bucket of this stack: no extracts "
                "location could be derived"
            )
        for location in [*lake, *secrets]:
            if location.key is not None:
                key_sites[location.key.urn].add(site)
            if location.outside_allowed:
                notes.append(
                    f"{site}'s {location.kind} are stored in {location.region}, outside "
                    f"{site}'s allowed regions ({', '.join(allowed)})"
                )
            if location.kind == "extracts" and location.prefix == "":
                notes.append(
                    f"{site}'s task role may write anywhere in {location.bucket}, not only "
                    "below a prefix of its own"
                )
        views.append(
            SiteStorage(
                site=site,
                residency=entry.residency if entry else "regulated (program label)",
                allowed_regions=allowed,
                locations=(*lake, *secrets),
                notes=tuple(notes),
                unverifiable=tuple(sorted(p.label for p in ev.principals if p.unverifiable)),
            )
        )
    # The lake's key is usually everybody's: say with whom, per location.
    lake_keys = _keys_of_all_writers(ev)
    result = []
    for view in views:
        locations = []
        for location in view.locations:
            if location.key is not None:
                others = (lake_keys.get(location.key.urn, set()) | key_sites[location.key.urn]) - {
                    view.site
                }
                location = replace(
                    location, key=replace(location.key, shared_with=tuple(sorted(others)))
                )
            locations.append(location)
        result.append(replace(view, locations=tuple(locations)))
    return result


def _keys_of_all_writers(ev: Evaluation) -> dict[str, set[str]]:
    """Key URN -> every site (regulated or not) whose extracts it encrypts."""
    found: dict[str, set[str]] = defaultdict(set)
    for site in ev.built_sites:
        for _, write in site_writes(ev, site):
            key, _ = bucket_key(ev, write.bucket)
            if key is not None and key.type == KMS_KEY:
                found[key.urn].add(site)
    return found
