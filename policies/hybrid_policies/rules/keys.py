"""KMS keys: telling AWS managed keys from customer-managed keys of this stack, in every form."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hybrid_policies.rules import KMS_ALIAS, KMS_KEY
from hybrid_policies.views import StackResource, is_unknown

if TYPE_CHECKING:
    from hybrid_policies.evaluation import Evaluation

# alias/aws/<service>, or its ARN arn:<partition>:kms:<region>:<account>:alias/aws/<service>
AWS_MANAGED_ALIAS = re.compile(r"^(arn:aws[a-z-]*:kms:[a-z0-9-]*:\d*:)?alias/aws/", re.IGNORECASE)


def is_aws_managed_key(value: Any) -> bool:
    """An AWS managed key named by alias or alias ARN (absent keys are the caller's business)."""
    return isinstance(value, str) and AWS_MANAGED_ALIAS.match(value.strip()) is not None


def stack_key(ev: Evaluation, resource: StackResource, key: str) -> StackResource | bool | None:
    """The stack's KMS key that `resource.<key>` names: by dependency (known at preview) or by
    ARN, key id or alias name. False if it names something else, None if it is unknown."""
    value = resource.get(key)
    if not is_unknown(value) and not isinstance(value, list):
        return key_named(ev, value)  # a known value says it all (the dependency may be stale)
    for urn in resource.depends_on(key):
        found = ev.by_urn.get(urn)
        if found is not None and found.type == KMS_KEY:
            return found
        if found is not None and found.type == KMS_ALIAS:
            target = _alias_target(ev, found)
            if target is not None:
                return target
    return key_named(ev, value) if not isinstance(value, list) else False


def key_named(ev: Evaluation, value: Any) -> StackResource | bool | None:
    if is_unknown(value):
        return None
    if not isinstance(value, str) or not value or is_aws_managed_key(value):
        return False
    return keys_by_name(ev).get(value) or False


def keys_by_name(ev: Evaluation) -> dict[str, StackResource]:
    """The stack's keys by ARN, key id and the names and ARNs of their aliases (built once)."""
    cached = ev.cache.get("keys_by_name")
    if cached is None:
        cached = {}
        for k in ev.of_type(KMS_KEY):
            for field in ("arn", "keyId", "id"):
                if isinstance(value := k.get(field), str) and value:
                    cached.setdefault(value, k)
        for alias in ev.of_type(KMS_ALIAS):
            target = _alias_target(ev, alias, cached)
            for field in ("name", "arn"):
                if target is not None and isinstance(value := alias.get(field), str):
                    cached.setdefault(value, target)
        ev.cache["keys_by_name"] = cached
    return cached


def _alias_target(
    ev: Evaluation, alias: StackResource, keys: dict[str, StackResource] | None = None
) -> StackResource | None:
    for urn in alias.depends_on("targetKeyId"):
        found = ev.by_urn.get(urn)
        if found is not None and found.type == KMS_KEY:
            return found
    target = alias.get("targetKeyId")
    keys = keys if keys is not None else keys_by_name(ev)
    return keys.get(target) if isinstance(target, str) else None
