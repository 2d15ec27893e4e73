"""Bucket rules. A v7 bucket's settings are separate resources, so these are stack rules:
each bucket must have its settings resource, found through the `bucket` property dependency
(or, failing that, the bucket's name)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import BUCKET, BUCKET_PAB, BUCKET_POLICY, BUCKET_SSE, BUCKET_VERSIONING
from hybrid_policies.rules.stack_index import as_list
from hybrid_policies.views import StackResource, StackViolation, json_document

PUBLIC_ACCESS_SETTINGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


def _settings_of(
    bucket: StackResource, resources: Sequence[StackResource], setting_type: str
) -> list[StackResource]:
    names = {str(bucket.get("bucket", default="")), str(bucket.get("id", default=""))} - {""}
    return [
        r
        for r in resources
        if r.type == setting_type
        and (
            bucket.urn in r.property_dependencies.get("bucket", ())
            or str(r.get("bucket", default="")) in names
        )
    ]


def _each_bucket(
    resources: Sequence[StackResource],
    setting_type: str,
    ok: Callable[[StackResource], bool],
    inline_ok: Callable[[StackResource], bool],
    problem: str,
) -> Iterator[StackViolation]:
    settings = [r for r in resources if r.type == setting_type]
    for bucket in (r for r in resources if r.type == BUCKET):
        if inline_ok(bucket) or any(ok(s) for s in _settings_of(bucket, settings, setting_type)):
            continue
        name = bucket.get("bucket") or bucket.name
        yield StackViolation(f"bucket {name} {problem}", bucket.urn, bucket.tags.get("site"))


def _kms_rule(rule: Any) -> bool:
    default = (rule or {}).get("applyServerSideEncryptionByDefault") or {}
    return default.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and bool(
        default.get("kmsMasterKeyId")
    )


def _all_kms(rules: Any) -> bool:
    """Every encryption rule is SSE-KMS with a named key, and there is at least one."""
    rules = as_list(rules)
    return bool(rules) and all(map(_kms_rule, rules))


def lake_encrypted_kms(
    resources: Sequence[StackResource], ctx: RuleContext
) -> Iterator[StackViolation]:
    yield from _each_bucket(
        resources,
        BUCKET_SSE,
        lambda s: _all_kms(s.get("rules")),
        lambda b: _all_kms(b.get("serverSideEncryptionConfiguration", "rules")),
        "is not encrypted with a customer-managed KMS key (SSE-KMS with kmsMasterKeyId)",
    )


def lake_public_access_blocked(
    resources: Sequence[StackResource], ctx: RuleContext
) -> Iterator[StackViolation]:
    yield from _each_bucket(
        resources,
        BUCKET_PAB,
        lambda s: all(s.get(key) is True for key in PUBLIC_ACCESS_SETTINGS),
        lambda b: False,
        "does not block public access (all four settings of a BucketPublicAccessBlock)",
    )


def _denies_plain_http(statement: Any) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal not in ("*", {"AWS": "*"}):
        return False
    if not {"s3:*", "*"} & {str(a) for a in as_list(statement.get("Action"))}:
        return False
    secure = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
    return str(secure).lower() == "false"


def _tls_only(policy: StackResource, bucket_arn: str) -> bool:
    document = json_document(policy.get("policy"))
    if not isinstance(document, dict):
        return False
    for statement in as_list(document.get("Statement")):
        if _denies_plain_http(statement):
            resources = {str(r) for r in as_list(statement.get("Resource"))}
            if not bucket_arn or {bucket_arn, f"{bucket_arn}/*"} <= resources:
                return True
    return False


def lake_tls_only(resources: Sequence[StackResource], ctx: RuleContext) -> Iterator[StackViolation]:
    policies = [r for r in resources if r.type == BUCKET_POLICY]
    for bucket in (r for r in resources if r.type == BUCKET):
        arn = str(bucket.get("arn", default=""))
        if any(_tls_only(p, arn) for p in _settings_of(bucket, policies, BUCKET_POLICY)):
            continue
        name = bucket.get("bucket") or bucket.name
        yield StackViolation(
            f"bucket {name} accepts plain HTTP: its bucket policy must deny s3:* to everyone "
            "when aws:SecureTransport is false, on the bucket and its objects",
            bucket.urn,
            bucket.tags.get("site"),
        )


def lake_versioned(
    resources: Sequence[StackResource], ctx: RuleContext
) -> Iterator[StackViolation]:
    yield from _each_bucket(
        resources,
        BUCKET_VERSIONING,
        lambda s: s.get("versioningConfiguration", "status") == "Enabled",
        lambda b: b.get("versioning", "enabled") is True,
        "is not versioned (BucketVersioning status Enabled)",
    )
