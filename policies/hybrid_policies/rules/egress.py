"""Regulated data stays inside the allowed regions and the stack's own account.

Each way out is checked: S3 replication, resource policies (bucket, key, secret) that grant
another account or everyone, CloudWatch Logs subscriptions, ETL task roles that could write
anywhere but their own lake prefix, regulated containers that write to a bucket other than the
lake or run an image from outside the platform's ECR repository. The stack's own account is
compliance's `accounts` list, else the account of the stack's own ARNs.

Fails closed: a value it needs that is unknown before creation is a violation naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.iam import confined_to, expand_actions
from hybrid_policies.rules import (
    BUCKET,
    BUCKET_POLICY,
    BUCKET_REPLICATION,
    KMS_KEY,
    KMS_KEY_POLICY,
    LOG_SUBSCRIPTION,
    REPOSITORY,
    SECRET,
    SECRET_POLICY,
    TASK_DEFINITION,
)
from hybrid_policies.views import (
    StackResource,
    StackViolation,
    Unknown,
    as_list,
    first_unknown,
    is_unknown,
    json_document,
)

ACCOUNT_CONDITION_KEYS = ("aws:principalaccount", "aws:sourceaccount", "aws:principalorgid")


def regulated_data_egress(ev: Evaluation) -> Iterator[StackViolation]:
    if not ev.regulated_sites:
        return
    yield from _replication(ev)
    yield from _resource_policies(ev)
    yield from _log_subscriptions(ev)
    yield from _task_role_writes(ev)
    yield from _regulated_containers(ev)


def _unverified(what: str, value: Any) -> str:
    return (
        f"cannot verify {what} before creation ({value}); residency fails closed: make it known "
        "at preview"
    )


def _arn_region_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) > 4 else ("", "")


def _account_ok(ev: Evaluation, account: str) -> bool | None:
    if not account:
        return True  # S3 bucket ARNs carry no account
    if not ev.own_accounts:
        return None
    return account in ev.own_accounts


def _bounds(ev: Evaluation, sites: list[str]) -> tuple[str, ...]:
    """The regions data of these sites may be in (all of them, for data of several sites)."""
    regions = set(ev.config.allowed_regions)
    for site in sites:
        regions &= set(ev.config.regions_for(site))
    return tuple(sorted(regions))


# --- replication -----------------------------------------------------------------------------


def _sites_in_bucket(ev: Evaluation, bucket: StackResource | None, prefix: str) -> list[str]:
    """Regulated sites whose data a replication rule (by key prefix) could copy."""
    if bucket is None or bucket not in ev.lake_buckets:
        return []
    return [
        s for s in ev.regulated_sites if f"{s}/".startswith(prefix) or prefix.startswith(f"{s}/")
    ]


def _replication(ev: Evaluation) -> Iterator[StackViolation]:
    for config in ev.of_type(BUCKET_REPLICATION):
        source = ev.bucket_of(config)
        region = config.region
        for i, rule in enumerate(as_list(config.get("rules"))):
            if not isinstance(rule, dict) or rule.get("status") == "Disabled":
                continue
            prefix = str((rule.get("filter") or {}).get("prefix") or rule.get("prefix") or "")
            sites = _sites_in_bucket(ev, source, prefix)
            bounds = _bounds(ev, sites)
            destination = rule.get("destination") or {}
            arn = destination.get("bucket")
            target = next(
                (
                    b
                    for b in ev.of_type(BUCKET)
                    if (isinstance(arn, str) and arn in (b.get("arn"), b.get("bucket")))
                    or (b.urn in config.depends_on("rules") and b is not source)
                ),
                None,
            )
            where = f"replication rule {rule.get('id') or i + 1} of {config.name}"
            whose = f"regulated site(s) {', '.join(sites)}" if sites else "the stack"
            if target is None:
                if is_unknown(arn):
                    yield StackViolation(_unverified(f"where {where} copies to", arn), config.urn)
                else:
                    yield StackViolation(
                        f"{where} copies data of {whose} to bucket {arn}, outside this stack: "
                        "its region and account cannot be verified",
                        config.urn,
                        sites[0] if len(sites) == 1 else None,
                    )
                continue
            target_region = target.region if target.get("region") is not None else region
            if is_unknown(target_region) or target_region not in bounds:
                yield StackViolation(
                    f"{where} copies data of {whose} to {target.name} in {target_region}, "
                    f"outside {list(bounds)}",
                    config.urn,
                    sites[0] if len(sites) == 1 else None,
                )
            account = destination.get("account")
            if isinstance(account, str) and _account_ok(ev, account) is not True:
                yield StackViolation(
                    f"{where} copies data of {whose} to account {account}, not the stack's own",
                    config.urn,
                )


# --- resource policies -----------------------------------------------------------------------


def _holders(ev: Evaluation) -> Iterator[tuple[StackResource, str, Any]]:
    """(resource, what, policy document) of every resource policy on data holders."""
    for policy in ev.of_type(BUCKET_POLICY):
        bucket = ev.bucket_of(policy)
        yield (
            policy,
            f"bucket policy of {bucket.name if bucket else policy.get('bucket')}",
            policy.get("policy"),
        )
    for key in ev.of_type(KMS_KEY, SECRET):
        document = key.get("policy")
        if document is not None and document != "":
            kind = "key policy" if key.type == KMS_KEY else "secret policy"
            yield key, f"{kind} of {key.name}", document
    for policy in ev.of_type(KMS_KEY_POLICY, SECRET_POLICY):
        kind = "key policy" if policy.type == KMS_KEY_POLICY else "secret policy"
        yield policy, f"{kind} {policy.name}", policy.get("policy")


def _principal_accounts(principal: Any) -> list[str]:
    """Accounts (or '*') an Allow statement's Principal names; services and own roles aside."""
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    found = []
    for value in as_list(principal.get("AWS")):
        text = str(value)
        if text == "*":
            found.append("*")
        elif text.isdigit():
            found.append(text)
        elif text.startswith("arn:"):
            found.append(text.split(":")[4])
    if principal.get("Federated") or principal.get("CanonicalUser"):
        found.append("(a federated or canonical-user principal)")
    return found


