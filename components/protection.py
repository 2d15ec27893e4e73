"""Which resources outlive a mistake: a regulated site's KMS key, DB secret, log group and
Glue database.

Both Pulumi options, for different mistakes:

- `protect`: a `pulumi up` that would delete (or replace) one of them fails before deleting
  anything, so a typo that drops a site from the stack config destroys nothing. Removing a
  site on purpose is then an explicit step: `pulumi state unprotect <urn>` for each of them
  (`hybridctl site remove` prints the commands).
- `retain_on_delete`: when they are deleted from the program after that, Pulumi forgets them
  but leaves them in AWS. The log group is the site's audit trail and expires by its own
  retention; the key can still decrypt what it encrypted; the secret (with a 7-day recovery
  window once someone deletes it) stays for the same audit period. Deleting them for good is a
  deliberate AWS call after that period, never a side effect of a config edit.

The Glue database is the catalog of the site's lake data (its tables, their columns, one
partition per run), and that data outlives the site: the lake's `retain-<site>` rule keeps
expiring it on schedule after the site is retired. A regulated site's catalog is part of its
record and follows its data, so it is kept like the key, secret and log group: a typo cannot drop
it, and once released it stays queryable until the data it describes has expired. Deleting it
deletes metadata only, never lake objects.

Standard sites keep the defaults: nothing regulated depends on their trail, and their catalog can
be rebuilt from the lake (`run=` partitions and each run's `_manifest.json`).
"""

from __future__ import annotations

import pulumi

KMS_KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 (a type token)
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
GLUE_DATABASE = "aws:glue/catalogDatabase:CatalogDatabase"
PROTECTED_TYPES = frozenset({KMS_KEY, SECRET, LOG_GROUP, GLUE_DATABASE})


def is_protected(resource_type: str, residency: str | None) -> bool:
    """Whether the program registers this resource of a site with protect and retain_on_delete."""
    return residency == "regulated" and resource_type in PROTECTED_TYPES


def keep(resource_type: str, residency: str) -> pulumi.ResourceOptions:
    """The options a site's resource gets: the same rule `plan --diff` reports removals by."""
    if not is_protected(resource_type, residency):
        return pulumi.ResourceOptions()
    return pulumi.ResourceOptions(protect=True, retain_on_delete=True)
