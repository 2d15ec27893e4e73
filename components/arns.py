"""ARNs built from names the program writes and the account `get_caller_identity` returns.

Both are known during a first `pulumi preview` (names are inputs; an invoke runs at preview),
so every IAM document, bucket policy and container definition built from these is known too, and
the policy pack decides residency on them before anything exists. ARNs a provider computes at
creation (`resource.arn`) would leave those documents unknown, and residency would fail closed.

Two ARNs cannot be written from names alone, and the patterns used instead allow a little more
than the ARN AWS will assign (the only widening; every other ARN here is the exact ARN):

- a Secrets Manager secret's ARN ends in `-` and six random characters AWS appends:
  `secret_pattern` matches `<name>-??????`, i.e. that name's secret (also after it is deleted and
  recreated under the same name), and no other: `?` is exactly one character, so a secret named
  `<name>-abcdef` (ARN `<name>-abcdef-XXXXXX`) does not match;
- a KMS key's id is random: `key_by_alias` grants on `key/*` of one account and region, with the
  condition `kms:ResourceAliases` = the key's alias. An alias names exactly one key of its account
  and region at a time, so this is that key, and any key someone later points the alias at (with
  `kms:UpdateAlias`, which no role of this stack has; AWS applies alias changes to authorisation
  within five minutes). An alias ARN in `Resource` would not work: it grants on the alias, not
  the key (AWS KMS developer guide, "Use aliases to control access to KMS keys").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The ECS, IAM, ... partition. GovCloud and China (aws-us-gov, aws-cn) are not supported targets.
PARTITION = "aws"


def secret_pattern(*, region: str, account_id: str, name: str) -> str:
    """Every ARN a secret of this name can have: `...:secret:<name>-??????`."""
    return f"arn:{PARTITION}:secretsmanager:{region}:{account_id}:secret:{name}-??????"


def log_group(*, region: str, account_id: str, name: str) -> str:
    return f"arn:{PARTITION}:logs:{region}:{account_id}:log-group:{name}"


def ecs_cluster(*, region: str, account_id: str, name: str) -> str:
    return f"arn:{PARTITION}:ecs:{region}:{account_id}:cluster/{name}"


def task_definition_family(*, region: str, account_id: str, family: str) -> str:
    """A task definition family without revision (AWS's `arnWithoutRevision`)."""
    return f"arn:{PARTITION}:ecs:{region}:{account_id}:task-definition/{family}"


def role(*, account_id: str, name: str) -> str:
    """A role at the default path `/` (every role of this stack)."""
    return f"arn:{PARTITION}:iam::{account_id}:role/{name}"


def ecr_repository(*, region: str, account_id: str, name: str) -> str:
    return f"arn:{PARTITION}:ecr:{region}:{account_id}:repository/{name}"


def ecr_image(*, region: str, account_id: str, repository: str, tag: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`: the repository's URL, as
    ECR gives it, with the tag."""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}"


def bucket(name: str) -> str:
    """S3 bucket ARNs carry neither region nor account."""
    return f"arn:{PARTITION}:s3:::{name}"


def glue(*, region: str, account_id: str) -> str:
    return f"arn:{PARTITION}:glue:{region}:{account_id}"


@dataclass(frozen=True)
class KeyByAlias:
    """A customer managed key named by its alias, in the key's account and region."""

    region: str
    account_id: str
    alias: str  # alias/<name>

    @property
    def keys(self) -> str:
        return f"arn:{PARTITION}:kms:{self.region}:{self.account_id}:key/*"

    def condition(self) -> dict[str, Any]:
        """`kms:ResourceAliases` is multi-valued (a key may have several aliases)."""
        return {"ForAnyValue:StringEquals": {"kms:ResourceAliases": [self.alias]}}