def _limited_to_own_account(ev: Evaluation, conditions: Any) -> bool:
    if not isinstance(conditions, dict) or not ev.own_accounts:
        return False
    for operator, block in conditions.items():
        if not str(operator).startswith("StringEquals") or not isinstance(block, dict):
            continue
        for key, values in block.items():
            if str(key).lower() in ACCOUNT_CONDITION_KEYS[:2] and {
                str(v) for v in as_list(values)
            } <= set(ev.own_accounts):
                return True
    return False


def _resource_policies(ev: Evaluation) -> Iterator[StackViolation]:
    for resource, what, raw in _holders(ev):
        document = json_document(raw)
        if isinstance(document, Unknown):
            yield StackViolation(
                _unverified(f"whom the {what} grants access", document), resource.urn
            )
            continue
        for statement in as_list((document or {}).get("Statement")):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            for account in _principal_accounts(statement.get("Principal")):
                if account == "*" and _limited_to_own_account(ev, statement.get("Condition")):
                    continue
                ok = None if account.startswith("(") else _account_ok(ev, account)
                if account == "*" or ok is False or account.startswith("("):
                    who = "everyone" if account == "*" else f"account {account}"
                    yield StackViolation(
                        f"the {what} grants {who} access (statement {statement.get('Sid') or '?'}):"
                        " only the stack's own account may hold regulated data",
                        resource.urn,
                        ev.declared_site(resource),
                    )
                elif ok is None:
                    yield StackViolation(
                        f"cannot verify that account {account}, granted access by the {what}, is "
                        "the stack's own: the stack's ARNs are unknown before creation (list the "
                        "account in compliance's config `accounts`)",
                        resource.urn,
                        ev.declared_site(resource),
                    )


# --- logs ------------------------------------------------------------------------------------


def _log_subscriptions(ev: Evaluation) -> Iterator[StackViolation]:
    for subscription in ev.of_type(LOG_SUBSCRIPTION):
        group = ev.artefact_named(subscription.get("logGroup") or subscription.get("name"))
        for urn in subscription.depends_on("logGroup"):
            group = ev.artefacts.get(urn) or group
        site = group.site if group is not None else None
        bounds = ev.config.regions_for(site)
        arn = subscription.get("destinationArn")
        target = next(
            (ev.by_urn[u] for u in subscription.depends_on("destinationArn") if u in ev.by_urn),
            None,
        )
        if isinstance(arn, str) and arn.startswith("arn:"):
            region, account = _arn_region_account(arn)
        elif target is not None:
            region, account = target.region, ""
        else:
            yield StackViolation(
                _unverified(f"where log subscription {subscription.name} sends logs", arn),
                subscription.urn,
                site,
            )
            continue
        if is_unknown(region) or region not in bounds:
            yield StackViolation(
                f"log subscription {subscription.name} sends "
                + (f"site {site}'s logs" if site else "logs")
                + f" to {region}, outside {list(bounds)}",
                subscription.urn,
                site,
            )
        if account and _account_ok(ev, account) is not True:
            yield StackViolation(
                f"log subscription {subscription.name} sends logs to account {account}, not the "
                "stack's own (or the stack's account is unknown before creation)",
                subscription.urn,
                site,
            )


# --- what regulated tasks may write, and run ----------------------------------------------------


