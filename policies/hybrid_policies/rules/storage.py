"""Bucket rules. A v7 bucket's settings are separate resources, so these are stack rules: each
bucket must have its settings resource, found through the `bucket` property dependency (known
at preview even when the bucket's generated name is not) or, failing that, the bucket's name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.rules import BUCKET, BUCKET_PAB, BUCKET_POLICY, BUCKET_SSE, BUCKET_VERSIONING
from hybrid_policies.rules.keys import is_aws_managed_key, key_named, stack_key
from hybrid_policies.views import (
    StackResource,
    StackViolation,
    as_list,
    is_unknown,
    json_document,
    known,
)

PUBLIC_ACCESS_SETTINGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


def settings_of(ev: Evaluation, bucket: StackResource, setting_type: str) -> list[StackResource]:
    names = {v for k in ("bucket", "id") if isinstance(v := bucket.get(k), str) and v}
    return [
        r
        for r in ev.of_type(setting_type)
        if bucket.urn in r.depends_on("bucket") or r.get("bucket") in names
    ]


def _name(bucket: StackResource) -> str:
    name = bucket.get("bucket")
    return name if isinstance(name, str) else bucket.name


def _each_bucket(
    ev: Evaluation,
    setting_type: str,
    ok: Callable[[StackResource], bool],
    inline_ok: Callable[[StackResource], bool],
    problem: str,
) -> Iterator[StackViolation]:
    for bucket in ev.of_type(BUCKET):
        if inline_ok(bucket) or any(ok(s) for s in settings_of(ev, bucket, setting_type)):
            continue
        yield StackViolation(f"bucket {_name(bucket)} {problem}", bucket.urn, bucket.tagged_site)


def _kms_rules_ok(ev: Evaluation, owner: StackResource, rules: Any) -> bool:
    """Every encryption rule is SSE-KMS under a key of this stack, and there is at least one."""
    # A nested unknown (the key's ARN at preview) is decided below through the dependency.
    rules = as_list(rules if isinstance(rules, list) else known(rules))
    if not rules:
        return False
    for rule in rules:
        if is_unknown(rule):
            known(rule)
        default = (rule or {}).get("applyServerSideEncryptionByDefault") or {}
        if is_unknown(default):
            known(default)
        if not isinstance(default, dict):
            return False
        if default.get("sseAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
            return False
        key = default.get("kmsMasterKeyId")
        if not key or is_aws_managed_key(key):
            return False
        named = key_named(ev, key)
        if named is None:  # unknown at preview: the dependency says which key it comes from
            if not isinstance(stack_key(ev, owner, "rules"), StackResource):
                known(key)
        elif named is False:
            return False
    return True


def lake_encrypted_kms(ev: Evaluation) -> Iterator[StackViolation]:
    yield from _each_bucket(
        ev,
        BUCKET_SSE,
        lambda s: _kms_rules_ok(ev, s, s.get("rules")),
        lambda b: (
            _kms_rules_ok(ev, b, b.get("serverSideEncryptionConfiguration", "rules"))
            if b.get("serverSideEncryptionConfiguration")
            else False
        ),
        "is not encrypted with a customer-managed KMS key of this stack (SSE-KMS with "
        "kmsMasterKeyId; an AWS managed key such as alias/aws/s3 does not count)",
    )


def lake_public_access_blocked(ev: Evaluation) -> Iterator[StackViolation]:
    yield from _each_bucket(
        ev,
        BUCKET_PAB,
        lambda s: all(known(s.get(key)) is True for key in PUBLIC_ACCESS_SETTINGS),
        lambda b: False,
        "does not block public access (all four settings of a BucketPublicAccessBlock)",
    )


def _denies_plain_http(statement: Any) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal not in ("*", {"AWS": "*"}):
        return False
    if not {"s3:*", "*"} & {str(a).lower() for a in as_list(statement.get("Action"))}:
        return False
    secure = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
    return str(secure).lower() == "false"


def _tls_only(policy: StackResource, bucket_arn: Any) -> bool:
    document = json_document(known(policy.get("policy")))
    if not isinstance(document, dict):
        return False
    for statement in as_list(document.get("Statement")):
        if _denies_plain_http(statement):
            resources = {str(r) for r in as_list(statement.get("Resource"))}
            if not isinstance(bucket_arn, str) or {bucket_arn, f"{bucket_arn}/*"} <= resources:
                return True
    return False


def lake_tls_only(ev: Evaluation) -> Iterator[StackViolation]:
    for bucket in ev.of_type(BUCKET):
        arn = bucket.get("arn")
        if any(_tls_only(p, arn) for p in settings_of(ev, bucket, BUCKET_POLICY)):
            continue
        yield StackViolation(
            f"bucket {_name(bucket)} accepts plain HTTP: its bucket policy must deny s3:* to "
            "everyone when aws:SecureTransport is false, on the bucket and its objects",
            bucket.urn,
            bucket.tagged_site,
        )


def lake_versioned(ev: Evaluation) -> Iterator[StackViolation]:
    yield from _each_bucket(
        ev,
        BUCKET_VERSIONING,
        lambda s: known(s.get("versioningConfiguration", "status")) == "Enabled",
        lambda b: b.get("versioning", "enabled") is True,
        "is not versioned (BucketVersioning status Enabled)",
    )