def _task_roles(ev: Evaluation, td: StackResource) -> list[Any]:
    """The roles a task definition's taskRoleArn names (by dependency, ARN or name)."""
    roles = ev.roles_by_key
    found = [roles[urn] for urn in td.depends_on("taskRoleArn") if urn in roles]
    value = td.get("taskRoleArn")
    if isinstance(value, str):
        found += [roles[k] for k in (value, value.rsplit("/", 1)[-1]) if k in roles]
    return list({id(p): p for p in found}.values())


def _lake_names(ev: Evaluation) -> list[Any]:
    return [lake.get("bucket") for lake in ev.lake_buckets]


def _task_role_writes(ev: Evaluation) -> Iterator[StackViolation]:
    lakes = _lake_names(ev)
    for site in ev.regulated_sites:
        for td, _ in ev.members(site):
            if td.type != TASK_DEFINITION:
                continue
            for role in _task_roles(ev, td):
                if role.unverifiable:
                    yield StackViolation(
                        _unverified(
                            f"where {role.label} may write", "; ".join(role.unverifiable[:2])
                        ),
                        role.urn,
                        site,
                    )
                    continue
                yield from _writes_elsewhere(ev, role, site, lakes)


def _writes_elsewhere(
    ev: Evaluation, role: Any, site: str, lakes: list[Any]
) -> Iterator[StackViolation]:
    own = [f"arn:aws:s3:::{lake}/{site}/" for lake in lakes if isinstance(lake, str)]
    for statement in role.permissions.statements:
        if statement.effect != "Allow":
            continue
        writes = _s3_writes(statement)
        if not writes:
            continue
        if statement.not_resources is not None:
            outside = ["everything but " + ", ".join(statement.not_resources)]
        else:
            outside = [r for r in statement.resources if not any(confined_to(r, p) for p in own)]
        if outside:
            yield StackViolation(
                f"{role.label}, the task role of regulated site {site}, may {writes[0]} on "
                f"{', '.join(outside[:3])} ({statement.label}): it may write only below "
                f"{own[0] if own else 'its own lake prefix'}*",
                role.urn,
                site,
            )


def _s3_writes(statement: Any) -> list[str]:
    if statement.not_actions is not None:
        return ["any action but " + ", ".join(statement.not_actions)]
    found = []
    for pattern in statement.actions:
        service = pattern.partition(":")[0].lower()
        if pattern == "*" or service == "*":
            return [pattern]
        if service == "s3":
            found += [a.name for a in expand_actions(pattern) if a.writes]
    return found


def _repository_url(ev: Evaluation, repository: StackResource) -> Any:
    """ECR's URL, or the one AWS will give it: <account>.dkr.ecr.<region>.amazonaws.com/<name>."""
    url = repository.get("repositoryUrl")
    name, region, account = repository.get("name"), repository.region, ev.home_account
    if is_unknown(url) and isinstance(name, str) and isinstance(region, str) and account:
        return f"{account}.dkr.ecr.{region}.amazonaws.com/{name}"
    return url


def _regulated_containers(ev: Evaluation) -> Iterator[StackViolation]:
    lakes = _lake_names(ev)
    registries = [_repository_url(ev, r) for r in ev.of_type(REPOSITORY)]
    for site in ev.regulated_sites:
        for td, _ in ev.members(site):
            if td.type != TASK_DEFINITION:
                continue
            containers = json_document(td.get("containerDefinitions"))
            unknown = first_unknown(containers)
            if unknown is not None:
                yield StackViolation(
                    _unverified(f"what {td.name}'s containers run and where they write", unknown),
                    td.urn,
                    site,
                )
                continue
            for container in as_list(containers):
                if isinstance(container, dict):
                    yield from _container(td, site, container, lakes, registries)


def _container(
    td: StackResource, site: str, container: dict[str, Any], lakes: list[Any], registries: list[Any]
) -> Iterator[StackViolation]:
    name = container.get("name")
    environment = {
        str(v.get("name")): v.get("value")
        for v in as_list(container.get("environment"))
        if isinstance(v, dict)
    }
    bucket = environment.get("ETL_BUCKET")
    if bucket is not None and (bucket not in lakes or any(is_unknown(lake) for lake in lakes)):
        yield StackViolation(
            f"task definition {td.name} of regulated site {site}: container {name} writes to "
            f"bucket {bucket} (ETL_BUCKET), not the data lake",
            td.urn,
            site,
        )
    image = str(container.get("image") or "")
    if not any(
        isinstance(url, str) and (image.startswith(f"{url}:") or image.startswith(f"{url}@"))
        for url in registries
    ):
        yield StackViolation(
            f"task definition {td.name} of regulated site {site}: container {name} runs image "
            f"{image or '(none)'}, not one from the platform's ECR repository",
            td.urn,
            site,
        )
